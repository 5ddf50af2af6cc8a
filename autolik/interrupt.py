"""Stop a long run cleanly on Ctrl-C (SIGINT) or SIGTERM.

Inside :func:`stop_on_signals` the first SIGINT or SIGTERM does not raise: it records the signal,
and the training loop (:mod:`autolik.train`) stops at the end of its current batch, keeping the best
weights so far; the caller then decides what to keep (``autolik fit --out`` saves the model and exits
130 for SIGINT, 143 for SIGTERM, as a shell does). A second SIGINT raises ``KeyboardInterrupt`` at once,
for a user who does not want to wait for the batch. Outside the main thread, or when already inside,
the context manager changes nothing.
"""
from __future__ import annotations

import contextlib
import signal
import threading

EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal number, as shells report them


class _State:
    received: str | None = None  # "SIGINT" / "SIGTERM" once a stop was asked for
    active: bool = False


STATE = _State()


def requested() -> str | None:
    """The name of the signal that asked the current run to stop, or None."""
    return STATE.received


def _handler(signum, _frame):
    name = signal.Signals(signum).name
    if STATE.received == "SIGINT" and name == "SIGINT":
        raise KeyboardInterrupt  # the second Ctrl-C: stop now
    STATE.received = STATE.received or name


@contextlib.contextmanager
def stop_on_signals():
    """Record SIGINT/SIGTERM instead of raising (see the module docstring); restores the old handlers."""
    if STATE.active or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    STATE.active, STATE.received = True, None
    try:
        for s in old:
            signal.signal(s, _handler)
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        STATE.active, STATE.received = False, None

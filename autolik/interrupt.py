"""Stop a long run cleanly on Ctrl-C (SIGINT) or SIGTERM.

Inside :func:`stop_on_signals` the first SIGINT or SIGTERM does not raise: it records the signal,
and the training loop (:mod:`autolik.train`) stops at the end of its current batch, keeping the best
weights so far; the caller then decides what to keep (``autolik fit --out`` saves the model and exits
130 for SIGINT, 143 for SIGTERM, as a shell does). A second SIGINT raises ``KeyboardInterrupt`` at once,
for a user who does not want to wait for the batch. Outside the main thread, or when already inside,
the context manager changes nothing.

Under data-parallel training (:mod:`autolik.distributed`) a signal reaches each process at its own
moment, but all must stop after the same batch (one that stops alone leaves the others waiting in
their next collective forever): :func:`share` makes :func:`requested` answer what the processes
agreed on (:func:`agree`, from the step's all-reduce of every process's :func:`local` signal), and
a second SIGINT within ``REPEAT_SECONDS`` of the first is taken as the same request (torchrun
forwards the terminal's Ctrl-C to processes that received it already).
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time

EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal number, as shells report them
REPEAT_SECONDS = 1.0  # shared runs: a second SIGINT this soon after the first is the same Ctrl-C, forwarded


class _State:
    received: str | None = None  # "SIGINT" / "SIGTERM" once a stop was asked for (in this process)
    active: bool = False
    shared: bool = False  # data-parallel: requested() answers what the processes agreed on
    agreed: str | None = None
    at: float = 0.0  # when this process's signal came


STATE = _State()


def requested() -> str | None:
    """The name of the signal that asked the current run to stop, or None (under :func:`share`: the
    signal the processes agreed on)."""
    return STATE.agreed if STATE.shared else STATE.received


def local() -> str | None:
    """The signal this process received, whatever the others did."""
    return STATE.received


def share(on: bool) -> None:
    """Data-parallel training starts (True) or ends (False): :func:`requested` answers :func:`agree`'s value."""
    STATE.shared, STATE.agreed = bool(on), None


def agree(name: str | None) -> None:
    """The signal the processes agreed on (the first one sticks)."""
    STATE.agreed = STATE.agreed or name


def _handler(signum, _frame):
    name = signal.Signals(signum).name
    if STATE.received == "SIGINT" and name == "SIGINT":
        if STATE.shared and time.monotonic() - STATE.at < REPEAT_SECONDS:
            return  # the same Ctrl-C, forwarded by the launcher
        raise KeyboardInterrupt  # the second Ctrl-C: stop now
    if STATE.received is None:
        STATE.received, STATE.at = name, time.monotonic()


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
        STATE.agreed = None

"""Tiny progress lines on stderr: the training loop's and a streaming pass's (silent when quiet).

The line is redrawn in place with ``\\r`` at most every ``interval`` seconds, so the training
loop may call :meth:`Progress.due` on every batch and fetch loss values only when it says so.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


def duration(seconds: float) -> str:
    """``42s``, ``3m20s``, ``1h05m``: short enough for the progress line."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """``epoch 3/100 [##........] batch 40/79  train 123.4  val 120.9  12s elapsed, <=5m20s left`` on one
    stderr line.

    The time left is the mean epoch time of this run times the epochs left (before the first epoch
    ends: the time per batch so far), capped by what is left of ``max_seconds``. It is an upper
    bound (``<=``) when early stopping or the time limit can end training sooner, else an estimate (``~``).

    Args:
        epochs: total number of epochs planned.
        batches: batches per epoch.
        quiet: draw nothing.
        stream: where to draw (default ``sys.stderr``).
        interval: minimum seconds between redraws.
        width: characters in the bar.
        max_seconds: seconds this run may still train (a time budget), or None.
        early_stopping: training may stop before ``epochs`` (the estimate is shown as an upper bound).
        first_epoch: the first epoch this run trains (a resumed run starts after its checkpoint).
    """

    def __init__(self, epochs: int, batches: int, quiet: bool = False, stream: TextIO | None = None,
                 interval: float = 0.2, width: int = 10, max_seconds: float | None = None,
                 early_stopping: bool = False, first_epoch: int = 1):
        self.epochs, self.batches = int(epochs), max(1, int(batches))
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.interval, self.width = interval, width
        self.early_stopping, self.first_epoch = bool(early_stopping), int(first_epoch)
        self._start = time.perf_counter()
        self._deadline = self._start + max_seconds if max_seconds else None
        self._epochs_done, self._epochs_seconds = 0, 0.0
        self._last = -float("inf")
        self._drawn = False

    def due(self) -> bool:
        """True when a redraw is allowed now (cheap: one clock read)."""
        return not self.quiet and time.perf_counter() - self._last >= self.interval

    def epoch_done(self) -> None:
        """Count one completed epoch (its time feeds the estimate of the time left)."""
        self._epochs_done += 1
        self._epochs_seconds = time.perf_counter() - self._start

    def remaining(self, epoch: int, batch: int) -> tuple[float, bool] | None:
        """(seconds left, whether that is an upper bound) at ``batch`` of ``epoch``; None before any batch."""
        now = time.perf_counter()
        if self._epochs_done:
            per_epoch = self._epochs_seconds / self._epochs_done
        elif batch > 0 and epoch == self.first_epoch:
            per_epoch = (now - self._start) / min(batch, self.batches) * self.batches
        else:
            return None
        left = (self.epochs - epoch + 1 - min(batch, self.batches) / self.batches) * per_epoch
        bounded = self.early_stopping
        if self._deadline is not None and self._deadline - now <= left:
            left, bounded = max(0.0, self._deadline - now), True
        return left, bounded

    def update(self, epoch: int, batch: int, train: float | None = None, val: float | None = None,
               force: bool = False) -> None:
        """Redraw if due (or ``force``). ``epoch`` and ``batch`` are 1-based."""
        if self.quiet or not (force or self.due()):
            return
        self._last = time.perf_counter()
        filled = int(self.width * min(batch, self.batches) / self.batches)
        bar = "#" * filled + "." * (self.width - filled)
        line = f"epoch {epoch}/{self.epochs} [{bar}] batch {batch}/{self.batches}"
        if train is not None:
            line += f"  train {train:.4g}"
        if val is not None:
            line += f"  val {val:.4g}"
        line += f"  {duration(self._last - self._start)} elapsed"
        left = self.remaining(epoch, batch)
        if left is not None:
            line += f", {'<=' if left[1] else '~'}{duration(left[0])} left"
        self.stream.write("\r" + line.ljust(78))
        self.stream.flush()
        self._drawn = True

    def message(self, text: str) -> None:
        """Print a line of its own (e.g. why training stopped)."""
        if self.quiet:
            return
        self.close()
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the progress line."""
        if self._drawn and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False


class Meter:
    """``profiling [#########...........] 0.95/2.10 GB`` on one stderr line, for a streaming pass.

    Args:
        total: the amount of work (e.g. bytes).
        label: what is being done.
        scale, unit: ``done / scale`` is shown in ``unit`` (e.g. 1e9, "GB").
        quiet, stream, interval, width: as for :class:`Progress`.
    """

    def __init__(self, total: float, label: str, scale: float = 1.0, unit: str = "", quiet: bool = False,
                 stream: TextIO | None = None, interval: float = 0.2, width: int = 20):
        self.total, self.label, self.scale, self.unit = max(float(total), 1.0), label, scale, unit
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.interval, self.width = interval, width
        self._last = -float("inf")
        self._drawn = False

    def update(self, done: float) -> None:
        """Redraw (at most every ``interval`` seconds, and always at the end)."""
        now = time.perf_counter()
        if self.quiet or (now - self._last < self.interval and done < self.total):
            return
        self._last = now
        filled = int(self.width * min(done, self.total) / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        amount = f"{done / self.scale:.2f}/{self.total / self.scale:.2f} {self.unit}".rstrip()
        self.stream.write(f"\r{self.label} [{bar}] {amount}".ljust(60))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the line."""
        if self._drawn and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False

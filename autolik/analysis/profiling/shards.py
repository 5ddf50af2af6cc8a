"""Row shards: the profile's streaming pass over a range of rows, and shards summarised in worker processes.

The profile's statistics merge (:class:`autolik.analysis.profiling.stats.PartialStats`), so the rows can be
cut into contiguous shards, each summarised on its own and the summaries merged in shard order
(:func:`autolik.analysis.profiling.stats.merge_all`). The merged profile equals the single pass because
both cut the rows into chunks on one grid (:func:`chunk_grid`): a shard is a run of whole chunks,
so every chunk is summed as the single pass sums it (float32 data is summed in float32 blocks
that start at the chunk's first row: any other cut changes the moments at ~1e-7), and only the
pairwise merges of chunk summaries are associated differently (float64 rounding, ~1e-15).

The calling process is one of the workers (:func:`parallel_stats`): it summarises the first
chunk, whose statistics hint every shard, and takes the shards the started workers have not begun.
A worker never receives the data pickled: a memory-mapped file is mapped again by each worker
(its path and the byte offset of the rows, :func:`autolik.io.mapped_file`); an array in memory is
copied once into shared memory that the workers map. Workers start with 'spawn', which is safe
whatever the calling process holds (threads, torch, open files); as with any multiprocessing
code, a script that asks for workers must guard its entry point with ``if __name__ == "__main__":``.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from autolik.analysis.profiling.chunk import ChunkPass
from autolik.analysis.profiling.stats import CAP, PartialStats
from autolik.errors import AutolikError, UsageError

FIRST_ROWS = 8192  # rows of the first chunk: more than the 1.25 * CAP values the distinct check sorts
PROBE_ROWS = 1024  # rows of a shard's first look at its data (see _first_chunk)
SHARDS_PER_WORKER = 4  # shards per process: whoever is free takes the next
COPY_BYTES = 64 << 20  # an array in memory goes into shared memory this much at a time


# --------------------------------------------------------------------------- how many


def worker_count(value, flag: str = "workers") -> int:
    """Worker processes asked for: a whole number >= 1, or 0 / ``"auto"`` for ``os.cpu_count()``.

    ``flag`` names the option in the error (``workers`` in the API, ``--workers`` on the CLI).
    """
    if value is None:
        return 1
    asked = value
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return os.cpu_count() or 1
        value = int(text) if text.isdigit() else None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise UsageError(f"{flag} must be a whole number of processes (1 = no extra process), or 0 / 'auto' "
                         f"for every core ({os.cpu_count()} here); got {asked!r}")
    return int(value) or (os.cpu_count() or 1)


def thread_count(value, workers: int) -> int:
    """Threads per process for the fused pass: ``value``, or the usable cores (up to 2) shared out
    between the ``workers`` processes (at least one each)."""
    if value is None:
        return max(1, usable_cores(2) // max(1, workers))
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise UsageError(f"threads must be a whole number >= 1, got {value!r}")
    return int(value)


def usable_cores(limit: int) -> int:
    """Cores this process may run on, 1..limit."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    return max(1, min(int(limit), n))


# --------------------------------------------------------------------------- where the rows are cut


def chunk_grid(n: int, rows: int) -> list[int]:
    """Chunk boundaries ``[0, b1, ..., n]``: a short first chunk (it finds the settled features,
    over the cap or not integer, cheaply; later chunks skip those checks), then ``rows`` rows each."""
    return [0] + list(range(min(int(rows), FIRST_ROWS), n, int(rows))) + [n]


def split_grid(grid: list[int], parts: int) -> list[int]:
    """``parts + 1`` non-decreasing boundaries on the grid, cutting its rows into ``parts``
    contiguous runs of whole chunks of about equal size (some empty when chunks are fewer)."""
    g = np.asarray(grid, np.int64)
    k = max(1, int(parts))
    cuts = [int(g[np.argmin(np.abs(g - g[-1] * i / k))]) for i in range(k + 1)]
    return [int(c) for c in np.maximum.accumulate(cuts)]


def chunks_between(grid: list[int], start: int, stop: int) -> list[int]:
    """The chunk boundaries of rows [start, stop): the grid's, cut at start and stop."""
    return [start] + [b for b in grid if start < b < stop] + [stop]


# --------------------------------------------------------------------------- one process


def stream_stats(x: np.ndarray, bounds: list[int], cap: int = CAP, threads: int = 1, on_chunk=None,
                 hint: PartialStats | None = None) -> PartialStats:
    """Statistics of rows ``bounds[0]:bounds[-1]`` of x, one chunk per pair of consecutive bounds.

    Each chunk's pass is hinted by the rows summarised before it (checks they settled are skipped:
    features over the distinct cap or not integer; values on a known lattice are tested, not
    sorted). With ``threads`` >= 2 each chunk's fused pass is split between threads and runs while
    this thread finishes the previous chunk. ``on_chunk(r0, rows)`` is called with each chunk's
    first row and its rows once they are summarised (to copy sample rows, release pages, report
    progress).

    ``hint``: statistics of other rows that the result will be merged after (in a process pool,
    the data's first chunk): they hint the passes too, so the result's distinct sets hold only
    the values new to them, and the result is exact only merged after ``hint`` (as the single
    pass merges every chunk into the statistics that hinted it).
    """
    acc = PartialStats(x.shape[1], cap)
    # what hints each chunk: the hint's rows and this range's so far (the result alone without a hint)
    seen = acc if hint is None else hint.merge(PartialStats(x.shape[1], cap))
    spans = [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
    threads = max(1, min(int(threads), len(spans)))
    pool = ThreadPoolExecutor(threads) if threads > 1 else None

    def absorb(r0: int, st: PartialStats, rows: np.ndarray) -> None:
        acc._absorb(st)
        if seen is not acc:
            seen._absorb(st)
        if on_chunk is not None:
            on_chunk(r0, rows)

    try:
        pending = None
        for i, (r0, r1) in enumerate(spans):
            if i == 0 and hint is None:  # nothing to overlap; the first chunk's hints serve all others
                absorb(r0, _first_chunk(x[r0:r1], cap, pool, threads), x[r0:r1])
                continue
            # with threads, the fused pass over this chunk runs while this thread finishes the last
            job = ChunkPass(x[r0:r1], seen).start(pool, threads)
            if pending is not None:
                absorb(pending[0], pending[1].finish(), pending[1].x)
            pending = (r0, job)
            if pool is None:
                absorb(r0, job.finish(), job.x)
                pending = None
        if pending is not None:
            absorb(pending[0], pending[1].finish(), pending[1].x)
    finally:
        if pool is not None:
            pool.shutdown()
    return acc


def _first_chunk(x: np.ndarray, cap: int, pool, threads: int) -> PartialStats:
    """The statistics of a range's first chunk, standing alone.

    A chunk is cheapest with hints from rows already summarised: features over the distinct cap
    or not integer skip those checks, and values on a known lattice are tested, not sorted. The
    single pass gets its hints from the grid's short first chunk (and the shards of a process pool
    from its statistics); a range that starts mid-file without them (a torch.distributed rank's)
    keeps the grid's long chunk (so its sums stay the single pass's) and takes hints from a look
    at its first PROBE_ROWS rows. The chunk's pass then lists only the values new to that look,
    so the look's distinct sets are merged back in (the look's rows are the chunk's own).
    """
    if len(x) <= FIRST_ROWS:
        return ChunkPass(x, PartialStats(x.shape[1], cap)).start(pool, threads).finish()
    probe = PartialStats.of(x[:PROBE_ROWS], cap)
    st = ChunkPass(x, probe).start(pool, threads).finish()
    probe._absorb_distinct(st)
    st.distinct, st.n_distinct_seen = probe.distinct, probe.n_distinct_seen
    return st


def partial_stats(x: np.ndarray, start: int, stop: int, rows: int, cap: int = CAP, threads: int = 1,
                  on_chunk=None) -> PartialStats:
    """Statistics of rows [start, stop) of x (n, d), chunked on the grid of ``rows``-row chunks.

    This is one shard's (or one torch.distributed rank's) share: ``merge_all`` of the partials
    of consecutive ranges covering the rows, in order, gives the profile's statistics. Ranges
    cut at grid boundaries (:func:`split_grid`) reproduce the single pass's moments to float64
    rounding; other cuts change float32 data's moments at its summation precision (~1e-7).
    """
    if stop <= start:
        return PartialStats(x.shape[1], cap)
    return stream_stats(x, chunks_between(chunk_grid(x.shape[0], rows), start, stop), cap, threads, on_chunk)


# --------------------------------------------------------------------------- worker processes


def can_share(x: np.ndarray) -> bool:
    """Whether workers can reach the rows of x: a file they map, or an array in memory (copied to
    shared memory). A file map they cannot reproduce (Fortran order, copy-on-write) stays in one
    process rather than being read whole into memory."""
    from autolik.io import mapped_file

    if mapped_file(x) is not None:
        return True
    base = x
    while base is not None:
        if isinstance(base, np.memmap):
            return False
        base = getattr(base, "base", None)
    return True


def parallel_stats(x: np.ndarray, grid: list[int], workers: int, cap: int = CAP, threads: int = 1,
                   progress=None) -> PartialStats:
    """Statistics of all rows of x by ``workers`` processes, this one included.

    This process summarises the grid's first chunk, whose statistics hint every shard's pass (as
    the single pass's first chunk hints the chunks after it). The other rows are cut into shards
    of whole chunks; ``workers - 1`` started processes take shards from the front, one at a time
    and only once they are up (a spawned worker needs ~0.3 s to import numpy and autolik), while
    this one takes shards from the back: no shard waits for a worker that is still starting, and
    on small data this process may do it all. The summaries are merged in row order (the fold of
    ``merge_all``); ``progress(rows_done, n_rows)`` is called as they are.
    """
    from autolik.io import release_rows

    def here(bounds: list[int], head: PartialStats | None) -> PartialStats:
        return stream_stats(x, bounds, cap, threads, lambda r0, rows: release_rows(x, r0, r0 + len(rows)), head)

    cuts = sorted(set(split_grid(grid[1:], SHARDS_PER_WORKER * workers)))
    spans = [chunks_between(grid, a, b) for a, b in zip(cuts, cuts[1:])]
    started = max(1, min(workers - 1, len(spans)))
    with _row_source(x) as source:
        pool = ProcessPoolExecutor(started, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_ignore_interrupts)
        try:
            idle = [pool.submit(_ready) for _ in range(started)]  # done when a worker is up
            head = here(grid[:2], None)
            done = _share_out(spans, lambda i: here(spans[i], head), idle,
                              lambda i: pool.submit(_shard, (source, spans[i], cap, threads, head)))
            acc = PartialStats(x.shape[1], cap)
            acc._absorb(head)
            for i, bounds in enumerate(spans):
                acc._absorb(done[i])
                if progress is not None:
                    progress(bounds[-1], grid[-1])
        except BrokenProcessPool as e:
            raise AutolikError(f"a profiling worker process stopped ({e}); retry with workers=1 (--workers 1). "
                               "A script that asks for workers must guard its entry point with "
                               "if __name__ == '__main__':") from None
        finally:
            # every result is in (or the call failed): a worker still starting up exits by itself
            pool.shutdown(wait=False, cancel_futures=True)
    return acc


def _share_out(spans: list, here, idle: list, submit) -> dict:
    """Shard index -> statistics: workers take shards from the front as they become idle
    (``idle``: futures that complete when a worker is free), this process from the back."""
    todo, busy, done = list(range(len(spans))), {}, {}
    while todo or busy:
        for fut in [f for f in busy if f.done()]:
            done[busy.pop(fut)] = fut.result()
            idle.append(fut)
        free = [f for f in idle if f.done()]
        for fut in free:
            idle.remove(fut)
            fut.result()  # a worker that failed to start raises here
            if todo:
                i = todo.pop(0)
                busy[submit(i)] = i
        if todo:
            i = todo.pop()
            done[i] = here(i)
        elif busy:
            wait(list(busy), return_when=FIRST_COMPLETED)
    return done


def _ready() -> None:
    """A no-op: one is submitted per worker; its completion says a worker is up."""


def _ignore_interrupts() -> None:
    """Ctrl-C is the calling process's to handle (it stops the pool); a worker prints nothing."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _row_source(x: np.ndarray):
    """Where workers find the rows of x: the file it maps, else a copy in shared memory (freed after).

    Yields ``(kind, name, byte offset of row 0, dtype string, n_features)``.
    """
    from autolik.io import mapped_file

    where = mapped_file(x)
    if where is not None:
        yield ("file", where[0], where[1], x.dtype.str, x.shape[1])
        return
    shm = SharedMemory(create=True, size=max(1, x.nbytes))
    try:
        copy = np.ndarray(x.shape, x.dtype, buffer=shm.buf)
        step = max(1, COPY_BYTES // max(1, x.shape[1] * x.itemsize))
        for r in range(0, len(x), step):
            copy[r:r + step] = x[r:r + step]
        del copy
        yield ("shm", shm.name, 0, x.dtype.str, x.shape[1])
    finally:
        shm.close()
        shm.unlink()


def _shard(task: tuple) -> PartialStats:
    """One shard's statistics, in a worker: map its rows, stream them chunk by chunk (hinted by the
    first chunk's statistics, ``head``), drop the pages."""
    from autolik.io import release_rows

    source, bounds, cap, threads, head = task
    x, shm = _open_rows(source, bounds[0], bounds[-1])
    try:
        local = [b - bounds[0] for b in bounds]
        return stream_stats(x, local, cap, threads, lambda r0, rows: release_rows(x, r0, r0 + len(rows)), head)
    finally:
        del x
        if shm is not None:
            shm.close()


def _open_rows(source: tuple, start: int, stop: int) -> tuple[np.ndarray, SharedMemory | None]:
    """Rows [start, stop) of the data behind ``source`` (see :func:`_row_source`), read-only."""
    kind, name, offset, dtype, d = source
    dtype = np.dtype(dtype)
    at = offset + start * d * dtype.itemsize
    if kind == "file":
        return np.memmap(name, dtype=dtype, mode="r", offset=at, shape=(stop - start, d)), None
    shm = SharedMemory(name=name)
    x = np.ndarray((stop - start, d), dtype, buffer=shm.buf, offset=at)
    x.flags.writeable = False
    return x, shm

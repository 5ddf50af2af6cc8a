"""Mini-batches read from the data file instead of from one float64 copy of the training rows.

The in-memory path copies the used columns of the training rows into one float64 tensor once
and shuffles it with ``torch.randperm``: the fastest way, and the reference every figure is
measured with. That copy costs 8 bytes per value, so a 2.2 GB float32 ``.npy`` would need
3.5 GB for its training split alone, and a file larger than memory could not be fitted at all.
So a memory-mapped array (an ``.npy`` file), or any dense array whose copy would exceed
``AUTOLIK_IN_MEMORY_MB`` (default 1024; 0 streams every dense array), is read by a
:class:`RowSource` instead (:func:`streams` decides):

* a split's rows are its positions 0..n-1: the split's sorted row indices
  (:func:`autolik.pipeline.split_indices`, unchanged), so the same rows train, validate and test;
* an epoch's order is *block-shuffled*: positions are cut into blocks of contiguous rows (about
  ``BLOCK_BYTES`` of the file each), the blocks are shuffled and taken ``GROUP_BLOCKS`` at a time,
  and the positions of such a group are shuffled among themselves. Mini-batches are consecutive
  slices of that order, so a batch mixes rows of a few blocks from anywhere in the file, while the
  file is read one group (a few contiguous ranges, rows picked by index, sorted) at a time;
* a background thread reads the next group while the loop trains on the current one: at most two
  groups are in memory (about 2 x GROUP_BLOCKS x BLOCK_BYTES); for training it also maps the
  group's used columns to the model's float32 inputs (:meth:`RowSource.model_space`, ``MAP_ROWS``
  rows of float64 at a time), so a batch is a gather, as from the in-memory model-space copy;
  otherwise a batch is converted to float64 (its used columns) when it is asked for;
* the mapped pages a read touched are released (:func:`autolik.io.release_rows`): the process's
  resident memory stays small, the file stays in the OS page cache;
* under data-parallel training (:mod:`autolik.distributed`) a process reads only the rows of its
  share of each batch.

The order is drawn from the loop's generator, so a checkpointed run resumes to the same batches.
Validation and the held-out evaluation read their rows in sequential units (:meth:`RowSource.units`),
with the same random streams as the in-memory path (so the same rows give the same figures).
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from autolik.environment import env_number
from autolik.errors import DataError, UsageError

BLOCK_BYTES = 16 << 20  # contiguous rows read together (one block of the block shuffle)
GROUP_BLOCKS = 4  # blocks whose rows are shuffled together: the shuffle buffer is this many blocks
READ_BYTES = 16 << 20  # rows read at once by the sequential passes (validation, evaluation)
MAP_ROWS = 1024  # rows mapped to model space at once by the reading thread (temporaries stay small)
DEFAULT_IN_MEMORY_MB = 1024


def in_memory_limit() -> int:
    """Bytes a float64 copy of the training rows may take before the rows are streamed instead:
    ``$AUTOLIK_IN_MEMORY_MB`` megabytes (0: stream every dense array), default 1024."""
    value = env_number("AUTOLIK_IN_MEMORY_MB", DEFAULT_IN_MEMORY_MB, "megabytes")
    return int(value * (1 << 20))


def block_rows(row_bytes: int) -> int:
    """Rows per block of the block shuffle: ``$AUTOLIK_BLOCK_ROWS`` (smaller blocks mix batches better,
    larger ones read faster from slow disks), else ``BLOCK_BYTES`` worth of rows."""
    env = os.environ.get("AUTOLIK_BLOCK_ROWS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise UsageError(f"AUTOLIK_BLOCK_ROWS must be a whole number >= 1, got {env!r}; unset it for the default")
        return int(env)
    return max(1, BLOCK_BYTES // max(1, int(row_bytes)))


def is_memmap(data) -> bool:
    """True for a memory-mapped array or a view of one (an ``.npy`` loaded by :mod:`autolik.io`)."""
    import mmap

    base = data
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


def streams(data, n_rows: int, n_columns: int) -> bool:
    """Whether training on ``n_rows`` x ``n_columns`` of ``data`` reads batches from it (a :class:`RowSource`)
    rather than from one float64 copy: always for a memory-mapped array, else when the copy would exceed
    :func:`in_memory_limit`. Sparse matrices keep their own path (only a batch is ever dense there)."""
    from autolik.io.sparse import is_sparse

    if is_sparse(data) or not isinstance(data, np.ndarray):
        return False
    return is_memmap(data) or 8 * int(n_rows) * int(n_columns) > in_memory_limit()


def epoch_order(x, generator):
    """The order of the training positions for one epoch: ``x.order(generator)`` for a batch source
    (block-shuffled), else ``torch.randperm`` (the in-memory path, unchanged)."""
    import torch

    order = getattr(x, "order", None)
    return order(generator) if order is not None else torch.randperm(len(x), generator=generator)


class RowSource:
    """Rows ``rows`` (sorted indices) and columns ``columns`` of a 2-D array, read on demand.

    Indexed by positions (a torch or numpy integer array, or a slice) it returns a float64 CPU
    tensor of those rows' used columns, as the in-memory tensor does: from the groups read ahead
    when the positions follow the epoch's :meth:`order`, else by a direct (sorted) read.
    """

    def __init__(self, data: np.ndarray, rows: np.ndarray, columns, what: str = "rows"):
        if data.ndim != 2:
            raise DataError(f"{what}: expected a 2-D array of rows, got shape {data.shape}")
        self.data, self.what = data, what
        self.rows = np.asarray(rows, dtype=np.int64)
        cols = [int(c) for c in columns]
        self.columns = None if cols == list(range(data.shape[1])) else np.asarray(cols, dtype=np.int64)
        self.shape = (len(self.rows), len(cols))
        row_bytes = max(1, data.shape[1] * data.itemsize)
        self.block_rows = block_rows(max(row_bytes, 4 * len(cols)))  # a group's bytes, raw or in model space
        self.read_rows = max(1, READ_BYTES // row_bytes)
        self.transform = None  # rows -> model space (float32), applied to the groups by the reading thread
        self._pool = None
        self._epoch = None

    def __len__(self) -> int:
        return int(self.shape[0])

    # -- reading ------------------------------------------------------------------------------
    def _raw(self, positions: np.ndarray) -> np.ndarray:
        """Rows at sorted ``positions``, all columns, in the file's dtype; mapped pages released after."""
        from autolik.io import release_rows

        out = np.empty((len(positions), self.data.shape[1]), dtype=self.data.dtype)
        if not len(positions):
            return out
        file_rows = self.rows[positions]
        step = self.block_rows
        for a in range(0, len(file_rows), step):  # a block of file rows at a time, so released pages stay few
            part = file_rows[a:a + step]
            np.take(self.data, part, axis=0, out=out[a:a + len(part)])
            release_rows(self.data, int(part[0]), int(part[-1]) + 1)
        return out

    def _float(self, raw: np.ndarray) -> np.ndarray:
        """The used columns of raw rows as float64, checked for infinities (the loader refuses them;
        the check is per batch, so nothing scans the whole file again)."""
        x = raw if self.columns is None else raw[:, self.columns]
        x = np.ascontiguousarray(x, dtype=np.float64)  # row-major, as the in-memory tensor: the same products
        if np.isinf(x).any():
            raise DataError(f"{self.what} hold infinite values; replace them with NaN (missing) or finite numbers")
        return x

    def model_space(self, pre) -> None:
        """From now on (for the training loop) hand out rows mapped to model space by ``pre`` (without noise,
        float32: the values of the in-memory path's model-space copy): the reading thread maps each group as
        it reads it, so a batch is a gather, as in memory. Validation and evaluation (:meth:`units`) keep
        float64 rows in original units."""
        import torch

        self.transform = lambda x: pre.forward(torch.from_numpy(x), dequantize=False).numpy()

    def _out(self, raw: np.ndarray) -> np.ndarray:
        """Raw rows as the loop gets them: float64 used columns, or in model space (:meth:`model_space`), mapped
        ``MAP_ROWS`` at a time: with a whole group's float64 temporaries (hundreds of MB, fresh pages each
        time) the mapping took nearly twice as long (measured)."""
        if self.transform is None:
            return self._float(raw)
        out = np.empty((len(raw), self.shape[1]), dtype=np.float32)
        for a in range(0, len(raw), MAP_ROWS):
            out[a:a + MAP_ROWS] = self.transform(self._float(raw[a:a + MAP_ROWS]))
        return out

    def read(self, positions) -> np.ndarray:
        """Rows at ``positions`` (any order), read directly (sorted, then put back in order): float64 used columns,
        or in model space (:meth:`model_space`)."""
        pos = np.asarray(positions, dtype=np.int64)
        order = np.argsort(pos, kind="stable")
        raw = self._raw(pos[order])
        x = self._out(raw)
        out = np.empty_like(x)
        out[order] = x
        return out

    def __getitem__(self, idx):
        import torch

        if isinstance(idx, slice):
            pos = np.arange(len(self))[idx]
        else:
            pos = np.asarray(idx.cpu().numpy() if isinstance(idx, torch.Tensor) else idx, dtype=np.int64).reshape(-1)
        served = self._epoch.serve(pos) if self._epoch is not None else None
        return torch.from_numpy(served if served is not None else self.read(pos))

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autolik-read")
        return self._pool

    # -- the epoch's order ---------------------------------------------------------------------
    def order(self, generator, shard: tuple | None = None):
        """The epoch's block-shuffled order of positions (a torch int64 tensor), drawn from ``generator``;
        starts reading its first group.

        ``shard``: ``(rank, world_size, batch_size)`` under data-parallel training: this process takes
        the positions ``rank, rank + world_size, ...`` of every batch (consecutive slices of
        ``batch_size`` of the order), and reads only those.
        """
        import torch

        n = len(self)
        n_blocks = max(1, math.ceil(n / self.block_rows))
        blocks = torch.randperm(n_blocks, generator=generator).numpy()
        parts, groups = [], []
        for g in range(0, n_blocks, GROUP_BLOCKS):
            members = np.sort(blocks[g:g + GROUP_BLOCKS])
            pos = np.concatenate([np.arange(b * self.block_rows, min(n, (b + 1) * self.block_rows)) for b in members])
            parts.append(pos[torch.randperm(len(pos), generator=generator).numpy()])
            groups.append(pos)  # sorted: the rows the group reads
        order = np.concatenate(parts)
        if shard is not None:
            rank, size, bs = (int(v) for v in shard)
            mine = (np.arange(n) % bs) % size == rank
            owned = np.zeros(n, dtype=bool)
            owned[order[mine]] = True
            groups = [pos[owned[pos]] for pos in groups]
        self._start(_Epoch(self, order, groups, [len(p) for p in parts]))
        return torch.from_numpy(order)

    def _start(self, epoch) -> None:
        if self._epoch is not None:
            self._epoch.close()
        self._epoch = epoch
        epoch.begin()

    def close(self) -> None:
        """Stop reading ahead (the epoch's buffers are dropped); the source stays usable."""
        if self._epoch is not None:
            self._epoch.close()
            self._epoch = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- sequential passes ---------------------------------------------------------------------
    def units(self, size: int, keep=None):
        """Consecutive units of ``size`` positions, in order: ``(index, n_rows, float64 array or None)``, the
        array None for units ``keep(index)`` rejects (another process's, which this one does not read).
        Reads ``READ_BYTES`` of rows at a time, the next read running while the caller works on this one."""
        n, size = len(self), max(1, int(size))
        n_units = math.ceil(n / size)
        per_read = max(1, self.read_rows // size)
        spans = [(u, min(n_units, u + per_read)) for u in range(0, n_units, per_read)]

        def load(span):
            u0, u1 = span
            want = [u for u in range(u0, u1) if keep is None or keep(u)]
            if not want:
                return {}
            pos = np.concatenate([np.arange(u * size, min(n, (u + 1) * size)) for u in want])
            x = self._float(self._raw(pos))
            out, at = {}, 0
            for u in want:
                m = min(n, (u + 1) * size) - u * size
                out[u], at = x[at:at + m], at + m
            return out

        pool = self._executor()
        pending = pool.submit(load, spans[0]) if spans else None
        for i, span in enumerate(spans):
            got = pending.result()
            pending = pool.submit(load, spans[i + 1]) if i + 1 < len(spans) else None
            for u in range(*span):
                yield u, min(n, (u + 1) * size) - u * size, got.get(u)


class _Epoch:
    """One epoch's order, its groups of rows and the buffers read ahead (see :meth:`RowSource.order`).

    A batch's positions are consecutive in the order, so they lie in the current group and the
    next ones; a group is dropped once a batch has reached past it, and the group after the
    current one is read ahead. Positions in a dropped group (a random access) return None: the
    source reads them directly.
    """

    def __init__(self, source: RowSource, order: np.ndarray, groups: list, sizes: list):
        self.source, self.groups = source, groups
        self.group_of = np.empty(len(order), dtype=np.int32)
        start = 0
        for g, m in enumerate(sizes):
            self.group_of[order[start:start + m]] = g
            start += m
        self.cur = 0
        self.buffers: dict = {}
        self.pending: dict = {}
        self.mapped = source.transform is not None  # groups held in model space, mapped by the reading thread
        self.dtype = np.float32 if self.mapped else np.float64

    def _load(self, g: int):
        pos = self.groups[g]
        raw = self.source._raw(pos)
        return pos, (self.source._out(raw) if self.mapped else raw)

    def _ask(self, g: int) -> None:
        if g < len(self.groups) and g not in self.buffers and g not in self.pending:
            self.pending[g] = self.source._executor().submit(self._load, g)

    def begin(self) -> None:
        self._ask(0)

    def _buffer(self, g: int):
        if g not in self.buffers:
            self._ask(g)
            self.buffers[g] = self.pending.pop(g).result()
        return self.buffers[g]

    def serve(self, pos: np.ndarray):
        if not len(pos):
            return np.empty((0, self.source.shape[1]), dtype=self.dtype)
        g = self.group_of[pos]
        lo, hi = int(g.min()), int(g.max())
        if lo < self.cur:
            return None  # a group already dropped: not the epoch's next batch
        out = np.empty((len(pos), self.source.shape[1]), dtype=self.dtype)
        for gg in range(lo, hi + 1):
            sel = g == gg
            if not sel.any():
                continue
            have, raw = self._buffer(gg)
            loc = np.minimum(np.searchsorted(have, pos[sel]), max(0, len(have) - 1))
            if not len(have) or not np.array_equal(have[loc], pos[sel]):
                return None  # rows this process did not read ahead (not its share): read directly
            out[sel] = raw[loc] if self.mapped else self.source._float(raw[loc])
        if hi > self.cur:  # the batch reached group hi: the ones before it are done
            for old in [k for k in self.buffers if k < hi]:
                del self.buffers[old]
            self.cur = hi
        self._ask(self.cur + 1)
        return out

    def close(self) -> None:
        for future in self.pending.values():
            future.cancel()
            if not future.cancelled():
                try:
                    future.result()  # a read in progress finishes before its memory can go
                except Exception:  # noqa: BLE001  (the epoch is over: its read's failure no longer matters)
                    pass
        self.pending.clear()
        self.buffers.clear()


class ModelSpaceRows:
    """The preprocessor as the loop applies it to in-memory rows (``train._Loop.rows``): the affine map
    without noise, in float32, then uniform noise of width ``step x scale`` drawn in float32 from the
    loop's generator, for the batch's shape. Rows read from a file get the very numbers the same rows
    get from the in-memory copy. ``mapped``: the rows arrive in model space already
    (:meth:`RowSource.model_space`), only the noise is added. ``share``: under data-parallel training,
    the global batch's size and this process's rows of it (``(n, positions)``): the noise of the whole
    batch is drawn, these rows' kept."""

    def __init__(self, pre, mapped: bool = False):
        import torch

        self.pre, self.mapped = pre, bool(mapped)
        self.width = (pre.step * pre.scale).to(torch.float32)
        self.noisy = bool((pre.step > 0).any())

    def __getattr__(self, name):
        return getattr(self.pre, name)

    def forward(self, x, dequantize: bool = True, generator=None, share=None):
        import torch

        y = x.to(torch.float32) if self.mapped else self.pre.forward(x, dequantize=False)
        if dequantize and self.noisy:
            n, pos = share if share is not None else (len(y), None)
            u = torch.rand((n, y.shape[1]), generator=generator)
            y = y + (u if pos is None else u[pos]).to(y.device) * self.width.to(y.device)
        return y


class ValidationRows:
    """The validation split of a :class:`RowSource` in model space, read and dequantised a unit at a time.

    The in-memory path dequantises the validation rows once with a fixed seed and keeps them; here
    the rows are read again at every pass and dequantised from the same seed, so every pass sees the
    same values (and the same values as the in-memory path: uniform draws do not depend on how a
    stream is cut into calls).
    """

    def __init__(self, source: RowSource, pre, seed: int, device, dtype):
        self.source, self.pre, self.seed, self.device, self.dtype = source, pre, int(seed), device, dtype

    def __len__(self) -> int:
        return len(self.source)

    def units(self, size: int, keep=None):
        """``(index, n_rows, model-space tensor or None)`` per unit of ``size`` rows; the dequantisation
        noise of a unit another process scores is drawn too, so every unit gets the same noise."""
        import torch

        gen = torch.Generator().manual_seed(self.seed)
        noisy = bool((self.pre.step > 0).any())
        for i, n, x in self.source.units(size, keep):
            if x is None:
                if noisy:
                    torch.rand((n, self.source.shape[1]), generator=gen, dtype=torch.float64)
                yield i, n, None
                continue
            y = self.pre.forward(torch.from_numpy(x), dequantize=True, generator=gen)
            yield i, n, y.to(self.device, self.dtype)

    def validation_loss(self, model, batch_size: int, seed: int) -> float:
        """Mean negative ELBO per validation row, with fixed posterior noise (as ``train.validation_loss``)."""
        total, count = unit_loss_sums(model, self.units(batch_size), seed)
        return total / count if count else float("nan")


def tensor_units(y, size: int, keep=None):
    """A model-space tensor in units of ``size`` rows: ``(index, n_rows, rows or None)`` like :meth:`RowSource.units`."""
    for i, start in enumerate(range(0, len(y), max(1, int(size)))):
        part = y[start:start + size]
        yield i, len(part), (part if keep is None or keep(i) else None)


def unit_loss_sums(model, units, seed: int) -> tuple[float, int]:
    """(sum of the negative ELBO, rows) over the units given (model space, beta = 1), with the posterior
    noise of ``train.validation_loss``: torch's generator seeded with ``seed``, one draw per unit in
    order; a unit without rows (another process's) draws its noise and is not scored."""
    import torch
    from torch.distributions.utils import _standard_normal

    p = next(model.parameters())
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    devices = [p.device.index or 0] if p.device.type == "cuda" else []
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            for _, n, y in units:
                if y is None:
                    _standard_normal((n, int(model.latent_dim)), dtype=p.dtype, device=p.device)
                    continue
                t = model.loss(y, beta=1.0)
                total += float((t.nll + t.kl).sum())
                count += n
    finally:
        model.train(was_training)
    return total, count

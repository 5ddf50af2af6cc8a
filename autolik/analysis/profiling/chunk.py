"""One chunk's statistics: the fused pass over its rows, then what the pass cannot do alone.

:class:`ChunkPass` turns rows of a (memory-mapped) array into a
:class:`autolik.analysis.profiling.stats.PartialStats` that merges into the running totals (its ``hint``):
the fused pass (:class:`autolik.analysis.profiling.kernel.Sums`) gives counts, min/max, zeros, the integer
check, power sums and lattice membership; this module converts power sums to central moments
(redoing in float64 the columns where float32 sums would lose precision), checks monotonicity
and keeps the distinct values of each feature up to the cap.

The statistics are built as instances of the hint's own class, so this module does not import
:mod:`autolik.analysis.profiling.stats` at run time (``PartialStats.of`` / ``update`` call it).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from autolik.analysis.profiling import kernel
from autolik.analysis.profiling.kernel import Sums, work_dtype
from autolik.analysis.profiling.lattice import lattice_params

if TYPE_CHECKING:
    from autolik.analysis.profiling.stats import PartialStats


def chunk_stats(x: np.ndarray, hint: PartialStats) -> PartialStats:
    """Statistics of the rows of x (m, d); ``hint`` (running totals) prunes settled checks."""
    return ChunkPass(x, hint).run().finish()


class ChunkPass:
    """The statistics of one chunk in three steps: ``ChunkPass(x, hint).run().finish()``.

    One fused pass (:class:`autolik.analysis.profiling.kernel.Sums`, in :meth:`run`) gives counts,
    min/max, zeros, the integer check, lattice membership of values against the hint's distinct
    sets, and the power sums of ``x - K`` (K: the mean of the finite values in the first rows).
    :meth:`finish` turns them into a :class:`PartialStats`: columns whose spread around K would
    overflow or underflow fourth powers in the working dtype, or whose raw-to-central conversion
    cancelled, are recomputed exactly in float64; monotonicity and distinct sets are added.
    The C kernel releases the GIL, so the pass can be split between threads and run while the
    caller finishes another chunk: ``job = ChunkPass(x, hint).start(pool, parts)``, later
    ``job.finish()``.
    """

    def __init__(self, x: np.ndarray, hint: PartialStats):
        x = np.asarray(x)  # a plain view of memmap rows: column slices of a memmap are slow to make
        self.x, self._jobs, self._pieces = x, [], []
        # what finish() needs of the hint, as it is now (the caller may absorb other chunks meanwhile)
        self.known = list(hint.distinct) if hint.n_rows else None
        self.seen = hint.n_distinct_seen.copy()
        m, d = x.shape
        self.wdt = wdt = work_dtype(x.dtype)
        st = self.st = type(hint)(d, hint.cap)
        st.n_rows = m
        st.eps = max(float(np.finfo(wdt).eps), float(np.finfo(x.dtype).eps) if x.dtype.kind == "f" else 0.0)
        if hint.n_rows:
            st.integer = hint.integer.copy()
            st.increasing, st.decreasing = hint.increasing.copy(), hint.decreasing.copy()
        st.first, st.last = x[0].astype(np.float64), x[-1].astype(np.float64)
        params, j0, j1, self.tracked = lattice_params(hint.distinct if hint.n_rows else [None] * d, wdt,
                                                      hint.__dict__.setdefault("_lattice", {}))
        self.check_int = x.dtype.kind == "f" and bool(st.integer.any())
        self.sums = Sums(_shift(x[:SHIFT_ROWS], wdt), params, j0, j1, self.check_int)

    def start(self, pool=None, parts: int = 1) -> "ChunkPass":
        """Begin the fused pass: with a thread ``pool``, ``parts`` row ranges are submitted to it
        and this returns at once; otherwise the pass runs here."""
        x = self.x
        if pool is None or parts < 2 or len(x) < 2 * parts * BLOCK:
            _fill(self.sums, x, self.wdt)
            return self
        cuts = [len(x) * i // parts // BLOCK * BLOCK for i in range(parts)] + [len(x)]
        self._pieces = self.sums.split(parts)
        self._jobs = [pool.submit(_fill, p, x[a:b], self.wdt) for p, a, b in zip(self._pieces, cuts, cuts[1:])]
        return self

    def run(self, pool=None, parts: int = 1) -> "ChunkPass":
        """The fused pass, waited for."""
        return self.start(pool, parts)._join()

    def _join(self) -> "ChunkPass":
        for job in self._jobs:
            job.result()
        for piece in self._pieces:
            self.sums.absorb(piece)
        self._jobs, self._pieces = [], []
        return self

    def finish(self) -> PartialStats:
        """The chunk's statistics (waits for the fused pass if it was started on a pool)."""
        self._join()
        x, st, sums, k = self.x, self.st, self.sums, self.sums.k
        st.n_nan, st.n_posinf, st.n_neginf, st.n_zero = (sums.count(c).copy() for c in ("nan", "posinf", "neginf", "zero"))
        st.count = len(x) - st.n_nan - st.n_posinf - st.n_neginf
        st.min, st.max = sums.lo.astype(np.float64), sums.hi.astype(np.float64)
        if self.check_int:
            st.integer &= sums.count("nonint") == 0
        lo, hi = _F32_SAFE if self.wdt == np.float32 else _F64_SAFE
        with np.errstate(all="ignore"):
            spread = np.maximum(st.max - k, k - st.min)
        extreme = (st.count > 0) & ~((spread <= hi) & ((spread >= lo) | (spread == 0)))
        redo = np.union1d(np.flatnonzero(extreme), _unstable(st, _finish_sums(st, sums.sums, k)))
        if redo.size:
            _exact_moments(x, st, redo)
        _monotone(x, st, self.wdt)
        _chunk_distinct(x, st, self.known, self.seen, sums, self.tracked)
        return st


def _fill(sums: Sums, x: np.ndarray, wdt: np.dtype) -> None:
    """Add rows x to ``sums``, converting them to the working dtype a few MB at a time."""
    if x.dtype == wdt:
        sums.add(x)
        return
    rows = max(BLOCK, (SLAB_BYTES // max(1, x.shape[1] * wdt.itemsize)) // BLOCK * BLOCK)
    for r in range(0, len(x), rows):
        sums.add(x[r:r + rows].astype(wdt))


BLOCK = kernel.BLOCK
SHIFT_ROWS = 32  # rows whose mean is the shift K; a K far from a column's mean is caught by _unstable
SLAB_BYTES = 4 << 20  # data converted to the working dtype at a time
# spreads for which fourth powers of deviations neither overflow nor underflow in the working dtype
_F32_SAFE, _F64_SAFE = (1e-8, 1e8), (1e-70, 1e70)


def _shift(xb: np.ndarray, wdt: np.dtype) -> np.ndarray:
    """Per-column shift K: the mean of the finite values of the first rows ``xb`` (0 if none)."""
    with np.errstate(all="ignore"):
        y = xb.astype(np.float64)
        fin = np.isfinite(y)
        k = np.where(fin, y, 0.0).sum(0) / np.maximum(fin.sum(0), 1)
        return np.nan_to_num(k, posinf=0.0, neginf=0.0).astype(wdt)


def _finish_sums(st: PartialStats, sums: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Power sums of x - K -> mean and central moment sums; returns mean - K."""
    n = st.count.astype(np.float64)
    s1, s2, s3, s4 = sums
    with np.errstate(all="ignore"):
        a = np.where(n > 0, s1 / np.maximum(n, 1), 0.0)
        st.mean = np.where(n > 0, np.asarray(k, np.float64) + a, 0.0)
        st.m2 = s2 - n * a * a
        st.m3 = s3 - 3 * a * s2 + 2 * n * a ** 3
        st.m4 = s4 - 4 * a * s3 + 6 * a * a * s2 - 3 * n * a ** 4
    return a


def _unstable(st: PartialStats, a: np.ndarray) -> np.ndarray:
    """Columns whose raw-to-central conversion cancelled (shift > 10 sd from the mean)."""
    with np.errstate(all="ignore"):
        n = np.maximum(st.count, 1)
        spread = st.max > st.min
        bad = (st.count > 0) & (~np.isfinite(st.m2) | (spread & (st.m2 <= 0)) | ~np.isfinite(st.m4))
        bad |= (st.count > 0) & (st.m2 >= 0) & (a * a > 100 * st.m2 / n)
    st.m2 = np.maximum(st.m2, 0.0)
    st.m4 = np.maximum(st.m4, 0.0)
    return np.flatnonzero(bad)


def _exact_moments(x: np.ndarray, st: PartialStats, cols: np.ndarray) -> None:
    """Recompute mean and moment sums of columns ``cols`` in float64, a slab of rows at a time."""
    d = st.n_features
    acc = type(st)(d)
    rows = max(1, SLAB_BYTES // (8 * len(cols)))
    for r in range(0, len(x), rows):
        acc._absorb(_slow_stats(x[r:r + rows, cols].astype(np.float64), cols, acc), distinct=False)
    for name in ("mean", "m2", "m3", "m4"):
        getattr(st, name)[cols] = getattr(acc, name)[cols]


def _slow_stats(y: np.ndarray, idx: np.ndarray, like: PartialStats) -> PartialStats:
    """Columns ``idx`` (y: (b, len(idx)) float64) with NaN/inf or extreme spread, masked and
    scaled by a power of two so fourth powers stay in range; other columns stay empty.
    The result has ``like``'s class and number of features (default cap)."""
    out = type(like)(like.n_features)
    out.n_rows = len(y)
    with np.errstate(all="ignore"):
        fin = np.isfinite(y)
        cnt = fin.sum(0)
        out.count[idx] = cnt
        out.n_nan[idx] = np.isnan(y).sum(0)
        out.n_posinf[idx] = (y == np.inf).sum(0)
        out.n_neginf[idx] = (y == -np.inf).sum(0)
        out.n_zero[idx] = (y == 0).sum(0)
        out.integer[idx] = np.logical_and.reduce((np.rint(y) == y) | ~fin, axis=0)
        mn = np.where(fin, y, np.inf).min(0)
        mx = np.where(fin, y, -np.inf).max(0)
        out.min[idx], out.max[idx] = mn, mx
        amax = np.where(cnt > 0, np.maximum(np.abs(mn), np.abs(mx)), 1.0)
        expo = np.clip(np.frexp(np.where(amax > 0, amax, 1.0))[1], -1000, 1000)
        sc = np.ldexp(1.0, -expo)
        ys = np.where(fin, y * sc, 0.0)
        c = np.maximum(cnt, 1)
        mean_s = ys.sum(0) / c
        dev = np.where(fin, ys - mean_s, 0.0)
        a = dev.sum(0) / c
        dev -= np.where(fin, a, 0.0)
        sq = dev * dev
        out.mean[idx] = (mean_s + a) / sc
        out.m2[idx] = sq.sum(0) / sc ** 2
        out.m3[idx] = (sq * dev).sum(0) / sc ** 3
        out.m4[idx] = (sq * sq).sum(0) / sc ** 4
    return out


def _monotone(x: np.ndarray, st: PartialStats, wdt: np.dtype) -> None:
    """Strict monotonicity of the rows, checked on a short prefix first (most columns fail there)."""
    mono = np.flatnonzero(st.increasing | st.decreasing)
    r0, rows = 0, 64
    while mono.size and r0 < len(x) - 1:
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN: not monotone
            dx = np.diff(x[r0:r0 + rows + 1, mono].astype(wdt), axis=0)
        st.increasing[mono] &= np.logical_and.reduce(dx > 0, axis=0)
        st.decreasing[mono] &= np.logical_and.reduce(dx < 0, axis=0)
        mono = mono[(st.increasing | st.decreasing)[mono]]
        r0, rows = r0 + rows, max(rows, SLAB_BYTES // max(1, 8 * mono.size))


def _chunk_distinct(x: np.ndarray, st: PartialStats, known: list | None, seen: np.ndarray, sums: Sums,
                    tracked: np.ndarray) -> None:
    """Distinct finite values per feature for this chunk; settled features are skipped.

    A feature whose running set has a lattice core (``tracked``) takes the values the fused pass
    recorded off it that are not in the known set (only meaningful merged into the totals).
    Integer features with a small range are counted with one ``bincount`` over all of them;
    others use ``np.unique``, first on a prefix of the rows so continuous features leave the
    tracking after sorting only ``1.25 * cap`` values.
    """
    d = st.n_features
    known_sets = known if known is not None else [np.empty(0)] * d
    # settled (None) sets stay None; tracked ones get what is new (below), else nothing
    st.distinct = [None if u is None else _EMPTY for u in known_sets]
    if known is not None:
        st.n_distinct_seen = seen.copy()
    recorded = sums.off_lattice()
    if recorded is not None:
        # the chunk's values are in known | new, and known is already in the totals this is merged
        # into: the new values alone stand for the chunk
        for j, u in _new_values(*recorded, known_sets).items():
            st.n_distinct_seen[j] = len(known_sets[j]) + len(u)
            st.distinct[j] = u if st.n_distinct_seen[j] <= st.cap else None
    else:
        tracked = np.zeros(d, bool)
    counted, sorted_ = [], []
    for j in [j for j in range(d) if known_sets[j] is not None and not tracked[j]]:
        if st.integer[j] and st.count[j] == len(x) and -INT_SPAN < st.min[j] <= st.max[j] < st.min[j] + INT_SPAN:
            counted.append(j)
        else:
            sorted_.append(j)
    if counted:
        _distinct_by_counts(x, st, np.array(counted))
    prefix = st.cap + st.cap // 4
    for j in sorted_:
        col = x[:, j]
        u = _unique_finite(col[:prefix]) if len(col) > prefix else None
        if u is None or len(u) <= st.cap:
            u = _unique_finite(col)
        st.n_distinct_seen[j] = len(u)
        st.distinct[j] = u if len(u) <= st.cap else None
    # over the cap the count is cap + 1 whatever was seen first: any split of the rows merges alike
    np.minimum(st.n_distinct_seen, st.cap + 1, out=st.n_distinct_seen)


def _new_values(cols: np.ndarray, vals: np.ndarray, known_sets: list) -> dict[int, np.ndarray]:
    """Feature -> sorted distinct values not in its known set, from recorded (feature, value) pairs.

    One sort of the recorded pairs together with the known sets of their features: a recorded
    pair equal to a known one sorts right after it.
    """
    if not cols.size:
        return {}
    vals = vals.astype(np.float64)
    order = np.lexsort((vals, cols))
    cols, vals = cols[order], vals[order]
    first = np.ones(cols.size, bool)
    first[1:] = (cols[1:] != cols[:-1]) | (vals[1:] != vals[:-1])
    cols, vals = cols[first], vals[first]
    feats = np.unique(cols)
    sets = [known_sets[j] for j in feats]
    kc = np.repeat(feats, [len(u) for u in sets])
    allc, allv = np.concatenate([kc, cols]), np.concatenate(sets + [vals])
    order = np.lexsort((np.arange(allc.size) >= kc.size, allv, allc))  # known pairs sort first
    c, v = allc[order], allv[order]
    new = order >= kc.size
    new[1:] &= (c[1:] != c[:-1]) | (v[1:] != v[:-1])
    c, v = c[new], v[new]
    cut = np.flatnonzero(np.diff(c)) + 1
    return {int(g[0]): u for g, u in zip(np.split(c, cut), np.split(v, cut))} if c.size else {}


INT_SPAN = 1 << 16  # integer features spanning fewer values are counted, not sorted
_EMPTY = np.empty(0)


def _unique_finite(col: np.ndarray) -> np.ndarray:
    u = np.unique(col).astype(np.float64)
    return u[np.isfinite(u)] if col.dtype.kind == "f" else u


def _distinct_by_counts(x: np.ndarray, st: PartialStats, cols: np.ndarray) -> None:
    """Distinct values of all-finite integer features with small ranges, via one bincount."""
    lo = st.min[cols]
    span = (st.max[cols] - lo).astype(np.int64) + 1
    off = np.concatenate([[0], np.cumsum(span)[:-1]])
    seen = np.zeros(int(span.sum()), np.int64)
    slab = max(1, (1 << 21) // len(cols))
    for r in range(0, len(x), slab):
        idx = (x[r:r + slab, cols] - lo).astype(np.int64)
        idx += off
        seen += np.bincount(idx.ravel(), minlength=len(seen))
    for i, j in enumerate(cols):
        u = lo[i] + np.flatnonzero(seen[off[i]:off[i] + span[i]]).astype(np.float64)
        st.n_distinct_seen[j] = len(u)
        st.distinct[j] = u if len(u) <= st.cap else None

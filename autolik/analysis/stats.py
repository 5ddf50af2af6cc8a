"""Mergeable partial statistics of a 2-D array, vectorised across features.

A :class:`PartialStats` summarises rows of an (n_samples, n_features) array: counts of finite,
NaN and +-inf values, min/max, mean and central moment sums up to order 4, zeros, whether every
value is an integer, strict monotonicity, and the distinct values of each feature (exact up to a
cap, then flagged). Two summaries of disjoint row sets merge exactly (``a.merge(b)``), so chunks of
a memory-mapped file, or workers, combine into the statistics of the whole array.

Moments merge with the pairwise formulas of Chan, Golub & LeVeque (1979), "Updating formulae and a
pairwise algorithm for computing sample variances", extended to third and fourth order by Pebay
(2008), "Formulas for robust, one-pass parallel computation of covariances and arbitrary-order
statistical moments" (Sandia SAND2008-6212). Running totals are float64. Within a chunk, each
column is shifted by K (the mean of its first rows) and the power sums of ``x - K`` are taken in
one fused pass (:mod:`autolik.analysis.kernel`), in the working dtype over blocks of 256 rows and
promoted to float64 per block; columns where that would lose precision are redone in float64.
"""
from __future__ import annotations

import copy

import numpy as np

from autolik.analysis import kernel
from autolik.analysis.kernel import Sums
from autolik.analysis.lattice import grid_step, lattice_params

CAP = 4096  # distinct values tracked exactly per feature


def work_dtype(dtype: np.dtype) -> np.dtype:
    """float32 for data it represents exactly (float16/32, bool, 8/16-bit ints), else float64."""
    dtype = np.dtype(dtype)
    small = dtype.kind == "b" or (dtype.kind in "iuf" and dtype.itemsize <= 2) or dtype == np.float32
    return np.dtype(np.float32 if small else np.float64)


class PartialStats:
    """Statistics of a set of rows, per feature (every array attribute has shape (n_features,)).

    Attributes:
        n_rows: rows seen. count / n_nan / n_posinf / n_neginf / n_zero: value counts.
        min, max: over finite values (+inf / -inf while none seen).
        mean, m2, m3, m4: mean and central moment sums ``sum((x - mean)**k)`` of finite values.
        integer: every finite value is an integer. increasing / decreasing: strictly monotone rows.
        first, last: the first and last row's values (for merging monotonicity).
        distinct: per feature, the sorted finite distinct values (float64), or None once over ``cap``.
        n_distinct_seen: distinct count (exact while tracked; a lower bound once over the cap).
    """

    def __init__(self, n_features: int, cap: int = CAP):
        d = int(n_features)
        self.n_features, self.cap, self.n_rows = d, int(cap), 0
        self.eps = float(np.finfo(np.float64).eps)
        for name in ("count", "n_nan", "n_posinf", "n_neginf", "n_zero", "n_distinct_seen"):
            setattr(self, name, np.zeros(d, np.int64))
        self.min, self.max = np.full(d, np.inf), np.full(d, -np.inf)
        self.mean, self.m2, self.m3, self.m4 = (np.zeros(d) for _ in range(4))
        self.integer, self.increasing, self.decreasing = (np.ones(d, bool) for _ in range(3))
        self.first, self.last = np.full(d, np.nan), np.full(d, np.nan)
        self.distinct: list[np.ndarray | None] = [np.empty(0)] * d
        self._lattice: dict = {}  # feature -> recent lattice entries: see lattice.lattice_params

    # ------------------------------------------------------------------ construction
    @classmethod
    def of(cls, x, cap: int = CAP, hint: "PartialStats | None" = None) -> "PartialStats":
        """Statistics of ``x``, array-like of shape (n_rows, n_features) (1-D: one feature).

        ``hint``: running statistics of other rows; checks they have settled (over the cap, not
        integer, not monotone) are skipped, so the result is only meant to be merged into them.
        """
        x = np.asarray(x)
        x = x.reshape(len(x), -1)
        return _chunk_stats(x, hint if hint is not None else cls(x.shape[1], cap))

    def update(self, x) -> "PartialStats":
        """Absorb rows ``x`` of shape (m, n_features) in place; returns self.

        Features already known to be over the distinct cap, non-integer or non-monotone skip
        those checks on the new rows (the merged result is the same).
        """
        x = np.asarray(x)
        self._absorb(_chunk_stats(x.reshape(len(x), -1), self))
        return self

    def merge(self, other: "PartialStats") -> "PartialStats":
        """Statistics of the union of both row sets (``self`` rows first); neither input changes."""
        if other.n_features != self.n_features:
            raise ValueError(f"cannot merge statistics of {self.n_features} and {other.n_features} features")
        out = copy.copy(self)
        for k, v in vars(self).items():
            if isinstance(v, np.ndarray):
                setattr(out, k, v.copy())
        out.distinct = list(self.distinct)
        return out._absorb(other)

    # ------------------------------------------------------------------ merging
    def _absorb(self, b: "PartialStats", distinct: bool = True) -> "PartialStats":
        a = self
        if b.n_rows == 0:
            return a
        if a.n_rows == 0:
            a.first = b.first.copy()
            a.increasing, a.decreasing = b.increasing.copy(), b.decreasing.copy()
        else:
            a.increasing &= b.increasing & (a.last < b.first)
            a.decreasing &= b.decreasing & (a.last > b.first)
        a.last = b.last.copy()
        with np.errstate(all="ignore"):
            na, nb = a.count.astype(np.float64), b.count.astype(np.float64)
            n = na + nb
            nn = np.maximum(n, 1.0)
            delta = b.mean - a.mean
            both = (na > 0) & (nb > 0)
            d_n = np.where(both, delta / nn, 0.0)
            mean = np.where(na > 0, a.mean + d_n * nb, b.mean)
            m2 = a.m2 + b.m2 + delta * d_n * na * nb
            m3 = (a.m3 + b.m3 + d_n * d_n * delta * na * nb * (na - nb)
                  + 3.0 * d_n * (na * b.m2 - nb * a.m2))
            m4 = (a.m4 + b.m4 + d_n ** 3 * delta * na * nb * (na * na - na * nb + nb * nb)
                  + 6.0 * d_n * d_n * (na * na * b.m2 + nb * nb * a.m2) + 4.0 * d_n * (na * b.m3 - nb * a.m3))
        a.mean, a.m2, a.m3, a.m4 = mean, m2, m3, m4
        for k in ("count", "n_nan", "n_posinf", "n_neginf", "n_zero"):
            setattr(a, k, getattr(a, k) + getattr(b, k))
        np.minimum(a.min, b.min, out=a.min)
        np.maximum(a.max, b.max, out=a.max)
        a.integer &= b.integer
        a.n_rows += b.n_rows
        a.eps = max(a.eps, b.eps)
        if distinct:
            a._absorb_distinct(b)
        return a

    def _absorb_distinct(self, b: "PartialStats") -> None:
        for j in range(self.n_features):
            u, v = self.distinct[j], b.distinct[j]
            if u is None or v is None:
                self.n_distinct_seen[j] = max(self.n_distinct_seen[j], b.n_distinct_seen[j])
                self.distinct[j] = None
                continue
            if v is u or v.size == 0:
                continue
            w = _union(u, v) if u.size else v
            if len(w) == len(u):
                continue  # nothing new: keep the same object (its lattice entry stays cached)
            self.n_distinct_seen[j] = len(w)
            self.distinct[j] = w if len(w) <= self.cap else None

    # ------------------------------------------------------------------ derived values
    @property
    def over_cap(self) -> np.ndarray:
        return np.array([u is None for u in self.distinct])

    @property
    def variance(self) -> np.ndarray:
        """Population variance (ddof=0) of the finite values; NaN without values."""
        with np.errstate(all="ignore"):
            var = np.where(self.count > 0, self.m2 / self.count, np.nan)
        return np.where(self.max == self.min, 0.0, var)

    def _flat(self) -> np.ndarray:
        """Features whose spread is at rounding level: higher moments are undefined there."""
        scale = np.maximum(np.abs(self.min), np.abs(self.max))
        with np.errstate(all="ignore"):
            return ~(self.variance > (64 * self.eps * scale) ** 2)

    @property
    def skewness(self) -> np.ndarray:
        """Sample skewness m3 / m2**1.5 (biased, as ``scipy.stats.skew``); NaN when flat."""
        with np.errstate(all="ignore"):
            g1 = np.sqrt(self.count) * self.m3 / self.m2 ** 1.5
        return np.where(self._flat(), np.nan, g1)

    @property
    def kurtosis(self) -> np.ndarray:
        """Excess kurtosis m4 / m2**2 - 3 (biased, as ``scipy.stats.kurtosis``); NaN when flat."""
        with np.errstate(all="ignore"):
            g2 = self.count * self.m4 / self.m2 ** 2 - 3.0
        return np.where(self._flat(), np.nan, g2)

    @property
    def n_distinct(self) -> np.ndarray:
        return np.array([self.n_distinct_seen[j] if u is None else len(u) for j, u in enumerate(self.distinct)])

    def grid_steps(self) -> list[float | None]:
        """Lattice step per feature (see :func:`grid_step`); 1.0 for integers beyond the cap."""
        out = []
        for j, u in enumerate(self.distinct):
            if u is None:
                out.append(1.0 if self.integer[j] and self.count[j] else None)
            else:
                out.append(grid_step(u, integer=bool(self.integer[j]), eps=self.eps))
        return out


# ---------------------------------------------------------------------- the per-chunk pass


def _chunk_stats(x: np.ndarray, hint: PartialStats) -> PartialStats:
    """Statistics of the rows of x (m, d); ``hint`` (running totals) prunes settled checks."""
    return ChunkPass(x, hint).run().finish()


class ChunkPass:
    """The statistics of one chunk in three steps: ``ChunkPass(x, hint).run().finish()``.

    One fused pass (:class:`autolik.analysis.kernel.Sums`, in :meth:`run`) gives counts,
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
        st = self.st = PartialStats(d, hint.cap)
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
    acc = PartialStats(d)
    rows = max(1, SLAB_BYTES // (8 * len(cols)))
    for r in range(0, len(x), rows):
        acc._absorb(_slow_stats(x[r:r + rows, cols].astype(np.float64), cols, d), distinct=False)
    for name in ("mean", "m2", "m3", "m4"):
        getattr(st, name)[cols] = getattr(acc, name)[cols]


def _slow_stats(y: np.ndarray, idx: np.ndarray, d: int) -> PartialStats:
    """Columns ``idx`` (y: (b, len(idx)) float64) with NaN/inf or extreme spread, masked and
    scaled by a power of two so fourth powers stay in range; other columns stay empty."""
    out = PartialStats(d)
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
    recorded off it that are not in the known set (only meaningful merged into the totals). Integer features with a small range are counted with one
    ``bincount`` over all of them; others use ``np.unique``, first on a prefix of the rows so
    continuous features leave the tracking after sorting only ``1.25 * cap`` values.
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
        for j, u in _group(*_unknown(*recorded, known_sets)).items():
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


def _unknown(cols: np.ndarray, vals: np.ndarray, known_sets: list) -> tuple[np.ndarray, np.ndarray]:
    """The (feature, value) pairs whose value is not in that feature's known set (one sort)."""
    if not cols.size:
        return cols, vals
    cols, vals = _dedup(cols, vals.astype(np.float64))
    feats = np.unique(cols)
    sets = [known_sets[j] for j in feats]
    kc = np.repeat(feats, [len(u) for u in sets])
    allc, allv = np.concatenate([kc, cols]), np.concatenate(sets + [vals])
    order = np.lexsort((np.arange(allc.size) >= kc.size, allv, allc))  # known pairs sort first
    c, v = allc[order], allv[order]
    new = order >= kc.size
    new[1:] &= (c[1:] != c[:-1]) | (v[1:] != v[:-1])  # a recorded pair equal to a known one follows it
    return c[new], v[new]


def _dedup(cols: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (feature, value) pairs, sorted by feature then value."""
    order = np.lexsort((vals, cols))
    cols, vals = cols[order], vals[order]
    keep = np.ones(cols.size, bool)
    keep[1:] = (cols[1:] != cols[:-1]) | (vals[1:] != vals[:-1])
    return cols[keep], vals[keep]


def _union(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sorted distinct values of two sorted distinct arrays (``np.union1d`` without its overhead)."""
    w = np.concatenate((u, v))
    w.sort()
    keep = np.empty(w.size, bool)
    keep[0] = True
    np.not_equal(w[1:], w[:-1], out=keep[1:])
    return w[keep]


def _group(cols: np.ndarray, vals: np.ndarray) -> dict[int, np.ndarray]:
    """Feature -> sorted distinct values, from parallel arrays of features and values."""
    if not cols.size:
        return {}
    cols, vals = _dedup(cols, vals.astype(np.float64))
    cut = np.flatnonzero(np.diff(cols)) + 1
    return {int(g[0]): v for g, v in zip(np.split(cols, cut), np.split(vals, cut))}


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

"""Mergeable partial statistics of a 2-D array, vectorised across features.

A :class:`PartialStats` summarises rows of an (n_samples, n_features) array: counts of finite,
NaN and +-inf values, min/max, mean and central moment sums up to order 4, zeros, whether every
value is an integer, strict monotonicity, and the distinct values of each feature (exact up to a
cap, then flagged). Two summaries of disjoint row sets merge exactly (``a.merge(b)``), so chunks of
a memory-mapped file, or workers, combine into the statistics of the whole array.

Moments merge with the pairwise formulas of Chan, Golub & LeVeque (1979), "Updating formulae and a
pairwise algorithm for computing sample variances", extended to third and fourth order by Pebay
(2008), "Formulas for robust, one-pass parallel computation of covariances and arbitrary-order
statistical moments" (Sandia SAND2008-6212). Running totals are float64. Within a block of at most
``BLOCK_ROWS`` rows, float32 data is centred on the block mean and its power sums are taken in
float32 (cache-sized, a few hundred terms), then promoted; float64 data stays float64.
"""
from __future__ import annotations

import copy
import threading

import numpy as np

CAP = 4096  # distinct values tracked exactly per feature
BLOCK_ROWS = 1024  # rows per block: temporaries stay in cache, float32 partial sums stay short
BLOCK_BYTES = 1 << 20
# spreads for which fourth powers of deviations neither overflow nor underflow in the working dtype
_F32_SAFE, _F64_SAFE = (1e-8, 1e8), (1e-70, 1e70)


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
        self._lattice: dict = {}  # feature -> (distinct array, _LatticeEntry): see _lattice_plan

    # ------------------------------------------------------------------ construction
    @classmethod
    def of(cls, x, cap: int = CAP, hint: "PartialStats | None" = None) -> "PartialStats":
        """Statistics of ``x``, array-like of shape (n_rows, n_features) (1-D: one feature).

        ``hint``: running statistics of other rows (see :meth:`hints`); checks they have settled
        (over the cap, not integer, not monotone) are skipped, so the result is only meant to be
        merged into them.
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

    def hints(self) -> "PartialStats":
        """A frozen copy of the settled checks (flags, distinct sets) to hand to a worker."""
        h = copy.copy(self)
        h.integer, h.increasing, h.decreasing = self.integer.copy(), self.increasing.copy(), self.decreasing.copy()
        h.n_distinct_seen, h.distinct = self.n_distinct_seen.copy(), list(self.distinct)
        return h

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
            w = np.union1d(u, v) if u.size else v
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


# ---------------------------------------------------------------------- lattice detection


def grid_step(values, integer: bool = False, eps: float = np.finfo(np.float64).eps,
              max_points: float = 1e6) -> float | None:
    """The step h of the lattice the sorted distinct ``values`` sit on (a robust float gcd).

    Integers give their gcd (1 for counts, 255 for {0, 255}). Other values use Euclid's
    algorithm on the distinct differences with a tolerance of a few ulps of the largest value,
    then check every value lies within tolerance of ``v0 + k h``. Returns None with fewer than two
    values, or when the "lattice" would need more than ``max_points`` points (continuous data).

    Args:
        values: sorted distinct finite values, array of shape (k,).
        integer: all values are integers (use the exact integer gcd).
        eps: machine epsilon of the data's precision (float32 data needs a looser tolerance).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        d = np.diff(v)
        span = v[-1] - v[0]
    if not np.isfinite(span):
        return None
    if integer and span < 2.0 ** 62:
        return float(np.gcd.reduce(d.astype(np.int64)))
    scale = max(abs(v[0]), abs(v[-1]))
    tol = 16 * eps * scale + np.finfo(np.float64).tiny
    diffs = np.unique(d)
    g = float(diffs[0])
    for x in diffs[1:256]:
        a, b = float(x), g
        while b > tol:
            r = a % b
            if r > b - tol:
                r = 0.0
            a, b = b, r
        g = a
        if g <= 64 * tol:
            return None
    span = v[-1] - v[0]
    if g <= 64 * tol or span / g > max_points:
        return None
    k = np.rint((v - v[0]) / g)
    if np.max(np.abs(v - v[0] - k * g)) > 8 * tol + 1e-9 * g:
        return None
    return float(span / k[-1])


# ---------------------------------------------------------------------- the per-chunk kernel

_local = threading.local()


def _buffers(rows: int, d: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Two reusable (rows, d) work arrays per thread (fresh allocations would page-fault)."""
    key = (rows, d, np.dtype(dtype).str)
    if getattr(_local, "key", None) != key:
        _local.key, _local.bufs = key, (np.empty((rows, d), dtype), np.empty((rows, d), dtype))
    return _local.bufs


def _chunk_stats(x: np.ndarray, hint: PartialStats) -> PartialStats:
    """Statistics of the rows of x (m, d); ``hint`` (running totals) prunes settled checks.

    Columns are shifted by one value K per chunk (the first block's mean) and power sums of ``x - K`` accumulate block by block; columns with NaN/inf, or a spread
    whose fourth power would leave the working dtype's range, go through a masked float64 path.
    """
    m, d = x.shape
    wdt = work_dtype(x.dtype)
    st = PartialStats(d, hint.cap)
    st.n_rows = m
    st.eps = max(float(np.finfo(wdt).eps), float(np.finfo(x.dtype).eps) if x.dtype.kind == "f" else 0.0)
    if hint.n_rows:
        st.integer = hint.integer.copy()
        st.increasing, st.decreasing = hint.increasing.copy(), hint.decreasing.copy()
    st.first, st.last = x[0].astype(np.float64), x[-1].astype(np.float64)
    check_int = x.dtype.kind == "f"
    lo, hi = _F32_SAFE if wdt == np.float32 else _F64_SAFE
    sums, cnt, zeros = np.zeros((4, d)), np.zeros(d, np.int64), np.zeros(d, np.int64)
    slow = PartialStats(d)
    rows = int(min(BLOCK_ROWS, max(16, BLOCK_BYTES // max(1, d * wdt.itemsize))))
    buf1, buf2 = _buffers(rows, d, wdt)
    k = None
    plan = _lattice_plan(hint, wdt) if hint.n_rows and x.dtype == wdt else None
    for b0 in range(0, m, rows):
        xb = x[b0:b0 + rows]
        xb = xb.astype(wdt) if xb.dtype != wdt else xb
        b = xb.shape[0]
        with np.errstate(all="ignore"):
            mn, mx = xb.min(0), xb.max(0)
            if k is None:
                k = _shift(xb, mn, mx, wdt)
            spread = np.maximum(mx - k, k - mn).astype(np.float64)
            ok = (spread <= hi) & ((spread >= lo) | (spread == 0))
            if plan is not None:
                plan.block(xb, mn, mx, ok, buf1, buf2)
            dev = np.subtract(xb, k, out=buf1[:b])
            sq = np.multiply(dev, dev, out=buf2[:b])
            part = (dev.sum(0), sq.sum(0), np.einsum("ij,ij->j", sq, dev), np.einsum("ij,ij->j", sq, sq))
        z = np.add.reduce(np.equal(xb, 0).view(np.uint8), axis=0, dtype=np.uint16)
        if ok.all():
            sums += part
            cnt += b
            zeros += z
            np.minimum(st.min, mn, out=st.min)
            np.maximum(st.max, mx, out=st.max)
        else:
            sums += np.where(ok, part, 0.0)
            cnt += np.where(ok, b, 0)
            zeros += np.where(ok, z, 0)
            np.minimum(st.min, np.where(ok, mn, np.inf), out=st.min)
            np.maximum(st.max, np.where(ok, mx, -np.inf), out=st.max)
            bad = np.flatnonzero(~ok)
            slow._absorb(_slow_stats(xb[:, bad].astype(np.float64), bad, d), distinct=False)
            st.integer[bad] &= slow.integer[bad]
        if check_int:
            cand = np.flatnonzero(st.integer & ok)
            if cand.size:
                xc = xb if cand.size == d else xb[:, cand]
                st.integer[cand] = np.logical_and.reduce(np.rint(xc) == xc, axis=0)
        mono = np.flatnonzero(st.increasing | st.decreasing)
        if mono.size:
            xm = xb if mono.size == d else xb[:, mono]
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN (not monotone); 1e308 - -1e308 is inf (sign kept)
                dx = np.diff(np.vstack([x[b0 - 1, mono].astype(wdt), xm]) if b0 else xm, axis=0)
            st.increasing[mono] &= np.logical_and.reduce(dx > 0, axis=0)
            st.decreasing[mono] &= np.logical_and.reduce(dx < 0, axis=0)
    redo = _unstable(st, _finish_sums(st, sums, cnt, zeros, k))
    if redo.size:  # the shift was far from these columns' mean: recompute them exactly
        _reset(st, redo)
        _reset(slow, redo)
        slow._absorb(_slow_stats(x[:, redo].astype(np.float64), redo, d), distinct=False)
    if slow.n_rows:
        _merge_moments(st, slow)
    _chunk_distinct(x, st, hint, plan)
    return st


def _shift(xb: np.ndarray, mn, mx, wdt) -> np.ndarray:
    """Per-column shift: the first block's mean (its midrange where that is not finite)."""
    with np.errstate(all="ignore"):
        k = xb.sum(0, dtype=np.float64) / len(xb)
        mid = np.where(np.isfinite(mn) & np.isfinite(mx), mn / 2 + mx / 2, 0.0)
        return np.nan_to_num(np.where(np.isfinite(k), k, mid)).astype(wdt)


def _finish_sums(st: PartialStats, sums, cnt, zeros, k) -> np.ndarray:
    """Power sums of x - K over the fast blocks -> count, mean, central moment sums; returns mean - K."""
    n = cnt.astype(np.float64)
    s1, s2, s3, s4 = sums
    with np.errstate(all="ignore"):
        a = np.where(n > 0, s1 / np.maximum(n, 1), 0.0)
        st.count, st.n_zero = cnt, zeros
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


def _reset(st: PartialStats, cols: np.ndarray) -> None:
    for name in ("count", "n_nan", "n_posinf", "n_neginf", "n_zero"):
        getattr(st, name)[cols] = 0
    st.min[cols], st.max[cols] = np.inf, -np.inf
    st.mean[cols] = st.m2[cols] = st.m3[cols] = st.m4[cols] = 0.0


def _merge_moments(a: PartialStats, b: PartialStats) -> None:
    """Chan/Pebay merge of b's counts and moments into a (rows and flags left to the caller)."""
    keep = {k: copy.copy(getattr(a, k)) for k in ("n_rows", "integer", "increasing", "decreasing", "first", "last")}
    a.n_rows = 1  # non-empty, so _absorb takes the merge branch; flags are restored below
    a._absorb(b, distinct=False)
    for k, v in keep.items():
        setattr(a, k, v)


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


def _chunk_distinct(x: np.ndarray, st: PartialStats, hint: PartialStats, plan: "_LatticePlan | None" = None) -> None:
    """Distinct finite values per feature for this chunk; settled features are skipped.

    Integer features with a small range are counted with one ``bincount`` over all of them;
    others use ``np.unique``, first on a prefix of the rows so continuous features leave the
    tracking after sorting only ``1.25 * cap`` values.
    """
    counted, sorted_ = [], []
    for j in range(st.n_features):
        known = hint.distinct[j] if hint.n_rows else np.empty(0)
        if known is None:
            st.distinct[j] = None
            st.n_distinct_seen[j] = hint.n_distinct_seen[j]
        elif _covers(known, st, j):
            st.distinct[j] = known
            st.n_distinct_seen[j] = len(known)
        elif plan is not None and plan.settle(j, known, st):
            pass
        elif st.integer[j] and st.count[j] == len(x) and -INT_SPAN < st.min[j] <= st.max[j] < st.min[j] + INT_SPAN:
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


INT_SPAN = 1 << 16  # integer features spanning fewer values are counted, not sorted


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


def _covers(known: np.ndarray, st: PartialStats, j: int) -> bool:
    """Known values are every integer in [lo, hi] and this chunk's integers lie in that range."""
    return bool(known.size and st.integer[j] and st.count[j] and known[-1] - known[0] + 1 == known.size
                and st.min[j] >= known[0] and st.max[j] <= known[-1])


# ---------------------------------------------------------------------- lattice membership
#
# Once a feature's running distinct set is known (<= cap values), later chunks only need the
# values that are *not* already in it. When that set is a complete lattice -- every integer in
# [a, b], or every point v0 + k h, k = 0..K -- a value x in [a, b] is in it exactly when it is an
# integer (checked anyway), or when the lattice point nearest to it, rebuilt in the data's own
# precision by a formula verified against every known value, equals x. Both tests run inside the
# moment kernel's block loop while the block is in cache, the second on a contiguous copy of the
# columns that share one lattice. Only values outside [a, b] or off the lattice are sorted; the
# chunk's set is then ``known | new``, which merges into the running set exactly as the chunk's
# own set would (``known`` is already part of it). Anything else keeps the per-chunk path.


def _core_run(pos: np.ndarray) -> tuple[int, int]:
    """Index range [i, e) of the longest run of consecutive integers in sorted ``pos``."""
    if pos.size < 2:
        return 0, pos.size
    cut = np.flatnonzero(np.diff(pos) != 1) + 1
    starts = np.concatenate([[0], cut])
    stops = np.concatenate([cut, [pos.size]])
    i = int(np.argmax(stops - starts))
    return int(starts[i]), int(stops[i])


def _lattice_entry(known: np.ndarray, wdt: np.dtype):
    """Membership test for ``known`` (sorted distinct float64 values of data in dtype wdt):
    ("range", a, b) when [a, b] is its longest run of consecutive integers, ("grid", a, b, v0,
    inv_h, divisor, step) when [a, b] is its longest run of consecutive lattice points, else None.
    Values outside [a, b] are always sorted; a run shorter than half the set is not used."""
    kw = known.astype(wdt)
    if not np.array_equal(kw.astype(np.float64), known) or not np.all(np.isfinite(kw)):
        return None
    integral = bool(np.all(np.rint(known) == known))
    if integral and max(abs(known[0]), abs(known[-1])) < 2.0 ** 24:
        i, e = _core_run(known)
        if 2 * (e - i) >= known.size:
            return ("range", kw[i], kw[e - 1])
    if known.size < 2:
        return None
    h = grid_step(known, integer=integral, eps=float(np.finfo(wdt).eps))
    if not h:
        return None
    i, e = _core_run(np.rint((known - known[0]) / h))
    if 2 * (e - i) < known.size or e - i < 2:
        return None
    core = kw[i:e]
    one = wdt.type(1)
    ks = np.arange(core.size).astype(wdt)
    with np.errstate(all="ignore"):  # a subnormal step overflows 1/h: inf, and the check below fails
        v0, inv_h = core[0], one / wdt.type(h)
        if not np.array_equal(np.rint((core - v0) * inv_h), ks):
            return None  # the index map must send each known value to its own lattice point
        den = np.rint(1.0 / h)
        for divisor, step in ((wdt.type(den), one), (one, wdt.type(h))):
            if divisor > 0 and np.array_equal(ks * step / divisor + v0, core):
                return ("grid", core[0], core[-1], v0, inv_h, divisor, step)
    return None


class _LatticePlan:
    """Per-chunk membership tests for the features whose tracked distinct set has a lattice core."""

    def __init__(self, wdt, range_cols, range_a, range_b, grids):
        self.js: list[np.ndarray] = []  # feature of each collected value
        self.vals: list[np.ndarray] = []  # values not known to be in the running set
        self.fallback: set[int] = set()
        self.range_cols = np.asarray(range_cols, np.int64)
        self.range_a, self.range_b = np.array(range_a, wdt), np.array(range_b, wdt)
        self.handled = set(int(j) for j in self.range_cols)
        self.range_set = set(self.handled)
        self.groups = []
        for key, (cols, a, b) in grids.items():
            cols = np.asarray(cols, np.int64)
            run = cols[-1] - cols[0] + 1 == cols.size
            sel = slice(int(cols[0]), int(cols[-1]) + 1) if run else cols
            self.groups.append((sel, cols, np.array(a, wdt), np.array(b, wdt)) + key)
            self.handled.update(int(j) for j in cols)
        self.new: dict[int, np.ndarray] | None = None

    def _outside(self, xb, cols, a, b, mn, mx, ok) -> None:
        """Collect the values outside [a, b] of columns whose block min/max leave it (columns
        with NaN/inf in the block are handed to the exact path)."""
        okc = ok[cols]
        if not okc.all():
            self.fallback.update(int(j) for j in cols[~okc])
        out = np.flatnonzero(((mn[cols] < a) | (mx[cols] > b)) & okc)
        if out.size == 1:
            i = int(out[0])
            col = xb[:, cols[i]]
            v = col[(col < a[i]) | (col > b[i])]
            self.js.append(np.full(v.size, cols[i]))
            self.vals.append(v)
        elif out.size:
            xo = xb[:, cols[out]]
            r, c = np.nonzero((xo < a[out]) | (xo > b[out]))
            self.js.append(cols[out][c])
            self.vals.append(xo[r, c])

    def block(self, xb, mn, mx, ok, s1, s2) -> None:
        if self.range_cols.size:
            self._outside(xb, self.range_cols, self.range_a, self.range_b, mn, mx, ok)
        nb = xb.shape[0]
        for sel, cols, a, b, v0, inv_h, divisor, step in self.groups:
            self._outside(xb, cols, a, b, mn, mx, ok)
            xg = s1.reshape(-1)[:nb * cols.size].reshape(nb, cols.size)
            if isinstance(sel, slice):
                np.copyto(xg, xb[:, sel])
            else:
                np.take(xb, sel, axis=1, out=xg)
            t = s2.reshape(-1)[:xg.size].reshape(xg.shape)
            if v0:
                np.subtract(xg, v0, out=t)
                t *= inv_h
            else:
                np.multiply(xg, inv_h, out=t)
            np.rint(t, out=t)
            if step != 1:
                t *= step
            if divisor != 1:
                t /= divisor
            if v0:
                t += v0
            eq = np.equal(t, xg)
            if not eq.all():
                r, c = np.nonzero(~eq)
                self.js.append(cols[c])
                self.vals.append(xg[r, c])

    def _collect(self) -> dict:
        """Feature -> sorted distinct finite values collected over the chunk."""
        if not self.js:
            return {}
        js, vals = np.concatenate(self.js), np.concatenate(self.vals).astype(np.float64)
        fin = np.isfinite(vals)
        js, vals = js[fin], vals[fin]
        order = np.lexsort((vals, js))
        js, vals = js[order], vals[order]
        keep = np.ones(js.size, bool)
        keep[1:] = (js[1:] != js[:-1]) | (vals[1:] != vals[:-1])
        js, vals = js[keep], vals[keep]
        cut = np.flatnonzero(np.diff(js)) + 1
        return {int(g[0]): v for g, v in zip(np.split(js, cut), np.split(vals, cut))}

    def settle(self, j: int, known: np.ndarray, st: PartialStats) -> bool:
        """Set the chunk's distinct set of feature j from ``known`` and the new values; False to
        leave j to the exact per-chunk path (not planned, fell back, or over the cap)."""
        if j not in self.handled or j in self.fallback or (j in self.range_set and not st.integer[j]):
            return False
        if self.new is None:
            self.new = self._collect()
        u = self.new.get(j)
        w = np.union1d(known, u) if u is not None else known
        if len(w) > st.cap:
            return False
        st.distinct[j] = w
        st.n_distinct_seen[j] = len(w)
        return True


def _lattice_plan(hint: PartialStats, wdt: np.dtype) -> "_LatticePlan | None":
    """Membership tests for hint's tracked distinct sets (entries cached per set on ``hint``)."""
    cache = hint.__dict__.setdefault("_lattice", {})
    wdt = np.dtype(wdt)
    rc, ra, rb, grids = [], [], [], {}
    for j, known in enumerate(hint.distinct):
        if known is None or known.size == 0:
            continue
        e = cache.get(j)
        if e is None or e[0] is not known or e[1] != wdt.str:
            e = (known, wdt.str, _lattice_entry(known, wdt))
            cache[j] = e
        ent = e[2]
        if ent is None:
            continue
        if ent[0] == "range":
            rc.append(j)
            ra.append(ent[1])
            rb.append(ent[2])
        else:
            g = grids.setdefault(tuple(ent[3:]), ([], [], []))
            g[0].append(j)
            g[1].append(ent[1])
            g[2].append(ent[2])
    if not rc and not grids:
        return None
    return _LatticePlan(wdt, rc, ra, rb, grids)

"""Mergeable partial statistics of a 2-D array, vectorised across features.

A :class:`PartialStats` summarises rows of an (n_samples, n_features) array: counts of finite,
NaN and +-inf values, min/max, mean and central moment sums up to order 4, zeros, whether every
value is an integer, strict monotonicity, and the distinct values of each feature (exact up to a
cap, then flagged). Two summaries of disjoint row sets merge exactly (``a.merge(b)``; a list of them
in row order: :func:`merge_all`), so chunks of a memory-mapped file, worker processes or
torch.distributed ranks combine into the statistics of the whole array; they pickle without their
per-process cache.

Moments merge with the pairwise formulas of Chan, Golub & LeVeque (1979), "Updating formulae and a
pairwise algorithm for computing sample variances", extended to third and fourth order by Pebay
(2008), "Formulas for robust, one-pass parallel computation of covariances and arbitrary-order
statistical moments" (Sandia SAND2008-6212). Running totals are float64. Within a chunk, each
column is shifted by K (the mean of its first rows) and the power sums of ``x - K`` are taken in
one fused pass (:mod:`autolik.analysis.profiling.kernel`), in the working dtype over blocks of 256 rows and
promoted to float64 per block; columns where that would lose precision are redone in float64
(:mod:`autolik.analysis.profiling.chunk` computes one chunk's statistics).
"""
from __future__ import annotations

import copy

import numpy as np

from autolik.analysis.profiling.kernel import work_dtype  # noqa: F401  (the pass's working dtype; also imported from here)
from autolik.analysis.profiling.lattice import grid_step

CAP = 4096  # distinct values tracked exactly per feature


class PartialStats:
    """Statistics of a set of rows, per feature (every array attribute has shape (n_features,)).

    Attributes:
        n_rows: rows seen. count / n_nan / n_posinf / n_neginf / n_zero: value counts.
        min, max: over finite values (+inf / -inf while none seen).
        mean, m2, m3, m4: mean and central moment sums ``sum((x - mean)**k)`` of finite values.
        integer: every finite value is an integer. increasing / decreasing: strictly monotone rows.
        first, last: the first and last row's values (for merging monotonicity).
        distinct: per feature, the sorted finite distinct values (float64), or None once over ``cap``.
        n_distinct_seen: distinct count (exact while tracked; ``cap + 1`` once over the cap: how many
            values were seen before the set was dropped depends on the chunking, so that count is
            not kept, and summaries of any split of the rows merge to the same value).
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
        from autolik.analysis.profiling.chunk import chunk_stats

        x = np.asarray(x)
        x = x.reshape(len(x), -1)
        return chunk_stats(x, hint if hint is not None else cls(x.shape[1], cap))

    def update(self, x) -> "PartialStats":
        """Absorb rows ``x`` of shape (m, n_features) in place; returns self.

        Features already known to be over the distinct cap, non-integer or non-monotone skip
        those checks on the new rows (the merged result is the same).
        """
        from autolik.analysis.profiling.chunk import chunk_stats

        x = np.asarray(x)
        self._absorb(chunk_stats(x.reshape(len(x), -1), self))
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

    def __getstate__(self) -> dict:
        """Pickled without the lattice cache: it only speeds up this process's next chunk, and
        what a worker process or a torch.distributed rank sends should be the statistics alone."""
        state = dict(vars(self))
        state.pop("_lattice", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lattice = {}

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
                self.n_distinct_seen[j] = self.cap + 1
                self.distinct[j] = None
                continue
            if v is u or v.size == 0:
                continue
            w = _union(u, v) if u.size else v
            if len(w) == len(u):
                continue  # nothing new: keep the same object (its lattice entry stays cached)
            self.n_distinct_seen[j] = min(len(w), self.cap + 1)
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


def merge_all(parts) -> PartialStats:
    """Statistics of the union of the row sets summarised by ``parts``, in the order given.

    The order is the rows' order (shard 0 first, or rank 0 first: a torch.distributed job passes
    the list gathered from all ranks); only the monotone flags depend on it. The result equals
    one pass over all the rows exactly for counts, min/max, integer and monotone flags and
    distinct sets (``cap + 1`` beyond the cap), and to float64 rounding of the pairwise merges
    for the moments. The parts are left unchanged; parts with no rows are skipped.

    Raises:
        ValueError: no parts, or parts with different numbers of features or distinct caps.
    """
    parts = list(parts)
    if not parts:
        raise ValueError("merge_all needs at least one PartialStats")
    d, cap = parts[0].n_features, parts[0].cap
    for p in parts:
        if (p.n_features, p.cap) != (d, cap):
            raise ValueError(f"cannot merge statistics of {d} features (cap {cap}) with {p.n_features} features "
                             f"(cap {p.cap}); every part must summarise the same columns")
    acc = PartialStats(d, cap)
    for p in parts:
        acc._absorb(p)
    return acc


def _union(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sorted distinct values of two sorted distinct arrays (``np.union1d`` without its overhead)."""
    w = np.concatenate((u, v))
    w.sort()
    keep = np.empty(w.size, bool)
    keep[0] = True
    np.not_equal(w[1:], w[:-1], out=keep[1:])
    return w[keep]

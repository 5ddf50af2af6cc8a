"""The fused per-column pass of the profile: power sums, min/max and value counts of a chunk.

:func:`accumulate` adds the statistics of the rows of ``x`` to running arrays (see
:class:`Sums`). It runs the C kernel ``_kernel.c`` when the package was built with it (the default
with a C compiler) and otherwise :func:`accumulate_numpy`, the reference implementation of the same
contract, which is what the tests hold the kernel to. ``AUTOLIK_KERNEL=numpy`` forces the numpy
path. Both accumulate over blocks of :data:`BLOCK` rows in the data's dtype (float32 data: short
float32 sums, promoted to float64 per block) and read each value once per block.

A finite value v of a column in use is on its lattice ``(a, b, v0, inv_h, step, divisor)`` when
``a <= v <= b`` and ``rint((v - v0) * inv_h) * step / divisor + v0 == v`` in the data's dtype:
the nearest lattice point, rebuilt in the data's own precision, is v itself (see
:func:`autolik.analysis.profiling.lattice.lattice_entry`). An integer range [a, b] is the lattice
(a, b, 0, 1, 1, 1). The (column, value) pairs of finite values off the lattice are recorded (up to
:data:`OUT_CAP` of them), so a running set of distinct values whose lattice is known only has to
absorb those.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

try:
    from autolik.analysis.profiling import _kernel
except ImportError:  # built without a C compiler
    _kernel = None

BLOCK = 256  # rows per block of short sums in the data's dtype (as in _kernel.c)
SLAB_BYTES = 4 << 20  # numpy path: bytes of rows per step
OUT_CAP = 1 << 16  # off-lattice values recorded per Sums
COUNTS = ("nan", "posinf", "neginf", "zero", "nonint", "off_lattice")


def work_dtype(dtype: np.dtype) -> np.dtype:
    """float32 for data it represents exactly (float16/32, bool, 8/16-bit ints), else float64."""
    dtype = np.dtype(dtype)
    small = dtype.kind == "b" or (dtype.kind in "iuf" and dtype.itemsize <= 2) or dtype == np.float32
    return np.dtype(np.float32 if small else np.float64)


def backend() -> str:
    """``"c"`` when the compiled kernel is in use, else ``"numpy"`` (also when AUTOLIK_KERNEL=numpy)."""
    return "c" if _kernel is not None and os.environ.get("AUTOLIK_KERNEL", "").lower() != "numpy" else "numpy"


@dataclass
class Sums:
    """Running per-column statistics of the finite values of rows in one dtype (float32 or float64).

    Attributes:
        k: (d,) the shift; ``sums[p - 1]`` is the sum of (x - k)**p over finite values, p = 1..4.
        lo, hi: (d,) min / max of the finite values (+inf / -inf before any).
        counts: (6, d) int64, rows named by :data:`COUNTS`: NaN, +inf, -inf, zeros, finite
            non-integers (counted only when ``check_int``), finite values off the lattice.
        lattice: (7, d) rows a, b, v0, inv_h, step, divisor, use (1: test the column);
            only columns ``j0:j1`` are read.
        n_off: finite values off the lattice; :meth:`off_lattice` lists them while n_off <= OUT_CAP.
    """

    k: np.ndarray
    lattice: np.ndarray
    j0: int = 0
    j1: int = 0
    check_int: bool = False

    def __post_init__(self):
        self.k = np.ascontiguousarray(self.k)
        d, dt = self.k.shape[0], self.k.dtype
        if dt not in (np.float32, np.float64):
            raise ValueError(f"Sums works in float32 or float64, not {dt}")
        self.lattice = np.ascontiguousarray(self.lattice, dt)
        self.lo, self.hi = np.full(d, np.inf, dt), np.full(d, -np.inf, dt)
        self.sums = np.zeros((4, d))
        self.counts = np.zeros((len(COUNTS), d), np.int64)
        self.n_off = 0
        self._out_j, self._out_v = np.empty(OUT_CAP, np.int64), np.empty(OUT_CAP, dt)

    def count(self, name: str) -> np.ndarray:
        return self.counts[COUNTS.index(name)]

    def add(self, x: np.ndarray) -> "Sums":
        """Absorb the rows of ``x`` (m, d), which must have this dtype; returns self."""
        x = np.ascontiguousarray(x)
        if x.dtype != self.k.dtype:
            raise ValueError(f"rows of dtype {x.dtype} added to {self.k.dtype} sums")
        fn = _kernel.accumulate if backend() == "c" else accumulate_numpy
        if len(x):
            room = min(self.n_off, OUT_CAP)
            self.n_off += fn(x, self.k, self.lattice, self.j0, self.j1, self.check_int, self.lo, self.hi,
                             self.sums, self.counts, self._out_j[room:], self._out_v[room:])
        return self

    def split(self, parts: int) -> list["Sums"]:
        """``parts`` empty copies (same shift and lattice) for disjoint row ranges; see :meth:`absorb`."""
        return [Sums(self.k, self.lattice, self.j0, self.j1, self.check_int) for _ in range(parts)]

    def absorb(self, other: "Sums") -> "Sums":
        """Add the statistics of other rows summed with the same shift and lattice; returns self."""
        np.fmin(self.lo, other.lo, out=self.lo)
        np.fmax(self.hi, other.hi, out=self.hi)
        self.sums += other.sums
        self.counts += other.counts
        recorded = other.off_lattice()
        room = max(0, OUT_CAP - self.n_off)
        if recorded is not None and room:
            take = min(room, other.n_off)
            self._out_j[self.n_off:self.n_off + take] = recorded[0][:take]
            self._out_v[self.n_off:self.n_off + take] = recorded[1][:take]
        self.n_off += other.n_off if recorded is not None else OUT_CAP + 1
        return self

    def off_lattice(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(columns, values) of the finite values off the lattice, or None when over OUT_CAP."""
        if self.n_off > OUT_CAP:
            return None
        return self._out_j[:self.n_off], self._out_v[:self.n_off]


def accumulate_numpy(x, k, lattice, j0, j1, check_int, lo, hi, sums, counts, out_j, out_v) -> int:
    """The kernel's contract in numpy (see the module docstring and ``_kernel.c``); updates in place
    and returns the number of finite values off the lattice (the first ``len(out_j)`` recorded)."""
    n_out = 0
    m, d = x.shape
    dt = x.dtype.type
    # tracked columns in two groups: integer ranges (v0 = 0, inv_h = step = divisor = 1: the test
    # is a <= v <= b and rint(v) == v) and other lattices (the whole formula)
    cols = np.arange(j0, j1)[lattice[6, j0:j1] != 0]
    unit = np.all(lattice[2:6, cols] == np.array([[0], [1], [1], [1]], lattice.dtype), axis=0)
    groups = [(g, lattice[:6, g], is_range) for g, is_range in ((cols[unit], True), (cols[~unit], False)) if g.size]
    # slabs of whole blocks (~4 MB, so temporaries stay small), each summed as a (q, BLOCK, d)
    # array; the tail as one more block
    slab = BLOCK * max(1, SLAB_BYTES // (BLOCK * d * x.itemsize))
    whole = m - m % BLOCK
    bounds = [(r, min(r + slab, whole)) for r in range(0, whole, slab)] + [(whole, m)]
    for r0, r1 in bounds:
        xb = x[r0:r1]
        if not len(xb):
            continue
        q = max(1, (r1 - r0) // BLOCK)
        with np.errstate(all="ignore"):
            fin = np.isfinite(xb)
            clean = bool(fin.all())  # the common case: no NaN or inf in the slab
            dev = xb - k if clean else np.where(fin, xb - k, dt(0))
            sq = dev * dev
            for p, t in enumerate((dev, sq, sq * dev, sq * sq)):
                sums[p] += t.reshape(q, -1, d).sum(1, dtype=x.dtype).sum(0, dtype=np.float64)
            np.fmin(lo, (xb if clean else np.where(fin, xb, dt(np.inf))).min(0), out=lo)
            np.fmax(hi, (xb if clean else np.where(fin, xb, dt(-np.inf))).max(0), out=hi)
            if not clean:
                counts[0] += _count(np.isnan(xb))
                counts[1] += _count(xb == np.inf)
                counts[2] += _count(xb == -np.inf)
            counts[3] += _count(xb == 0)
            if check_int:
                nonint = np.rint(xb) != xb
                counts[4] += _count(nonint if clean else fin & nonint)
            for g, (a, b, v0, inv_h, step, divisor), is_range in groups:
                v = xb[:, g]
                t = np.rint(v) if is_range else np.rint((v - v0) * inv_h) * step / divisor + v0
                off = ~((v >= a) & (v <= b) & (t == v))
                if not clean:
                    off &= fin[:, g]
                hit = np.flatnonzero(np.logical_or.reduce(off, axis=0))
                if hit.size:
                    counts[5, g[hit]] += _count(off[:, hit])
                    r, c = np.nonzero(off[:, hit])
                    c = hit[c]
                    room = max(0, len(out_j) - n_out)
                    out_j[n_out:n_out + min(room, r.size)] = g[c[:room]]
                    out_v[n_out:n_out + min(room, r.size)] = v[r[:room], c[:room]]
                    n_out += r.size
    return n_out


def _count(mask: np.ndarray) -> np.ndarray:
    """Column sums of a boolean (m, d) mask, added as bytes into the narrowest exact integer
    (uint16 for fewer than 65,536 rows: ~3.5x faster than int64)."""
    dtype = np.uint16 if mask.shape[0] < 1 << 16 else np.int64
    return np.add.reduce(mask.view(np.uint8), axis=0, dtype=dtype)

"""Lattices: the grid step of a set of values, and a membership test for a known set of them.

:func:`grid_step` finds the step h of the lattice ``v0 + k h`` that values sit on (1/255 for 8-bit
pixels scaled to [0, 1], 0.01 for prices in cents, 1 for counts): a tolerant float gcd.

Once a feature's running set of distinct values is known (at most the cap), later chunks only need
the values that are *not* already in it. When the set has a core of consecutive lattice points
[a, b] (every integer in [a, b], or every point v0 + k h between them), a finite value v is in
the core exactly when a <= v <= b and the lattice point nearest to it, rebuilt in the data's own
precision, is v: ``rint((v - v0) * inv_h) * step / divisor + v0 == v``. :func:`lattice_entry`
finds the core and checks that formula reproduces each of its points exactly;
:mod:`autolik.analysis.profiling.kernel` evaluates it on every value in the fused pass and records the
values that fail it, and the chunk's set is then ``known | recorded``.
"""
from __future__ import annotations

import numpy as np


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


def _core_run(pos: np.ndarray) -> tuple[int, int]:
    """Index range [i, e) of the longest run of consecutive integers in sorted ``pos``."""
    if pos.size < 2:
        return 0, pos.size
    cut = np.flatnonzero(np.diff(pos) != 1) + 1
    starts = np.concatenate([[0], cut])
    stops = np.concatenate([cut, [pos.size]])
    i = int(np.argmax(stops - starts))
    return int(starts[i]), int(stops[i])


def lattice_entry(known: np.ndarray, wdt: np.dtype) -> tuple | None:
    """The membership test ``(a, b, v0, inv_h, step, divisor)`` (values of dtype ``wdt``) for
    ``known``, the sorted distinct float64 values of data of dtype ``wdt``; None without a core.

    An integer core [a, b] is ``(a, b, 0, 1, 1, 1)``. The core is the longest run of consecutive
    integers or lattice points; a run shorter than half the set is not used.
    """
    wdt = np.dtype(wdt)
    kw = known.astype(wdt)
    if known.size == 0 or not np.array_equal(kw.astype(np.float64), known) or not np.all(np.isfinite(kw)):
        return None
    one, zero = wdt.type(1), wdt.type(0)
    integral = bool(np.all(np.rint(known) == known))
    if integral and max(abs(known[0]), abs(known[-1])) < 2.0 ** 24:
        i, e = _core_run(known)
        if 2 * (e - i) >= known.size:
            return (kw[i], kw[e - 1], zero, one, one, one)
    if known.size < 2:
        return None
    h = grid_step(known, integer=integral, eps=float(np.finfo(wdt).eps))
    if not h:
        return None
    i, e = _core_run(np.rint((known - known[0]) / h))
    if 2 * (e - i) < known.size or e - i < 2:
        return None
    core = kw[i:e]
    ks = np.arange(core.size).astype(wdt)
    with np.errstate(all="ignore"):  # a subnormal step overflows 1/h: inf, and the check below fails
        v0, inv_h = core[0], one / wdt.type(h)
        if not np.array_equal(np.rint((core - v0) * inv_h), ks):
            return None  # the index map must send each known value to its own lattice point
        den = np.rint(1.0 / h)
        for divisor, step in ((wdt.type(den), one), (one, wdt.type(h))):
            if divisor > 0 and np.array_equal(ks * step / divisor + v0, core):
                return (core[0], core[-1], v0, inv_h, step, divisor)
    return None


def lattice_params(distinct: list, wdt: np.dtype, cache: dict) -> tuple[np.ndarray, int, int, np.ndarray]:
    """Membership tests for the tracked distinct sets ``distinct`` (None or array per feature).

    Returns ``(params, j0, j1, tracked)``: params (7, d) of dtype wdt, the rows of
    :func:`lattice_entry` and a last row ``use`` (1 where there is an entry), the column range
    j0:j1 holding every entry, and the boolean mask of features that have one. ``cache`` holds
    each feature's last entry (see :func:`_entry`).
    """
    wdt = np.dtype(wdt)
    d = len(distinct)
    last = cache.get("last")  # the previous call's sets and result: only changed sets are looked at
    if last is not None and last[0] == wdt.str and len(last[1]) == d:
        params, tracked = last[2].copy(), last[3].copy()
        changed = [j for j in range(d) if distinct[j] is not last[1][j]]
    else:
        params, tracked = np.zeros((7, d), wdt), np.zeros(d, bool)
        params[3:6] = 1
        changed = range(d)
    for j in changed:
        known = distinct[j]
        entry = _entry(cache, j, known, wdt) if known is not None and known.size else None
        params[:6, j] = entry if entry is not None else (0, 0, 0, 1, 1, 1)
        tracked[j] = entry is not None
    params[6] = tracked
    cache["last"] = (wdt.str, list(distinct), params.copy(), tracked.copy())
    cols = np.flatnonzero(tracked)
    j0, j1 = (int(cols[0]), int(cols[-1]) + 1) if cols.size else (0, 0)
    return params, j0, j1, tracked


def _entry(cache: dict, j: int, known: np.ndarray, wdt: np.dtype) -> tuple | None:
    """Feature j's lattice entry, reused while it stays valid for ``known``.

    A core is a valid membership test for any set that contains all of its points, so a set that
    grew (new tail values, as counts gain in later chunks) keeps its entry: the check is that
    the values of ``known`` within [a, b] are exactly the cached core. The entry is recomputed
    when the set has grown by a quarter (its core may have grown too), and for a set without
    one whenever it changes (a set filling in may gain a core). No entry (None) is always
    safe: the feature then takes the exact per-chunk path.
    """
    hit = cache.get(j)
    if hit is not None and hit[1] == wdt.str:
        src, _, entry, core, size = hit
        if src is known:
            return entry
        if entry is not None and len(known) < 1.25 * size + 1 and _holds(known, core):
            cache[j] = (known,) + hit[1:]
            return entry
    entry = lattice_entry(known, wdt)
    core = None
    if entry is not None:
        i, e = np.searchsorted(known, float(entry[0])), np.searchsorted(known, float(entry[1]), side="right")
        core = known[i:e].copy()
    cache[j] = (known, wdt.str, entry, core, len(known))
    return entry


def _holds(known: np.ndarray, core: np.ndarray) -> bool:
    """The sorted set ``known`` has exactly the values ``core`` between core[0] and core[-1]."""
    i, e = np.searchsorted(known, core[0]), np.searchsorted(known, core[-1], side="right")
    return bool(e - i == core.size and np.array_equal(known[i:e], core))

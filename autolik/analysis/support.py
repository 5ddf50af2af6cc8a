"""Support class of each feature: what values it can take, decided from the streaming profile.

Classes (``FeatureProfile.support``):

========================  ==================================================================
``constant``              one distinct value (or none: an all-missing feature); left out
``binary``                exactly two distinct values in any coding (0/1, -1/+1, 0/255, yes/no)
``categorical``           string levels, or a column of a one-hot block
``bounded_integer``       integers on a known small range (0..16, 0..255, a 1..10 rating), or a
                          string column with many sparse levels, as its sorted level codes
``count``                 non-negative integers with no natural upper bound
``unit_interval``         continuous values in [0, 1]
``bounded``               continuous values on another known interval (clipped, or 0..100 %)
``positive``              continuous values > 0 whose lower bound matters
``real``                  anything else (including a Gaussian far from zero)
``identifier``            a row id (a monotone index, unique keys) or a text column with a level for every second value (names, free text); left out
``datetime``              date/time strings; reported and left out
========================  ==================================================================

The decisions use only the profile's statistics and its row sample, never file names.
Bounds are *known* bounds (a value mass sitting on the range ends, 8-bit 255, percentages, a
density that stays flat up to both ends), not guesses: a count's largest value is a rare tail value, a bounded scale's largest value is
a level the data keeps hitting. Image batches (and wide 2-D arrays that share one lattice
domain, such as flattened pixels) are pooled: every feature gets the pooled support, constant
border pixels included.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autolik.families import WIDE_LEVELS

SUPPORTS = ("constant", "binary", "categorical", "bounded_integer", "count", "unit_interval",
            "bounded", "positive", "real", "identifier", "datetime")

#: supports that carry no information for the model and are left out of it
LEFT_OUT = ("constant", "identifier", "datetime")

# thresholds, named so the rules read as sentences
MIN_ID_ROWS = 20  # an identifier needs at least this many rows to be recognised
# A string column with at least this many distinct levels per value is row keys, names or free
# text: most of its levels are seen once, so no categorical over them can be learned from the data
# (held-out rows bring levels the model never saw), and it is reported and left out.
ID_LEVEL_FRACTION = 0.5
# Between those and a categorical: a string column with more levels than a softmax is given over
# integers (families.WIDE_LEVELS) and fewer than MIN_ROWS_PER_LEVEL rows per level. A categorical
# learns each level's logit (and the encoder its one-hot weight) from that level's rows alone; with a
# few rows per level most held-out rows fall on levels seen a handful of times or never. Modelled over
# its sorted level codes 0..K-1, neighbouring codes share mass and the encoder reads one number.
# Measured (benchmarks/results/ordered_codes.md): on the 20 tables the threshold was read from, the
# codes won on 7 of 8 below it, were mixed from 5 to 9 rows per level and lost above; on 22 tables run
# after the rule was written, better on 20.
MIN_ROWS_PER_LEVEL = 5
EDGE_MASS = 0.005  # point mass at an end of the range that makes it a bound (0.5 %)
BOUND_TOP_RATIO = 0.5  # frequency at the max vs. one step below it, for a bound
MIN_TOP_COUNT = 5  # values on the max needed to call it a bound
MAX_BOUND_SKEW = 0.5  # right skew above this is a count's tail ...
BIG_TOP = 0.05  # ... unless this much mass sits on the max
UNDERDISPERSED = 0.8  # dispersion index below this: a bounded (binomial-like) integer
SMALL_SCALE = 11  # integers on at most this many levels that start above zero: a score (1..5, 1..10)
MAX_BOUNDED_RANGE = 255  # widest integer range still called "small"
HUGE_INTEGER = 1e4  # integers this large and mostly distinct are a continuous measurement
POSITIVE_CV = 0.25  # std/mean below this: zero is > 4 sd away, the lower bound does not matter
UNIT_MIN_SPAN = 0.1  # [0,1] data must reach at least this high to be "unit interval"
FLAT_EDGE = 0.02  # outer fraction of the range looked at for a flat edge ...
FLAT_DENSITY = 0.4  # ... which holds at least this fraction of a uniform's share there
FLAT_MIN_ROWS = 1000  # sampled values needed to call edges flat (a uniform puts 20 in each edge)
POOL_MIN_FEATURES = 16  # wide arrays on one lattice domain are pooled like images
POOLABLE = ("constant", "binary", "unit_interval", "bounded_integer", "bounded", "count")


@dataclass
class _View:
    """The statistics the rules read: one feature, or all features pooled."""

    dtype: str
    count: int
    min: float
    max: float
    mean: float
    std: float
    is_integer: bool
    n_distinct: int
    over_cap: bool
    grid_step: float | None
    dispersion: float | None
    values: np.ndarray  # finite sample values (may be empty)


def _finite(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def _view(f, values) -> _View:
    var = f.variance if np.isfinite(f.variance) else 0.0
    return _View(f.dtype, int(f.count), float(f.min), float(f.max), float(f.mean), float(np.sqrt(max(var, 0.0))),
                 bool(f.is_integer), int(f.n_distinct), bool(f.distinct_over_cap), f.grid_step,
                 f.dispersion_index, _finite(values))


def _frac_at(v: _View, x: float) -> float:
    if v.values.size == 0:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):  # +-1e308 minus x: inf, which is not <= tol
        tol = 1e-7 * max(abs(x), v.max - v.min)  # relative: float32 values, any scale (1e-9 or 1e9)
        return float(np.mean(np.abs(v.values - x) <= tol))


def _is_8bit(v: _View) -> bool:
    """0..255 is the known range when the data reaches 255, or is uint8 and uses its upper half;
    uint8 storage of a smaller scale (8x8 digits, 0..16) keeps its own range."""
    return v.is_integer and v.min >= 0 and v.max <= 255 and (v.max == 255 or (v.dtype == "uint8" and v.max > 127))


def _skew(x: np.ndarray) -> float:
    sd = x.std()
    return float(np.mean((x - x.mean()) ** 3) / sd ** 3) if x.size > 2 and sd > 0 else 0.0


def _has_top_bound(v: _View) -> bool:
    """The max is a level the data keeps hitting (a bound), not a rare tail value (a count).

    A bound: at least ``MIN_TOP_COUNT`` values sit on the max, not much fewer than one step
    below it, and the data is not a right-skewed tail (or the top mass is large).
    """
    step = v.grid_step or 1.0
    top, below = _frac_at(v, v.max), _frac_at(v, v.max - step)
    enough = top * v.values.size >= MIN_TOP_COUNT and top >= EDGE_MASS
    return enough and top >= BOUND_TOP_RATIO * below and (_skew(v.values) < MAX_BOUND_SKEW or top >= BIG_TOP)


def _integer_support(v: _View) -> tuple[str, dict]:
    lo, hi = int(round(v.min)), int(round(v.max))
    detail = {"low": lo, "high": hi, "step": 1}
    mostly_distinct = v.over_cap or v.n_distinct > 0.5 * max(v.count, 1)
    if max(abs(v.min), abs(v.max)) > HUGE_INTEGER and mostly_distinct:
        return _continuous_support(v)  # a measurement that happens to be whole, e.g. 1e9-scale
    if _is_8bit(v):
        return "bounded_integer", {"low": 0, "high": 255, "step": 1}
    if hi - lo > MAX_BOUNDED_RANGE:
        return _count_or_measurement(v, lo) if lo >= 0 else _continuous_support(v)
    if lo < 0:
        both = _frac_at(v, v.min) >= EDGE_MASS and _has_top_bound(v)
        return ("bounded_integer", detail) if both else _continuous_support(v)
    if _has_top_bound(v):
        return "bounded_integer", detail
    if lo >= 1 and hi - lo + 1 <= SMALL_SCALE:
        return "bounded_integer", detail  # a score on a fixed scale (1..5, 1..7, 1..10), not a count from 0
    if v.dispersion is not None and v.dispersion < UNDERDISPERSED and v.count >= 50 and v.mean > 0:
        return "bounded_integer", detail  # under-dispersed: binomial-like, bounded above
    return _count_or_measurement(v, lo)


def _count_or_measurement(v: _View, lo: int) -> tuple[str, dict]:
    """A count, unless zero is far away: integers whose sd is below ``POSITIVE_CV`` of their mean (zero more
    than 4 sd off; a flipper length in mm, a body mass in g) are a measurement on an integer grid. Their
    lower bound does not matter, as for continuous data, and a count family would tie their spread to the
    mean (a Poisson's variance is its mean), wider than the values given the latent code."""
    if lo >= 1 and v.mean > 0 and v.std < POSITIVE_CV * v.mean:
        return _continuous_support(v)
    return "count", {"low": lo, "step": 1}


def _continuous_support(v: _View) -> tuple[str, dict]:
    step = {"step": v.grid_step} if v.grid_step else {}
    if 0 <= v.min and v.max <= 1 and v.max >= UNIT_MIN_SPAN:
        return "unit_interval", {"low": 0.0, "high": 1.0, **step}
    clipped = v.values.size >= 50 and _piled(v, v.min, 1.0) and _piled(v, v.max, -1.0)
    percent = 0 <= v.min < 1 and 99 < v.max <= 100 and _frac_at(v, 100.0) > 0  # reaches 100: not a tail value
    if clipped or percent:
        lo, hi = (0.0, 100.0) if percent and not clipped else (v.min, v.max)
        return "bounded", {"low": lo, "high": hi, **step}
    flat = _flat_edges(v)
    if flat is not None:
        return "bounded", {"low": flat[0], "high": flat[1], **step}
    if v.min >= 0 and v.mean > 0 and v.std >= POSITIVE_CV * v.mean:
        # exact zeros (the profile's minimum, not a sample's) that no dequantisation moves off 0
        zeros = {"zeros": True} if v.min == 0 and not v.grid_step else {}
        return "positive", {"low": 0.0, **step, **zeros}
    return "real", step


def _piled(v: _View, end: float, inward: float) -> bool:
    """A point mass on an end of the range (a clipped or censored variable), not merely a
    sample's extreme value: at least ``EDGE_MASS`` and ``MIN_TOP_COUNT`` values sit on it, and
    for data on a lattice (rounded values repeat anyway) no fewer than on the next level inward."""
    top = _frac_at(v, end)
    if top < EDGE_MASS or top * v.values.size < MIN_TOP_COUNT:
        return False
    return not v.grid_step or top >= _frac_at(v, end + inward * v.grid_step)


def _flat_edges(v: _View) -> tuple[float, float] | None:
    """Bounds for data whose density stays up to both ends of its range, or None.

    A hard bound without point mass (a uniform, a truncated or a rescaled variable) shows as a
    flat edge: the outer ``FLAT_EDGE`` of the range holds about that fraction of the values. A
    tail (Gaussian, Gamma, anything that thins out) holds almost none there. Each bound is the
    nearest round value when the data comes as close to it as a flat edge would (``[0.0003,
    9.9996]`` -> ``[0, 10]``), else the extreme value moved out by the expected gap, so that the
    data lies strictly inside.
    """
    x, span = v.values, v.max - v.min
    if x.size < FLAT_MIN_ROWS or not np.isfinite(span) or span <= 0:
        return None
    w = FLAT_EDGE * span
    share = min(np.mean(x <= v.min + w), np.mean(x >= v.max - w))
    if share < FLAT_DENSITY * FLAT_EDGE:
        return None
    gap = span / max(v.count, 1)  # the expected distance from a flat edge's bound to the extreme
    e = int(np.floor(np.log10(span))) - 1  # round values: multiples of 10**e
    lo, hi = (_times_ten(np.floor(v.min / 10.0 ** e), e), _times_ten(np.ceil(v.max / 10.0 ** e), e))
    lo = float(lo) if v.min - lo <= 5 * gap else float(v.min - gap)
    hi = float(hi) if hi - v.max <= 5 * gap else float(v.max + gap)
    return lo, hi


def _times_ten(k: float, e: int) -> float:
    """k * 10**e, written as a division for e < 0 so that 73 x 0.1 prints as 7.3."""
    return float(k * 10.0 ** e) if e >= 0 else float(k / 10.0 ** -e)


def _classify(v: _View) -> tuple[str, dict]:
    if v.count == 0 or v.n_distinct <= 1 or v.min == v.max:
        value = None if v.count == 0 else v.min
        return "constant", {"value": value}
    if v.n_distinct == 2 and not v.over_cap:
        vals = np.unique(v.values) if v.values.size else np.array([v.min, v.max])
        vals = vals if vals.size == 2 else np.array([v.min, v.max])
        return "binary", {"values": [_py(x) for x in vals]}
    if v.is_integer:
        return _integer_support(v)
    return _continuous_support(v)


def _py(x):
    x = float(x)
    return int(x) if x.is_integer() else x


def _is_identifier(f, col: np.ndarray) -> bool:
    """Every value distinct and the values a strictly monotone integer index."""
    if f.count < MIN_ID_ROWS or not f.is_integer or f.n_missing:
        return False
    if not f.distinct_over_cap and f.n_distinct < f.count:
        return False
    mono = getattr(f, "monotonic", None)
    if mono is not None:  # the streaming profile checked every row
        return True
    col = _finite(col)
    if col.size < min(MIN_ID_ROWS, f.count):
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        d = np.diff(col)
    return bool((d > 0).all() or (d < 0).all())


def _string_support(f) -> tuple[str, dict]:
    levels = list((f.levels or {}).keys())
    n = len(levels) if levels else f.n_distinct
    if f.count == 0 or n <= 1:
        return "constant", {"value": levels[0] if levels else None}
    if n == 2:
        return "binary", {"values": levels}
    if f.count >= MIN_ID_ROWS and n >= ID_LEVEL_FRACTION * f.count:
        return "identifier", {"n_levels": n}
    if n > WIDE_LEVELS and f.count < MIN_ROWS_PER_LEVEL * n:
        return "bounded_integer", {"low": 0, "high": n - 1, "step": 1, "n_levels": n, "levels": levels,
                                   "ordered_codes": True, "rows_per_level": round(f.count / n, 2)}
    return "categorical", {"n_levels": n, "levels": levels}


def ordered_codes_reason(detail: dict) -> str:
    """Why a text column is a bounded integer (``detail["ordered_codes"]``): the rationale's and the notes' words."""
    return (f"a text column with {detail['n_levels']} levels and {detail['rows_per_level']:g} rows per level, "
            f"too few for a categorical to learn each level, modelled over its sorted level codes 0..{detail['high']}")


def classify_feature(f, column: np.ndarray | None = None) -> tuple[str, dict]:
    """Support class and detail of one feature.

    Args:
        f: a :class:`~autolik.analysis.profiling.profile.FeatureProfile`.
        column: the feature's values in the profile's row sample, array of shape (m,), or None.

    Returns:
        ``(support, support_detail)``, e.g. ``("bounded_integer", {"low": 0, "high": 255, "step": 1})``.
    """
    if f.is_datetime:
        return "datetime", {}
    if f.is_string:
        return _string_support(f)
    col = np.empty(0) if column is None else np.asarray(column, dtype=np.float64)
    if _is_identifier(f, col):
        return "identifier", {"low": _py(f.min), "high": _py(f.max)}
    return _classify(_view(f, col))


def _pooled_view(profile, feats) -> _View:
    """All features' values as one: the statistics of an image batch or a homogeneous block."""
    counts = np.array([f.count for f in feats], dtype=np.float64)
    n = counts.sum()
    means = np.array([f.mean if f.count else 0.0 for f in feats])
    variances = np.array([f.variance if f.count and np.isfinite(f.variance) else 0.0 for f in feats])
    mean = float((counts * means).sum() / max(n, 1))
    var = float((counts * (variances + (means - mean) ** 2)).sum() / max(n, 1))
    steps = [f.grid_step for f in feats if f.grid_step]
    distinct = set()
    over = any(f.distinct_over_cap or f.distinct_values is None for f in feats if f.count)
    for f in feats:
        distinct.update(f.distinct_values or [])
    values = profile.sample if profile.sample is not None else np.empty(0)
    present = [f for f in feats if f.count]
    disp = var / mean if mean > 0 and all(f.is_integer for f in present) else None
    return _View(present[0].dtype if present else "float64", int(n),
                 min(f.min for f in present) if present else np.nan,
                 max(f.max for f in present) if present else np.nan,
                 mean, float(np.sqrt(var)), all(f.is_integer for f in present),
                 max([len(distinct)] + [f.n_distinct for f in present]),
                 over, min(steps) if steps else None, disp, _finite(values))


def _poolable(profile, supports) -> bool:
    if any(f.is_string or f.is_datetime for f in profile.features):
        return False
    if profile.is_image:
        return True
    return len(profile.features) >= POOL_MIN_FEATURES and all(s in POOLABLE for s in supports)


def assign_supports(profile) -> None:
    """Fill ``support``/``support_detail`` of every feature, and ``homogeneous``/``constant_features``.

    Args:
        profile: a :class:`~autolik.analysis.profiling.profile.Profile` (mutated in place). Its ``sample``
            (array of shape (m, n_features)) supplies value frequencies; without it the rules fall
            back to the summary statistics alone.
    """
    feats = profile.features
    sample = profile.sample
    supports = []
    for j, f in enumerate(feats):
        col = sample[:, j] if sample is not None and sample.ndim == 2 and j < sample.shape[1] else None
        f.support, f.support_detail = classify_feature(f, col)
        supports.append(f.support)
    onehot = {c: blk for blk in (profile.onehot_blocks or []) for c in blk}
    for c, blk in onehot.items():
        feats[c].support = "categorical"
        feats[c].support_detail = {"onehot_block": list(blk), "n_levels": len(blk)}
    if not onehot and _poolable(profile, supports):
        pooled = _pooled_view(profile, feats)
        support, detail = _classify(pooled)
        if support not in ("constant", "identifier"):
            for f in feats:
                f.support, f.support_detail = support, {**detail, "pooled": True}
    used = [f.support for f in feats if f.support not in LEFT_OUT]
    profile.homogeneous = len(set(used)) <= 1 and not onehot
    profile.constant_features = [j for j, f in enumerate(feats) if f.support == "constant"]

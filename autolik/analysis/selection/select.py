"""Which family fits: quick maximum-likelihood fits on a sample, scored in comparable units.

The support (:mod:`autolik.analysis.support`) decides which families are allowed (those whose
spec lists it, :func:`autolik.families.candidates`); quick fits (:mod:`autolik.analysis.selection.fits`)
decide among them. Every family is scored by its **held-out mean log-likelihood per value in
the data's own units** (two-fold cross-fitting: fit on one half, score the other, and swap):

* discrete families give a log-mass of the integer (or level) value;
* continuous families on lattice data (integers, a 1/255 grid, values rounded to 0.01) are
  evaluated on uniformly dequantised values ``x + h u``, plus ``log h``: a lower bound on the
  log-mass of the lattice point (Theis et al., 2016), so a pmf and a density compare;
* the affine map into model space (:func:`model_transform`, the same one the recommendation
  uses) adds ``log|scale|``, so scores do not depend on the data's scale (1e9 or 1e-9).

The choice is the simplest family (fewest parameters) whose held-out score is not significantly
below the best one (paired difference within 2.5 standard errors, or under 1e-3 nats/value):
Poisson over a negative binomial that fits no better, Gaussian over Student-t on Gaussian data.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from autolik import families
from autolik.analysis.support import ordered_codes_reason
from autolik.families import DISCRETE_DOMAINS, WIDE_LEVELS
from autolik.transforms import FeatureTransform

#: wide integer ranges (more than ``families.WIDE_LEVELS`` levels): a softmax over every level is
#: too big; the families listed for ``families.WIDE_INTEGER`` (the [0,1] densities join, the
#: categorical leaves) are tried instead
SIGNIFICANT_Z = 2.5
MIN_GAIN = 1e-3
# A block of features with one support and range gets one family unless per-feature families do
# better held out by at least SPLIT_GAIN nats per value and SPLIT_Z standard errors.
SPLIT_Z = 3.0
SPLIT_GAIN = 0.01
WINSOR = 0.005  # paired differences are winsorised at these quantiles before testing (heavy tails)
MAX_VALUES = 4000
MAX_POOLED = 20000


def candidates(support: str, detail: dict) -> list[str]:
    """Families allowed for a support, simplest first (empty for left-out supports)."""
    if support == "bounded_integer" and detail.get("high", 0) - detail.get("low", 0) + 1 > WIDE_LEVELS:
        support = families.WIDE_INTEGER
    names = families.candidates(support)
    left_out = cannot_score(support, detail)
    return [n for n in names if n not in left_out]


def cannot_score(support: str, detail: dict | None) -> list[str]:
    """The support's families that cannot score its observed values: with exact zeros (counted over
    every row) those whose density is 0 or unbounded at 0 (``excludes_zero``)."""
    if not (detail or {}).get("zeros"):
        return []
    return [n for n in families.candidates(support) if families.family(n).excludes_zero]


def lattice_step(support: str, detail: dict) -> float:
    """The grid step of a feature's values in its original units, 0 for continuous data.

    Every discrete support has one, so that a continuous family on it is scored as a
    (dequantised) mass, never as a density at lattice points: integers and grids carry their
    ``step``, two-valued features the gap between their values, category codes and one-hot
    columns 1.
    """
    if detail.get("step"):
        return float(detail["step"])
    if support == "binary":
        values = detail.get("values") or []
        if len(values) == 2 and not isinstance(values[0], str):
            return abs(float(values[1]) - float(values[0])) or 1.0
        return 1.0
    if support == "categorical":
        return 1.0
    return 0.0


def location_scale(family: str, values, loc: float, spread: float) -> tuple[float, float]:
    """(loc, spread) to standardise a feature with: the mean and sd given, or for the families in
    heavy tails (``robust_scale`` in their spec) the median and IQR / 1.349 of the sample ``values``
    (the sd of a normal): their tails inflate the sd, and the bulk would sit at a tiny fraction of
    the model-space unit that their learned scale starts from."""
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if not families.family(family).robust_scale or x.size < 4:
        return loc, spread
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    iqr = (q3 - q1) / 1.349
    return float(med), float(iqr) if iqr > 0 else spread


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def model_transform(support: str, detail: dict, family: str, loc: float, spread: float,
                    lo: float, hi: float, preprocessing: str | None = None) -> tuple[FeatureTransform, dict]:
    """The affine map of one feature into the family's model space, and the family's options.

    Args:
        support, detail: the feature's support class and ``support_detail``.
        family: registry name of the likelihood.
        loc, spread: the feature's mean and standard deviation (for standardising).
        lo, hi: the feature's observed minimum and maximum.
        preprocessing: ``"minmax" | "standardize" | "none"`` to force the map, else None.

    Returns:
        ``(transform, options)``: ``transform.step`` is the lattice step (dequantisation for
        continuous families); options hold e.g. ``{"total_count": n}`` or ``{"n_levels": K}``.
    """
    step = lattice_step(support, detail)
    domain = families.family(family).domain
    spread = spread if spread and np.isfinite(spread) and spread > 0 else 1.0
    if preprocessing in ("minmax", "standardize", "none"):
        width_step = 0.0 if domain in DISCRETE_DOMAINS else step  # a mass needs no room for dequantisation
        t = _forced_transform(preprocessing, step, width_step, loc, spread, lo, hi)
        return t, _options(family, domain, detail, lo, hi, step)
    if support == "binary" and "values" in detail and not isinstance(detail["values"][0], str):
        a, b = detail["values"]
        t = FeatureTransform(a, 1.0 / (b - a), step, True, _affine_desc(a, b - a, binary=True))
    elif support == "categorical" or (support == "binary" and domain in ("binary", "levels")):
        t = FeatureTransform(0.0, 1.0, step, True, "levels -> codes" if "levels" in detail or support == "binary"
                             else ("one-hot" if "onehot_block" in detail else "none"))
    elif domain == "unit":
        t = _unit_transform(support, detail, step, lo, hi)
    elif domain in ("levels", "count", "binary"):
        t = _lattice_transform(detail, step, lo)
    elif domain == "positive":
        shift = 0.0 if lo >= 0 else lo - step - 1e-3 * spread
        t = FeatureTransform(shift, 1.0 / spread, step, True, _affine_desc(shift, spread))
    elif support in ("unit_interval", "bounded", "bounded_integer", "binary"):
        t = _unit_transform(support, detail, step, lo, hi)
    else:
        t = FeatureTransform(loc, 1.0 / spread, step, True, _affine_desc(loc, spread))
    return t, _options(family, domain, detail, lo, hi, step)


def _affine_desc(shift, width, binary=False):
    if shift == 0 and width == 1:
        return "none"
    if binary and shift == -1 and width == 2:
        return "{-1,+1} -> {0,1}"
    moved = "x" if shift == 0 else (f"(x - {_fmt(shift)})" if shift > 0 else f"(x + {_fmt(-shift)})")
    return moved.strip("()") if width == 1 else f"{moved}/{_fmt(width)}"


def _unit_transform(support, detail, step, lo, hi) -> FeatureTransform:
    low = float(detail.get("low", lo))
    high = float(detail.get("high", hi))
    if support == "bounded_integer":
        step = step or 1.0
    width = (high - low) + step  # dequantised values x + h u stay inside [low, high + h)
    if width <= 0:
        width = 1.0
    desc = _affine_desc(low, width) + (f" after adding U(0,{_fmt(step)})" if step else "")
    return FeatureTransform(low, 1.0 / width, step, True, desc)


def _lattice_transform(detail, step, lo) -> FeatureTransform:
    low = float(detail.get("low", lo if np.isfinite(lo) else 0.0))
    low = low if low < 0 or "high" in detail else 0.0
    scale = 1.0 / step if step and step != 1.0 else 1.0
    desc = _affine_desc(low, 1.0 / scale)
    return FeatureTransform(low, scale, step, True, desc)


def _forced_transform(kind, step, width_step, loc, spread, lo, hi) -> FeatureTransform:
    if kind == "standardize":
        return FeatureTransform(loc, 1.0 / spread, step, True, _affine_desc(loc, spread))
    if kind == "minmax":
        width = (hi - lo) + width_step if hi > lo else 1.0
        return FeatureTransform(lo, 1.0 / width, step, True, _affine_desc(lo, width))
    return FeatureTransform(0.0, 1.0, step, True, "none")


def _options(family, domain, detail, lo, hi, step) -> dict:
    """The level count a family on levels takes: ``n_levels`` for one that declares it (categorical),
    else ``total_count`` (binomial-type families); nothing on other domains."""
    if domain != "levels":
        return {}
    if "onehot_block" in detail:
        return {"n_levels": len(detail["onehot_block"]), "onehot": True}
    if "n_levels" in detail:
        k = int(detail["n_levels"])
    elif "values" in detail:
        k = 2
    else:
        low, high = float(detail.get("low", lo)), float(detail.get("high", hi))
        k = int(round((high - low) / (step or 1.0))) + 1
    k = max(k, 2)
    return {"n_levels": k} if "n_levels" in families.family(family).options else {"total_count": k - 1}


@dataclass
class FamilyScore:
    """One family's fit: parameters and held-out log-likelihood of every value (data units)."""

    name: str
    params: dict
    ll: np.ndarray  # shape (n_values,)
    n_params: int

    @property
    def score(self) -> float:
        return float(np.mean(self.ll))


@dataclass
class Selection:
    """Ranked families for one feature (or a pooled block). ``ranked`` is best score first."""

    chosen: str | None
    ranked: list[FamilyScore] = field(default_factory=list)
    confidence: float = 1.0
    n_values: int = 0
    acceptable: list[str] = field(default_factory=list)  # families within noise of the best
    note: str = ""  # how a block-wide choice overrode (or kept) this feature's own choice
    passed_over: str | None = None  # the simpler family within noise set aside: its spread is fixed by its mean

    def alternatives(self) -> list[dict]:
        return [{"likelihood": s.name, "score": round(s.score, 5)} for s in self.ranked]

    def get(self, name: str) -> FamilyScore | None:
        return next((s for s in self.ranked if s.name == name), None)


def _subsample(x: np.ndarray, cap: int, rng) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size > cap:
        x = x[rng.choice(x.size, cap, replace=False)]
    return rng.permutation(x)


def score_families(values, support: str, detail: dict, families: list[str] | None = None,
                   seed: int = 0, cap: int = MAX_VALUES) -> dict[str, FamilyScore]:
    """Fit every allowed family to ``values`` (array of any shape, pooled) and score it held out.

    Returns a mapping family -> :class:`FamilyScore`; families whose fit fails or gives a
    non-finite score on these values are left out.
    """
    rng = np.random.default_rng(seed)
    x = _subsample(values, cap, rng)
    families = candidates(support, detail) if families is None else families
    if x.size < 4 or not families:
        return {}
    u = rng.random(x.size)
    loc, spread = float(x.mean()), float(x.std())
    half = x.size // 2
    out = {}
    for fam in families:
        try:
            out[fam] = _score_one(fam, x, u, half, support, detail, loc, spread)
        except (ValueError, FloatingPointError, ZeroDivisionError, OverflowError):
            continue
        if not np.all(np.isfinite(out[fam].ll)):
            del out[fam]
    return out


def _score_one(fam, x, u, half, support, detail, loc, spread) -> FamilyScore:
    t, opts = model_transform(support, detail, fam, loc, spread, float(x.min()), float(x.max()))
    spec = families.family(fam)
    if spec.discrete:
        y = np.round((x - t.shift) * t.scale)
        jac = 0.0
    else:
        y = (x + t.step * u - t.shift) * t.scale
        jac = np.log(abs(t.scale)) + (np.log(t.step) if t.step > 0 else 0.0)
    n = opts.get("total_count", opts.get("n_levels", 2) - 1)
    with np.errstate(all="ignore"):
        pa, ll_b = spec.quick_fit(y[:half], y[half:], n=n)
        _, ll_a = spec.quick_fit(y[half:], y[:half], n=n)
    return FamilyScore(fam, {k: (float(v) if np.ndim(v) == 0 and not isinstance(v, str) else v)
                             for k, v in pa.items()}, np.concatenate([ll_a, ll_b]) + jac, spec.count_params(opts))


def combine(tables: list[dict[str, FamilyScore]]) -> dict[str, FamilyScore]:
    """Join per-feature score tables into one (families present in every table), for a joint choice."""
    if not tables:
        return {}
    names = [n for n in tables[0] if all(n in t for t in tables)]
    return {n: FamilyScore(n, tables[0][n].params, np.concatenate([t[n].ll for t in tables]),
                           tables[0][n].n_params) for n in names}


def paired_gap(d: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of paired held-out log-likelihood differences, winsorised at
    ``WINSOR`` and ``1 - WINSOR``.

    A few values far in a heavy tail (Student-t data under a Gaussian fit lose thousands of nats
    each) blow up the plain standard error until every family looks "within noise" of the best;
    winsorising keeps the test's power there and changes nothing on well-behaved differences.
    """
    d = np.asarray(d, dtype=np.float64)
    if d.size == 0:
        return 0.0, 1e-12
    lo, hi = np.quantile(d, [WINSOR, 1 - WINSOR])
    w = np.clip(d, lo, hi)
    return float(w.mean()), float(w.std() / np.sqrt(d.size)) + 1e-12


def saturated(s: FamilyScore) -> bool:
    """A categorical (a ``saturated`` family) over K >= 3 levels: the saturated model of those levels.

    It has K - 1 parameters; where that is no more than a family it ties with (a beta-binomial or
    discretised logistic on 3 levels: 2 each), it nests that family at no extra cost, so it is the
    one to keep: given the latent code the VAE can use the shapes the two-parameter family cannot
    reach. On 2 levels it is the Bernoulli itself, kept in its one-logit form.
    """
    return families.family(s.name).saturated and s.n_params >= 2


def choose(table: dict[str, FamilyScore]) -> Selection:
    """Pick the simplest family whose held-out score is not significantly below the best.

    Simplest: fewest parameters (a categorical counts K - 1), then a saturated categorical before
    a family with as many parameters, then the better held-out score, then the order listed.
    """
    if not table:
        return Selection(None)
    ranked = sorted(table.values(), key=lambda s: -s.score)
    best = ranked[0]

    def within_noise(s):
        mean, se = paired_gap(best.ll - s.ll)
        return mean <= max(SIGNIFICANT_Z * se, MIN_GAIN)

    ok = [s for s in ranked if within_noise(s)]
    # equal scores (a Bernoulli and a 2-level categorical are one distribution) keep the listed order
    simplest = (lambda s: (s.n_params, not saturated(s), -round(s.score, 9), list(table).index(s.name)))
    # The VAE fits p(x | z), narrower than the marginal these fits see: a family whose spread is free
    # comes before the simplest one if that one's spread is set by its mean (FamilySpec.fixed_spread),
    # when freeing the spread costs at most the one parameter that holds it (a Beta for a continuous
    # Bernoulli).
    passed = min(ok, key=simplest)
    free = [s for s in ok if not families.family(s.name).fixed_spread and s.n_params <= passed.n_params + 1]
    chosen = min(free, key=simplest) if families.family(passed.name).fixed_spread and free else passed
    others = [s for s in ranked if s is not chosen and np.abs(s.ll - chosen.ll).max() > 1e-9]
    if not others:
        conf = 0.99
    else:
        d = chosen.ll - others[0].ll
        z = d.mean() / (d.std() / np.sqrt(d.size) + 1e-12)
        conf = float(np.clip(stats.norm.cdf(z), 0.5, 0.99)) if chosen is best else 0.6
    return Selection(chosen.name, ranked, round(conf, 3), int(best.ll.size), [s.name for s in ok],
                     passed_over=passed.name if passed is not chosen else None)


def harmonise(tables: list[dict[str, FamilyScore]], sels: list[Selection]) -> Selection | None:
    """One family for a block of features with the same support and range, unless splitting is earned.

    The block's family is the one :func:`choose` takes on the features' held-out scores joined
    (each feature keeps its own fitted parameters; only the family is shared). Per-feature
    families replace it only when their held-out log-likelihood beats it by ``SPLIT_GAIN`` nats
    per value and ``SPLIT_Z`` standard errors (paired over the held-out values). Each selection is
    updated in place (``chosen`` and ``note``); returns the block's joint selection, or None when
    the features share no family or keep their own.
    """
    joint = choose(combine(tables))
    if joint.chosen is None:
        return None
    split = np.concatenate([t[s.chosen].ll for t, s in zip(tables, sels)])
    gain, se = paired_gap(split - np.concatenate([t[joint.chosen].ll for t in tables]))
    n = len(sels)
    evidence = (f"per-feature families would gain {gain:.4f} nats/value held out over one {joint.chosen} "
                f"(z = {gain / se:.1f}; splitting needs > {SPLIT_GAIN} nats/value and z > {SPLIT_Z:g})")
    if gain > SPLIT_GAIN and gain > SPLIT_Z * se:
        for s in sels:
            s.note = f"its own family among {n} features of this support: {evidence.replace('would gain', 'gain')}."
        return None
    for s in sels:
        s.chosen = joint.chosen
        s.note = f"one family for the {n} features of this support and range; {evidence}."
    joint.ranked = sorted(combine(tables).values(), key=lambda f: -f.score)
    joint.note = sels[0].note
    return joint


def _support_statistic(support: str, x: np.ndarray, sel: Selection) -> str:
    """The statistic that characterises a support's data, for the rationale sentence."""
    x = x[np.isfinite(x)]
    if x.size == 0:
        return "no finite values"
    m, sd = float(x.mean()), float(x.std())
    if support == "count":
        zero, di = float(np.mean(x == 0)), (sd * sd / m if m > 0 else float("nan"))
        refs = _count_references()
        if refs is None:
            return f"dispersion index {di:.2f}, zeros {zero:.1%} observed"
        fit = sel.get(refs[1]) if di > 1.2 else sel.get(refs[0])
        name = fit.name if fit else refs[0]
        pred = families.family(name).zero_probability(fit.params if fit else {}, m)
        return f"dispersion index {di:.2f}, zeros {zero:.1%} observed vs {pred:.1%} under the fitted {name}"
    if support == "real":
        return f"excess kurtosis {float(stats.kurtosis(x)):.2f}"
    if support == "positive":
        return f"skewness {float(stats.skew(x)):.2f}, coefficient of variation {sd / m if m else float('nan'):.2f}"
    if support in ("unit_interval", "bounded"):
        return f"mean {m:.3g}, sd {sd:.3g}, {float(np.mean(x <= x.min())):.1%} at the lower end"
    if support == "bounded_integer":
        return f"integers {x.min():.0f}..{x.max():.0f}, dispersion index {sd * sd / m if m else float('nan'):.2f}"
    if support == "binary":
        return f"two values, {float(np.mean(x == x.max())):.1%} at {x.max():g}"
    return f"{np.unique(x).size} levels"


def _count_references() -> tuple[str, str] | None:
    """(equidispersed, over-dispersed): the reference families of the count rationale, from the first
    count candidate whose spec is ``overdispersed_of`` another (the negative binomial of the Poisson)."""
    wide = next((families.family(n) for n in families.candidates("count") if families.family(n).overdispersed_of), None)
    return (wide.overdispersed_of, wide.name) if wide else None


def rationale(support: str, values, sel: Selection, detail: dict | None = None) -> str:
    """One sentence naming the statistics that decided the choice."""
    x = np.asarray(values, dtype=np.float64).ravel()
    head = f"{support.replace('_', ' ')} data ({_support_statistic(support, x, sel)}"
    if (detail or {}).get("ordered_codes"):
        head = f"{ordered_codes_reason(detail)}: {head}"
    left = [families.family(n).words for n in cannot_score(support, detail)]
    head += f"; exact zeros, which {' and '.join(left)} cannot score: not tried)" if left else ")"
    if not sel.ranked or sel.chosen is None:
        return head + "."
    chosen = sel.get(sel.chosen)
    rest = [s for s in sel.ranked if s.name != sel.chosen]
    if not rest:
        return f"{head}: {sel.chosen} is the only family for this support."
    best = sel.ranked[0]
    if sel.note:
        return f"{head}: {sel.chosen} ({chosen.score:.4f} nats/value held out, best {best.name} {best.score:.4f}); {sel.note}"
    if sel.passed_over and sel.get(sel.passed_over) is not None:
        other = sel.get(sel.passed_over)
        where = (f"best {best.name} {best.score:.4f}" if best.name != sel.chosen else "the best")
        return (f"{head}: {sel.chosen} ({chosen.score:.4f} nats/value held out, {where}) before "
                f"{families.family(other.name).words} ({other.score:.4f}), within noise with fewer parameters but "
                f"with its spread set by its mean: given the latent code it could not be narrower.")
    if best.name != sel.chosen:
        return (f"{head}: {sel.chosen} ({chosen.score:.4f} nats/value held out) is within noise of "
                f"{best.name} ({best.score:.4f}) with fewer parameters.")
    return (f"{head}: {sel.chosen} has the best held-out log-likelihood, {chosen.score:.4f} nats/value "
            f"vs {rest[0].name} {rest[0].score:.4f}.")

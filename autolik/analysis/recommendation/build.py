"""Assemble a :class:`~autolik.analysis.recommendation.result.Recommendation` from a classified profile.

Steps: group the columns (a one-hot block is one group), run the family selection per group
(pooled for image-like data; harmonised to one family when features of one support all accept
it), then build each group's :class:`FeatureChoice` (transform, options, activations and loss
from the family's spec in :mod:`autolik.families`, rationale) and the whole-array summary.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autolik import families
from autolik.analysis.selection import select as sel_mod
from autolik.analysis.recommendation.result import FeatureChoice, Recommendation
from autolik.analysis.support import LEFT_OUT, ordered_codes_reason
from autolik.errors import UsageError
from autolik.families import NUISANCE_MODES

PREPROCESSING = ("minmax", "standardize", "none")
DOMAIN_WORDS = {"binary": "{0, 1}", "levels": "integers 0..n", "count": "non-negative integers"}
COMPARABLE_ON = {  # discrete model-space domains and the supports where they are a normalised pmf
    "binary": ("binary",),
    "levels": ("binary", "categorical", "bounded_integer", "count"),
    "count": ("binary", "categorical", "bounded_integer", "count"),
}
MAX_PREPROCESSING_LINES = 5


def check_arguments(likelihood, mode, preprocessing) -> None:
    """Raise ``UsageError`` for an unknown family, mode or preprocessing."""
    if likelihood is not None:
        families.family(likelihood)
    if mode is not None and mode not in NUISANCE_MODES:
        raise UsageError(f"mode must be one of {', '.join(NUISANCE_MODES)}, got {mode!r}; leave it out for 'feature'")
    if preprocessing is not None and preprocessing not in PREPROCESSING:
        raise UsageError(f"preprocessing must be one of {', '.join(PREPROCESSING)}, got {preprocessing!r}; "
                         "leave it out to let autolik choose")


@dataclass
class _Group:
    """Columns modelled together (one feature, or a one-hot block) and their sample values."""

    name: str
    columns: list[int]
    support: str
    detail: dict
    feature: object  # FeatureProfile of the first column
    values: np.ndarray  # shape (m,)


def _groups(profile) -> list[_Group]:
    feats, sample = profile.features, profile.sample
    blocks = {b[0]: list(b) for b in (profile.onehot_blocks or []) if b}
    in_block = {c for b in blocks.values() for c in b}
    out = []
    for j, f in enumerate(feats):
        if j in blocks:
            b = blocks[j]
            vals = np.empty(0)
            if sample is not None:
                block = sample[:, b]
                vals = np.where(np.isnan(block).any(1), np.nan, np.nan_to_num(block).argmax(1).astype(float))
            detail = {**f.support_detail, "onehot_block": b, "n_levels": len(b)}
            out.append(_Group(f"{feats[b[0]].name}..{feats[b[-1]].name}", b, "categorical", detail, f, vals))
        elif j not in in_block:
            vals = sample[:, j] if sample is not None else np.empty(0)
            out.append(_Group(str(f.name), [j], f.support, dict(f.support_detail), f, vals))
    return out


def _select(profile, used: list[_Group]):
    """Selections aligned with ``used``, plus the whole-array selection (pooled/joint) or None."""
    if not used:
        return [], None
    if all(g.detail.get("pooled") for g in used) and profile.sample is not None:
        vals = profile.sample[:, [c for g in used for c in g.columns]].ravel()
        vals = np.random.default_rng(0).permutation(vals[np.isfinite(vals)])[: sel_mod.MAX_POOLED]
        whole = sel_mod.choose(sel_mod.score_families(vals, used[0].support, used[0].detail, cap=sel_mod.MAX_POOLED))
        return [(whole, vals) for _ in used], (whole, vals)
    tables = [sel_mod.score_families(g.values, g.support, g.detail, seed=i) for i, g in enumerate(used)]
    sels = [sel_mod.choose(t) for t in tables]
    whole = None
    blocks: dict[tuple, list[int]] = {}
    for i, g in enumerate(used):
        if g.support != "categorical" and sels[i].chosen:
            blocks.setdefault(_block_key(g), []).append(i)
    for members in blocks.values():
        if len(members) > 1:
            joint = sel_mod.harmonise([tables[i] for i in members], [sels[i] for i in members])
            if joint is not None and len(members) == len(used):
                whole = (joint, used[0].values)
    return [(s, g.values) for s, g in zip(sels, used)], whole


def _block_key(g: _Group) -> tuple:
    """Features with the same support and the same known range form one block (one family by default)."""
    d = g.detail
    return (g.support, d.get("low"), d.get("high")) if g.support in ("bounded", "bounded_integer") else (g.support,)


def _comparable(family: str, g: _Group) -> tuple[bool, str]:
    domain = families.family(family).domain
    ok_on = COMPARABLE_ON.get(domain)
    lattice_unit = domain == "levels" and g.support in ("unit_interval", "bounded") and g.detail.get("step")
    if ok_on is None or g.support in ok_on or lattice_unit:
        return True, ""
    return False, (f"{family!r} is a probability mass on {DOMAIN_WORDS[domain]} but the data is "
                   f"{g.support.replace('_', ' ')}, so its log-likelihood is not normalised here "
                   "and does not compare with other families")


def _why(g: _Group, sel, values, cache: dict) -> str:
    """The selection's rationale, computed once per selection (pooled data shares one)."""
    if sel is None:
        return f"{g.support} data: no sample to fit, default family."
    key = (id(sel), sel.chosen, id(values) if sel.chosen else None)
    if key not in cache:
        cache[key] = sel_mod.rationale(g.support, values, sel, g.detail)
    return cache[key]


def _runner_up(sel) -> str | None:
    """The best-scoring family other than the chosen one, or None."""
    return next((s.name for s in (sel.ranked if sel else []) if s.name != sel.chosen), None)


def _choice(g: _Group, sel, values, forced, mode, preprocessing, cache: dict, runner_up: bool = False) -> FeatureChoice:
    if g.support in LEFT_OUT:
        return FeatureChoice(g.name, g.columns, g.support, None, used=False, confidence=1.0,
                             rationale=f"{g.support} feature: reported and left out of the model.")
    # no fit to go by: the support's simplest family, or (no family registered for it) the real line's
    fam = forced or (sel.chosen if sel and sel.chosen else
                     (sel_mod.candidates(g.support, g.detail) or sel_mod.candidates("real", {}))[0])
    second = _runner_up(sel) if runner_up and not forced else None
    fam = second or fam
    f = g.feature
    spread = float(np.sqrt(f.variance)) if np.isfinite(f.variance) else 1.0
    loc, spread = sel_mod.location_scale(fam, g.values, float(f.mean), spread) if not preprocessing \
        else (float(f.mean), spread)
    t, opts = sel_mod.model_transform(g.support, g.detail, fam, loc, spread, float(f.min), float(f.max),
                                      preprocessing)
    spec = families.family(fam)
    opts = {k: v for k, v in opts.items() if k in spec.options}
    if spec.nuisance:
        opts["mode"] = mode or "feature"
    comparable, caveat = _comparable(fam, g)
    if forced:
        why = f"likelihood={fam} forced by the user" + (f"; {caveat}" if caveat else "") + "."
    elif second:
        why = (f"the analyser's second choice for this feature: {fam} ({sel.get(fam).score:.4f} nats/value held out; "
               f"its first choice {sel.chosen} {sel.get(sel.chosen).score:.4f}).")
    else:
        why = _why(g, sel, values, cache)
    fc = FeatureChoice(g.name, g.columns, g.support, fam, opts, t, spec.output_activations(),
                       spec.loss_for(opts.get("mode")), why, 1.0 if forced or not sel else sel.confidence,
                       sel.alternatives() if sel else [])
    fc._caveat = caveat  # read by _whole; not serialised
    return fc


def _preprocessing_lines(used: list[FeatureChoice]) -> list[str]:
    seen = list(dict.fromkeys(c.transform.description for c in used))
    if len(seen) > MAX_PREPROCESSING_LINES:
        return seen[:3] + [f"... and {len(seen) - 3} more per-feature maps"]
    return seen


def _names(names: list[str], shown: int = 4) -> str:
    more = f", ... {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _whole(profile, choices: list[FeatureChoice], whole_sel, forced) -> Recommendation:
    used = [c for c in choices if c.used]
    notes = list(profile.notes) + [f"{c.name!r} ({c.support}) left out of the model" for c in choices
                                   if not c.used and c.support != "constant"]
    notes += [f"{f.name!r}: {ordered_codes_reason(f.support_detail)}" for f in profile.features
              if (f.support_detail or {}).get("ordered_codes")]
    n_const = sum(1 for c in choices if c.support == "constant")
    if n_const:
        notes.append(f"{n_const} constant feature(s) left out of the model")
    caveats = {}
    for c in used:
        if getattr(c, "_caveat", ""):
            caveats.setdefault(c._caveat, []).append(c.name)
    caveats = [f"{cav} ({_names(names)})" for cav, names in caveats.items()]
    if not used:
        return Recommendation("none", {}, "", [], "no usable features: all are constant, identifiers or date/time.",
                              0.0, [], choices, profile.n_features, profile.image_shape, notes)
    fams = list(dict.fromkeys(c.likelihood for c in used))
    if len(fams) == 1:
        fam = fams[0]
        activation, loss = used[0].activation, used[0].loss
        alts = whole_sel[0].alternatives() if whole_sel else (used[0].alternatives if len(used) == 1 else [])
        if forced:
            why = used[0].rationale
        elif whole_sel:
            why = sel_mod.rationale(used[0].support, whole_sel[1], whole_sel[0])[:-1] + f", across {len(used)} features."
        else:
            why = used[0].rationale if len(used) == 1 else f"all {len(used)} features agree on {fam}."
    else:
        fam, alts = "mixed", []
        activation = {f"{c.likelihood}.{p}": a for c in used for p, a in c.activation.items()}
        loss = "sum of per-feature terms: " + ", ".join(dict.fromkeys(c.loss for c in used))
        counts = {f: sum(1 for c in used if c.likelihood == f) for f in fams}
        why = "features differ in support or shape: " + ", ".join(f"{n} {f}" for f, n in counts.items()) + "."
    conf = round(float(np.mean([c.confidence for c in used])), 3)
    return Recommendation(fam, activation, loss, _preprocessing_lines(used), why, conf, alts, choices,
                          profile.n_features, profile.image_shape, notes, not caveats, "; ".join(caveats))


def build_recommendation(profile, forced=None, mode=None, preprocessing=None, runner_up: bool = False) -> Recommendation:
    """The recommendation for a profile whose supports are assigned (see :func:`recommend`)."""
    groups = _groups(profile)
    used = [g for g in groups if g.support not in LEFT_OUT]
    sels, whole_sel = _select(profile, used)
    by_id = {id(g): s for g, s in zip(used, sels)}
    choices, cache = [], {}
    for g in groups:
        sel, values = by_id.get(id(g), (None, g.values))
        choices.append(_choice(g, sel, values, forced, mode, preprocessing, cache, runner_up))
    return _whole(profile, choices, None if runner_up else whole_sel, forced)

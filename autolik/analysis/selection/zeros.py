"""Is zero inflation supported by held-out evidence? Per feature (gene) and pooled over features.

For count features, the family the recommendation chose is paired with its zero-inflated
counterpart (Poisson / ZIP, negative binomial / ZINB) and both are scored with the analyser's own
two-fold held-out fits (:func:`autolik.analysis.selection.select.score_families`) on the profile's row
sample. A feature supports zero inflation when the zero-inflated family's held-out log-likelihood
is higher by more than ``SIGNIFICANT_Z`` standard errors of the paired per-value difference (and
by at least ``MIN_GAIN`` nats/value), the criterion the selection itself uses; pooled, the
per-value differences of all checked features are taken together. At most ``MAX_FEATURES``
features are checked (a seeded choice), so this stays cheap on 20,000 genes.
"""
from __future__ import annotations

import numpy as np

from autolik import families
from autolik.analysis.selection import select as sel_mod

MAX_FEATURES = 32


def pair(name: str) -> tuple[str, str] | None:
    """(base, zero-inflated) for a family with a zero-inflated counterpart, or that is one (its
    spec's ``zero_inflated_of``); None for the others."""
    base = families.family(name).zero_inflated_of
    if base:
        return base, name
    zi = next((n for n in families.names() if families.family(n).zero_inflated_of == name), None)
    return (name, zi) if zi else None


def _gain(table: dict, zi: str, base: str) -> np.ndarray | None:
    if zi not in table or base not in table:
        return None
    return table[zi].ll - table[base].ll


def _supported(d: np.ndarray) -> tuple[bool, float, float]:
    mean = float(d.mean())
    se = float(d.std() / np.sqrt(max(d.size, 1))) + 1e-12
    return mean > max(sel_mod.SIGNIFICANT_Z * se, sel_mod.MIN_GAIN), mean, se


def zero_inflation_evidence(profile, rec, max_features: int = MAX_FEATURES, seed: int = 0) -> dict | None:
    """Held-out evidence for zero inflation on the count features ``rec`` models, or None (no count
    features or no sample). Keys: ``base``, ``zero_inflated`` (the pair compared), ``checked``,
    ``supported`` (feature names), ``pooled_gain`` and ``pooled_se`` (nats/value), ``pooled_supported``."""
    if profile.sample is None:
        return None
    feats = [f for f in rec.features if f.used and f.support == "count" and pair(f.likelihood)
             and len(f.columns) == 1]
    if not feats:
        return None
    base, zi = pair(max({f.likelihood for f in feats}, key=lambda n: sum(f.likelihood == n for f in feats)))
    rng = np.random.default_rng(seed)
    if len(feats) > max_features:
        feats = [feats[i] for i in np.sort(rng.choice(len(feats), max_features, replace=False))]
    gains, supported, checked = [], [], 0
    for i, f in enumerate(feats):
        j = f.columns[0]
        table = sel_mod.score_families(profile.sample[:, j], "count", dict(profile.features[j].support_detail),
                                       families=[base, zi], seed=i)
        d = _gain(table, zi, base)
        if d is None:
            continue
        checked += 1
        gains.append(d)
        if _supported(d)[0]:
            supported.append(f.name)
    if not gains:
        return None
    ok, mean, se = _supported(np.concatenate(gains))
    return {"base": base, "zero_inflated": zi, "checked": checked, "of": sum(
        1 for f in rec.features if f.used and f.support == "count"), "supported": supported,
        "pooled_gain": mean, "pooled_se": se, "pooled_supported": ok}


def describe(ev: dict) -> str:
    """One line for the recommendation's notes."""
    names = ", ".join(ev["supported"][:5]) + (", ..." if len(ev["supported"]) > 5 else "")
    checked = f"{ev['checked']:,} of {ev['of']:,} count features" if ev["checked"] < ev["of"] else \
        f"all {ev['checked']} count features"
    per = (f"supported for {len(ev['supported'])} ({names})" if ev["supported"] else "supported for none")
    pooled = "supported" if ev["pooled_supported"] else "not supported"
    return (f"zero inflation, held out ({ev['zero_inflated']} vs {ev['base']}, {checked} checked): {per}; "
            f"pooled over them {ev['pooled_gain']:+.4f} +- {ev['pooled_se']:.4f} nats/value: {pooled}")


def add_note(profile, rec) -> None:
    """Append the zero-inflation line to ``rec.notes`` when the data have count features."""
    try:
        ev = zero_inflation_evidence(profile, rec)
    except (ValueError, FloatingPointError, ZeroDivisionError, OverflowError):
        return
    if ev is not None:
        rec.notes.append(describe(ev))

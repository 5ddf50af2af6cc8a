"""From a profile to a likelihood recommendation: family, activations, loss, preprocessing, why.

``recommend()`` is the analyser's entry point. The dataclasses it returns live in
:mod:`autolik.analysis.recommendation.result` (imported from here too, as before).
"""
from __future__ import annotations

import numpy as np  # noqa: F401  (the doctest below uses np)

from autolik.analysis.recommendation.result import FeatureChoice, Recommendation  # noqa: F401  (re-exported)


def recommend(data, likelihood: str | None = None, mode: str | None = None,
              preprocessing: str | None = None, key: str | None = None, runner_up: bool = False) -> Recommendation:
    """Recommend a likelihood for ``data`` (an array, a DataFrame, a path, or a ``Profile``).

    Args:
        data: array-like of shape (n_samples, ...), a pandas DataFrame, a file path, or a Profile.
        likelihood: force this family for every used feature (the analyser still works out its
            options and preprocessing, and flags ``comparable=False`` with a ``caveat`` when the
            family is not a normalised likelihood for the data, e.g. Bernoulli on [0,1] values).
        mode: ``fixed | shared | feature | sample`` for the family's scale/shape parameters.
        preprocessing: force ``"minmax"`` (to [0,1]), ``"standardize"``, or ``"none"``; default: the
            analyser's choice.
        key: array name inside an ``.npz`` file.
        runner_up: every feature gets the analyser's second-best family instead of its choice
            (the runner-up model that ``compare`` trains beside a mixed pick).

    Returns:
        A :class:`Recommendation`; ``rec.features`` holds one :class:`FeatureChoice` per feature
        (or one-hot block), ``rec.head(in_features)`` / ``rec.activation_modules()`` /
        ``rec.loss_fn()`` hand the choice to a user's own model.

    Example:
        >>> rec = recommend(np.random.default_rng(0).poisson(3.0, (500, 4)))
        >>> rec.likelihood
        'poisson'
    """
    from autolik.analysis.recommendation.build import build_recommendation, check_arguments

    check_arguments(likelihood, mode, preprocessing)
    profile = _as_profile(data, key)
    rec = build_recommendation(profile, likelihood, mode, preprocessing, runner_up=runner_up)
    if likelihood is None and not runner_up:  # count features: is zero inflation supported held out, per feature and pooled?
        from autolik.analysis.selection.zeros import add_note

        add_note(profile, rec)
    return rec


def _as_profile(data, key):
    from autolik.analysis.profiling.profile import Profile

    if isinstance(data, Profile):
        if all(f.support == "real" and not f.support_detail for f in data.features):
            from autolik.analysis.support import assign_supports

            assign_supports(data)  # a hand-built profile: classify its features first
        return data
    from autolik.analysis.profiling.profile import inspect

    return inspect(data, key=key)

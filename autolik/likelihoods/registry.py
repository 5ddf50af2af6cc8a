"""The likelihood classes by name, looked up through the family specs (:mod:`autolik.families`).

A family's torch class is named by its spec's dotted path and imported here, the first time a
model of that family is built: the analyser never needs it, and a family registered from outside
the package is trained like a built-in one. The class modules import only :mod:`.base`, never
this module, so the lazy import closes no cycle.
"""
from __future__ import annotations

import importlib

from autolik.families import family, names
from autolik.likelihoods.base import Likelihood


def available_likelihoods() -> list[str]:
    """Names of all registered likelihoods, sorted."""
    return names()


def likelihood_class(name: str) -> type[Likelihood]:
    """The torch class of family ``name`` (UsageError naming the known families for an unknown one)."""
    spec = family(name)
    module, _, attr = spec.likelihood.rpartition(".")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Likelihood)) or cls.name != name:
        raise TypeError(f"family {name!r}: {spec.likelihood} is not a Likelihood class named {name!r}")
    return cls


def get_likelihood(name: str, n_features: int = 1, **options) -> Likelihood:
    """Instantiate the registered likelihood ``name`` for ``n_features`` features."""
    return likelihood_class(name)(n_features, **options)

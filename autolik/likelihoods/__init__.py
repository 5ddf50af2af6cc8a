"""Likelihood heads: raw decoder outputs -> torch.distributions.Distribution.

One module per family, named with its facts by a spec in :mod:`autolik.families`; the registry
(:mod:`.registry`) imports a family's module the first time its class is asked for.
"""
from autolik.likelihoods.base import (
    ACTIVATIONS,
    Likelihood,
    LikelihoodHead,
    activation_for_constraint,
    activation_module,
)
from autolik.likelihoods.composite import CompositeLikelihood, build_likelihood, likelihood_from_config
from autolik.likelihoods.registry import available_likelihoods, get_likelihood, likelihood_class

__all__ = [
    "ACTIVATIONS",
    "CompositeLikelihood",
    "build_likelihood",
    "likelihood_from_config",
    "Likelihood",
    "LikelihoodHead",
    "activation_for_constraint",
    "activation_module",
    "available_likelihoods",
    "get_likelihood",
    "likelihood_class",
]

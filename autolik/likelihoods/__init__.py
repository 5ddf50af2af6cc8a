"""Likelihood heads: raw decoder outputs -> torch.distributions.Distribution.

One module per family; each registers itself by name with :func:`register`.
"""
from autolik.likelihoods.base import (
    ACTIVATIONS,
    Likelihood,
    LikelihoodHead,
    activation_for_constraint,
    activation_module,
    available_likelihoods,
    get_likelihood,
    likelihood_class,
    register,
)

# Importing a family module registers it. Keep this list in step with the files in this folder.
_FAMILY_MODULES = (
    "bernoulli",
    "continuous_bernoulli",
    "beta",
    "gaussian",
    "laplace",
    "student_t",
    "lognormal",
    "gamma",
    "exponential",
    "poisson",
    "negative_binomial",
    "zero_inflated_poisson",
    "zero_inflated_negative_binomial",
    "binomial",
    "beta_binomial",
    "categorical",
    "discretized_logistic",
)
for _m in _FAMILY_MODULES:
    __import__(f"autolik.likelihoods.{_m}")

from autolik.likelihoods.composite import CompositeLikelihood, build_likelihood, likelihood_from_config  # noqa: E402

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
    "register",
]

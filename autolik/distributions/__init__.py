"""Distributions torch lacks, written in ``torch.distributions`` style.

Every class here is a ``torch.distributions.Distribution`` with ``arg_constraints``, ``support``,
``log_prob``, ``mean``, ``variance`` and ``sample``: the likelihood heads in
``autolik.likelihoods`` build them from a decoder's constrained outputs.
"""
from autolik.distributions.beta_binomial import BetaBinomial
from autolik.distributions.discretized_logistic import DiscretizedLogistic, DiscretizedLogisticMixture
from autolik.distributions.zero_inflated import ZeroInflated, ZeroInflatedNegativeBinomial, ZeroInflatedPoisson

__all__ = [
    "BetaBinomial",
    "DiscretizedLogistic",
    "DiscretizedLogisticMixture",
    "ZeroInflated",
    "ZeroInflatedNegativeBinomial",
    "ZeroInflatedPoisson",
]

"""Poisson likelihood for counts."""
from __future__ import annotations

from torch.distributions import Poisson, constraints

from autolik.likelihoods._common import RATE_FLOOR
from autolik.likelihoods.base import Likelihood


class PoissonLikelihood(Likelihood):
    """p(x | z) = Poisson(rate), rate = softplus(raw) >= 1e-6, for non-negative integer counts.

    Variance equals the mean; use ``negative_binomial`` for over-dispersed counts.
    """

    name = "poisson"
    discrete = True
    params = {"rate": constraints.positive}
    support = constraints.nonnegative_integer
    data_scaled = "rate"
    paper = "Poisson regression: McCullagh & Nelder (1989), Generalized Linear Models, ch. 6"

    def make_distribution(self, rate):
        return Poisson(rate.clamp_min(RATE_FLOOR), validate_args=False)

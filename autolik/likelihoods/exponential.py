"""Exponential likelihood for positive (waiting-time-like) data."""
from __future__ import annotations

from torch.distributions import Exponential, constraints

from autolik.likelihoods._common import RATE_FLOOR
from autolik.likelihoods.base import Likelihood


class ExponentialLikelihood(Likelihood):
    """p(x | z) = Exponential(rate), rate = softplus(raw) >= 1e-6. Data must be >= 0 (model space).

    The one-parameter special case of ``gamma`` (shape 1); mean = 1 / rate.
    """

    name = "exponential"
    discrete = False
    params = {"rate": constraints.positive}
    support = constraints.nonnegative
    paper = "McCullagh & Nelder (1989), Generalized Linear Models (gamma family with shape 1)"

    def make_distribution(self, rate):
        return Exponential(rate.clamp_min(RATE_FLOOR), validate_args=False)

    def fill_value(self) -> float:
        return 1.0

"""Gamma likelihood for positive data, in the GLM mean / shape parameterisation."""
from __future__ import annotations

from torch.distributions import Gamma, constraints

from autolik.likelihoods._common import CONC_FLOOR, RATE_FLOOR
from autolik.likelihoods.base import Likelihood


class GammaLikelihood(Likelihood):
    """p(x | z) = Gamma(concentration k, rate k / mean), mean = softplus(raw) >= 1e-6.

    Decoding the mean (as a Gamma GLM does, McCullagh & Nelder 1989) leaves the shape ``k``
    (``concentration``, >= 1e-3) as a nuisance parameter: fixed (1: exponential) / shared /
    feature (default) / sample. Data must be > 0 (model space).
    """

    name = "gamma"
    discrete = False
    params = {"mean": constraints.positive, "concentration": constraints.positive}
    nuisance = {"concentration": 1.0}
    default_mode = "feature"
    support = constraints.positive
    paper = "McCullagh & Nelder (1989), Generalized Linear Models, ch. 8 (gamma GLM)"

    def make_distribution(self, mean, concentration):
        k = concentration.clamp_min(CONC_FLOOR)
        return Gamma(k, k / mean.clamp_min(RATE_FLOOR), validate_args=False)

"""Laplace likelihood: identity + L1 loss (with a learned or decoded scale)."""
from __future__ import annotations

from torch.distributions import Laplace, constraints

from autolik.likelihoods._common import SCALE_FLOOR
from autolik.likelihoods.base import Likelihood


class LaplaceLikelihood(Likelihood):
    """p(x | z) = Laplace(loc, scale), loc = raw, scale = softplus(.) >= 1e-3.

    With a fixed scale the negative log-likelihood is the L1 (absolute error) loss up to constants:
    a heavier-tailed, median-seeking alternative to the Gaussian. ``scale`` is a nuisance
    parameter: fixed (1) / shared / feature (default) / sample.
    """

    name = "laplace"
    discrete = False
    params = {"loc": constraints.real, "scale": constraints.positive}
    nuisance = {"scale": 1.0}
    default_mode = "feature"
    support = constraints.real
    paper = "Laplace (1774); as a VAE decoder: the L1 reconstruction loss, e.g. Zhao et al. (2017), Towards deeper understanding of VAEs"

    def make_distribution(self, loc, scale):
        return Laplace(loc, scale.clamp_min(SCALE_FLOOR), validate_args=False)

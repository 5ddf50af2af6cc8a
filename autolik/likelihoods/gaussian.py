"""Gaussian likelihood with a fixed, shared, per-feature or heteroscedastic standard deviation."""
from __future__ import annotations

from torch.distributions import Normal, constraints

from autolik.likelihoods.base import Likelihood, register


@register
class GaussianLikelihood(Likelihood):
    """p(x | z) = Normal(loc, scale).

    ``mode="fixed"`` (scale = 1) is mean squared error up to constants: identity + MSE.
    ``"shared"`` learns one scale for all features (the calibrated decoder of Rybkin et al., 2021,
    "Simple and Effective VAE Training with Calibrated Decoders"), ``"feature"`` one per feature,
    and ``"sample"`` decodes a scale per sample and feature, kept above ``1e-3`` by its activation.
    """

    name = "gaussian"
    discrete = False
    params = {"loc": constraints.real, "scale": constraints.positive}
    nuisance = {"scale": 1.0}
    default_mode = "feature"
    support = constraints.real

    def make_distribution(self, loc, scale):
        return Normal(loc, scale.clamp_min(1e-3), validate_args=False)

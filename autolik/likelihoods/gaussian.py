"""Gaussian likelihood with a fixed, shared, per-feature or heteroscedastic standard deviation."""
from __future__ import annotations

import torch
from torch.distributions import Normal, constraints

from autolik.errors import UsageError
from autolik.likelihoods._common import SCALE_FLOOR
from autolik.likelihoods.base import Likelihood


class GaussianLikelihood(Likelihood):
    """p(x | z) = Normal(loc, scale), loc = raw (identity), scale >= 1e-3.

    ``mode="fixed"`` (scale = 1) is mean squared error up to constants: identity + MSE.
    ``"shared"`` learns one scale for all features (the calibrated decoder of Rybkin et al., 2021,
    "Simple and Effective VAE Training with Calibrated Decoders"), ``"feature"`` one per feature,
    and ``"sample"`` decodes a scale per sample and feature (softplus, floor 1e-3).

    Option ``optimal_sigma=True`` (only with ``mode`` None / ``"shared"``): the shared sigma is not
    learned but set to its analytic optimum on each training batch, sigma^2 = mean squared error
    of the batch over all observed entries, detached (the "optimal sigma-VAE" of Rybkin et al.).
    In eval mode the head uses a running average (momentum 0.1) of the training batches' optimum,
    kept in the ``fixed_scale`` buffer, so held-out numbers never peek at the held-out error.
    """

    name = "gaussian"
    discrete = False
    params = {"loc": constraints.real, "scale": constraints.positive}
    nuisance = {"scale": 1.0}
    default_mode = "feature"
    support = constraints.real
    paper = "Rybkin, Daniilidis & Levine (2021), Simple and Effective VAE Training with Calibrated Decoders"
    option_defaults = {"optimal_sigma": False}
    momentum = 0.1

    def __init__(self, n_features: int, mode=None, **options):
        if options.get("optimal_sigma"):
            if mode not in (None, "shared", "fixed"):
                raise UsageError(f"gaussian: optimal_sigma=True sets one shared sigma, got mode={mode!r}; "
                                 "pass mode='shared' or drop optimal_sigma")
            mode = "fixed"  # the buffer `fixed_scale` holds the running optimum
        super().__init__(n_features, mode, **options)

    def make_distribution(self, loc, scale):
        return Normal(loc, scale.clamp_min(SCALE_FLOOR), validate_args=False)

    def log_prob(self, raw, x):
        """Log-density per sample, shape (batch,), NaN masked; see the class doc for optimal_sigma."""
        if not (self.options["optimal_sigma"] and self.training):
            return super().log_prob(raw, x)
        loc = self.parameters_from_raw(raw)["loc"]
        with torch.no_grad():
            sq = (x - loc).square()
            mse = sq[~torch.isnan(sq)].mean() if sq.numel() else sq.new_tensor(1.0)
            sigma = mse.sqrt().clamp_min(SCALE_FLOOR) if torch.isfinite(mse) else self.fixed_scale
            self.fixed_scale.mul_(1 - self.momentum).add_(self.momentum * sigma)
        return self.masked_log_prob(self.make_distribution(loc, sigma.expand_as(loc)), x)

    def describe(self) -> dict:
        out = super().describe()
        if self.options["optimal_sigma"]:
            out["scale"]["source"] = "analytic optimum (shared, per training batch)"
        return out

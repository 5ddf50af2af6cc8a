"""Log-normal likelihood for positive, right-skewed data."""
from __future__ import annotations

from torch.distributions import LogNormal, constraints

from autolik.likelihoods._common import SCALE_FLOOR
from autolik.likelihoods.base import Likelihood


class LogNormalLikelihood(Likelihood):
    """p(x | z) = LogNormal(loc, scale): log x ~ Normal(loc, scale); loc = raw, scale >= 1e-3.

    ``scale`` (the shape parameter, sigma of log x) is a nuisance parameter: fixed (1) / shared /
    feature (default) / sample. Data must be > 0 (model space).
    """

    name = "lognormal"
    discrete = False
    params = {"loc": constraints.real, "scale": constraints.positive}
    nuisance = {"scale": 1.0}
    default_mode = "feature"
    support = constraints.positive
    paper = "Aitchison & Brown (1957), The Lognormal Distribution"

    def make_distribution(self, loc, scale):
        return LogNormal(loc, scale.clamp_min(SCALE_FLOOR), validate_args=False)

"""Beta likelihood for continuous data in (0, 1), in the mean / precision parameterisation."""
from __future__ import annotations

from torch.distributions import Beta, constraints

from autolik.likelihoods._common import CONC_FLOOR, PROB_EPS, UNIT_EPS, clamp_unit
from autolik.likelihoods.base import Likelihood


class BetaLikelihood(Likelihood):
    """p(x | z) = Beta(mean * c, (1 - mean) * c), mean = sigmoid(raw), c = softplus(raw') (precision).

    The mean / precision form of beta regression (Ferrari & Cribari-Neto, 2004) lets the precision
    ``concentration`` be a nuisance parameter: ``"sample"`` (default: decoded per sample and
    feature, i.e. two raw outputs per feature, as free as decoding both concentrations),
    ``"feature"``, ``"shared"`` or ``"fixed"`` (c = 2: uniform at mean 0.5).
    The mean is clamped to [1e-6, 1 - 1e-6] and both concentrations kept >= 1e-3; x is clamped to
    [1e-6, 1 - 1e-6] inside :meth:`log_prob` so the density is finite at 0 and 1.
    """

    name = "beta"
    discrete = False
    params = {"mean": constraints.unit_interval, "concentration": constraints.positive}
    nuisance = {"concentration": 2.0}
    default_mode = "sample"
    support = constraints.unit_interval
    paper = "Ferrari & Cribari-Neto (2004), Beta regression for modelling rates and proportions"

    def make_distribution(self, mean, concentration):
        mean = clamp_unit(mean, PROB_EPS)
        a = (mean * concentration).clamp_min(CONC_FLOOR)
        b = ((1 - mean) * concentration).clamp_min(CONC_FLOOR)
        return Beta(a, b, validate_args=False)

    def log_prob(self, raw, x):
        """Log-density per sample, shape (batch,); x clamped to [1e-6, 1-1e-6], NaN masked."""
        return super().log_prob(raw, clamp_unit(x, UNIT_EPS))

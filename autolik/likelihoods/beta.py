"""Beta likelihood for continuous data in (0, 1), in the mean / precision parameterisation."""
from __future__ import annotations

from torch.distributions import Beta, constraints

from autolik.likelihoods._common import CONC_CEIL, CONC_FLOOR, PROB_EPS, UNIT_EPS, clamp_unit
from autolik.likelihoods.base import Likelihood


class BetaLikelihood(Likelihood):
    """p(x | z) = Beta(mean * c, (1 - mean) * c), mean = sigmoid(raw), c = exp(raw') (precision).

    The mean / precision form of beta regression (Ferrari & Cribari-Neto, 2004) lets the precision
    ``concentration`` be a nuisance parameter: ``"sample"`` (default: decoded per sample and
    feature, i.e. two raw outputs per feature, as free as decoding both concentrations),
    ``"feature"``, ``"shared"`` or ``"fixed"`` (c = 2: uniform at mean 0.5).
    The mean is clamped to [1e-6, 1 - 1e-6] and both concentrations kept >= 1e-3; x is clamped to
    [1e-6, 1 - 1e-6] inside :meth:`log_prob` so the density is finite at 0 and 1.

    The precision is decoded (or learned) on the log scale and capped at ``CONC_CEIL``: given the latent
    code a feature's sd is often 1% of its range, a precision in the thousands, which a softplus output
    reaches only through large last-layer weights. Measured on seed 0, same steps, the pick's held-out
    NLL: sklearn breast cancer (11 Beta features) -22.61 -> -29.85 nats/sample, ordinal soup 15.68 -> 15.49.
    """

    name = "beta"
    discrete = False
    params = {"mean": constraints.unit_interval, "concentration": constraints.positive}
    activations = {"concentration": "exp"}
    nuisance = {"concentration": 2.0}
    default_mode = "sample"
    support = constraints.unit_interval
    paper = "Ferrari & Cribari-Neto (2004), Beta regression for modelling rates and proportions"

    def make_distribution(self, mean, concentration):
        mean = clamp_unit(mean, PROB_EPS)
        concentration = concentration.clamp(max=CONC_CEIL)
        a = (mean * concentration).clamp_min(CONC_FLOOR)
        b = ((1 - mean) * concentration).clamp_min(CONC_FLOOR)
        return Beta(a, b, validate_args=False)

    def log_prob(self, raw, x):
        """Log-density per sample, shape (batch,); x clamped to [1e-6, 1-1e-6], NaN masked."""
        return super().log_prob(raw, clamp_unit(x, UNIT_EPS))

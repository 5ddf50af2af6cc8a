"""Negative-binomial likelihood for over-dispersed counts, in the mean / dispersion form."""
from __future__ import annotations

from torch.distributions import NegativeBinomial, constraints

from autolik.likelihoods._common import CONC_FLOOR, RATE_FLOOR
from autolik.likelihoods.base import Likelihood


def nb_logits(mean, total_count):
    """torch's NegativeBinomial logits for a given mean and total_count r: log(mean) - log(r)."""
    return mean.clamp_min(RATE_FLOOR).log() - total_count.clamp_min(CONC_FLOOR).log()


class NegativeBinomialLikelihood(Likelihood):
    """p(x | z) = NB(mean, r): variance mean + mean^2 / r; mean = softplus(raw) >= 1e-6.

    The mean / inverse-dispersion form used by scVI (Lopez et al., 2018); built as torch's
    ``NegativeBinomial(total_count=r, logits=log mean - log r)``. The dispersion ``total_count``
    r (>= 1e-3, default 10) is a nuisance parameter: fixed / shared / feature (default) / sample.
    """

    name = "negative_binomial"
    discrete = True
    params = {"mean": constraints.positive, "total_count": constraints.positive}
    nuisance = {"total_count": 10.0}
    default_mode = "feature"
    support = constraints.nonnegative_integer
    data_scaled = "mean"
    paper = "Lopez et al. (2018), Deep generative modeling for single-cell transcriptomics (scVI), Nature Methods"

    def make_distribution(self, mean, total_count):
        r = total_count.clamp_min(CONC_FLOOR)
        return NegativeBinomial(total_count=r, logits=nb_logits(mean, r), validate_args=False)

"""Zero-inflated negative-binomial likelihood: over-dispersed counts with excess zeros."""
from __future__ import annotations

from torch.distributions import constraints

from autolik.likelihoods._common import CONC_FLOOR
from autolik.likelihoods.base import Likelihood
from autolik.likelihoods.negative_binomial import nb_logits


class ZeroInflatedNegativeBinomialLikelihood(Likelihood):
    """p(x | z) = gate * [x = 0] + (1 - gate) * NB(x; mean, r).

    The negative binomial in the mean / dispersion form of ``negative_binomial`` (r is a nuisance
    parameter, default mode ``"feature"``), the gate decoded as a logit, as in scVI's ZINB
    (Lopez et al., 2018). Raw outputs per feature: mean, gate_logits (+ total_count in mode
    ``"sample"``). With the gate closed it is the negative-binomial head.
    """

    name = "zero_inflated_negative_binomial"
    fused = {"gate_logits": ("gate", "sigmoid")}
    discrete = True
    params = {"mean": constraints.positive, "total_count": constraints.positive, "gate_logits": constraints.real}
    nuisance = {"total_count": 10.0}
    default_mode = "feature"
    support = constraints.nonnegative_integer
    data_scaled = "mean"
    paper = "Lopez et al. (2018), Deep generative modeling for single-cell transcriptomics (scVI), Nature Methods"

    def make_distribution(self, mean, total_count, gate_logits):
        from autolik.distributions import ZeroInflatedNegativeBinomial

        r = total_count.clamp_min(CONC_FLOOR)
        return ZeroInflatedNegativeBinomial(r, logits=nb_logits(mean, r), gate_logits=gate_logits,
                                            validate_args=False)

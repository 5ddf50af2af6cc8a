"""Continuous Bernoulli likelihood: the normalised version of 'BCE on [0,1] data'."""
from __future__ import annotations

from torch.distributions import ContinuousBernoulli, constraints

from autolik.likelihoods._common import UNIT_EPS, clamp_unit
from autolik.likelihoods.base import Likelihood


class ContinuousBernoulliLikelihood(Likelihood):
    """p(x | z) = ContinuousBernoulli(logits=raw) on [0, 1] (Loaiza-Ganem & Cunningham, 2019).

    BCE-with-logits plus the log normalising constant log C(lambda); torch evaluates C with a
    Taylor expansion for lambda in (0.499, 0.501), where the closed form is 0/0.
    x is clamped to [1e-6, 1 - 1e-6] inside :meth:`log_prob` so the density stays finite at the
    edges. Raw outputs per feature: 1 (the logit).
    """

    name = "continuous_bernoulli"
    fused = {"logits": ("lambda", "sigmoid")}
    discrete = False
    params = {"logits": constraints.real}
    support = constraints.unit_interval
    paper = ("Loaiza-Ganem & Cunningham (2019), The continuous Bernoulli: fixing a pervasive error "
             "in variational autoencoders, NeurIPS")

    def make_distribution(self, logits):
        return ContinuousBernoulli(logits=logits, validate_args=False)

    def log_prob(self, raw, x):
        """Log-density per sample, shape (batch,); x clamped to [1e-6, 1-1e-6], NaN masked."""
        return super().log_prob(raw, clamp_unit(x, UNIT_EPS))

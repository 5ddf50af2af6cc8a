"""Binomial likelihood for bounded integers 0..total_count (a known number of trials)."""
from __future__ import annotations

from torch.distributions import Binomial, constraints

from autolik.likelihoods._common import total_count_tensor
from autolik.likelihoods.base import Likelihood


class BinomialLikelihood(Likelihood):
    """p(x | z) = Binomial(total_count, logits=raw) on {0, ..., total_count}.

    Option ``total_count``: the number of trials, one int for all features or one per feature
    (required). One raw output per feature (the logit of the success probability).
    """

    name = "binomial"
    fused = {"logits": ("probs", "sigmoid")}
    discrete = True
    params = {"logits": constraints.real}
    support = constraints.nonnegative_integer
    paper = "McCullagh & Nelder (1989), Generalized Linear Models, ch. 4 (binomial data)"
    option_defaults = {"total_count": None}
    per_feature_options = ("total_count",)  # may differ per feature: merged by build_likelihood

    def check_options(self):
        self.register_buffer("total_count", total_count_tensor(self.name, self.options["total_count"], self.n_features))

    def make_distribution(self, logits):
        return Binomial(self.total_count.expand_as(logits), logits=logits, validate_args=False)

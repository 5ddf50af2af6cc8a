"""Bernoulli likelihood: sigmoid + binary cross-entropy, for binary data coded {0, 1}."""
from __future__ import annotations

from torch.distributions import Bernoulli, constraints

from autolik.likelihoods.base import Likelihood


class BernoulliLikelihood(Likelihood):
    """p(x | z) = Bernoulli(sigmoid(raw)). Its negative log-likelihood is exactly BCE-with-logits.

    Only a proper probability model for x in {0, 1}; on continuous values in [0, 1] it is not
    normalised (Loaiza-Ganem & Cunningham, 2019): use ``continuous_bernoulli`` or ``beta`` there.
    Raw outputs per feature: 1 (the logit, identity activation; the sigmoid is inside the loss).
    """

    name = "bernoulli"
    fused = {"logits": ("probs", "sigmoid")}
    discrete = True
    params = {"logits": constraints.real}
    support = constraints.boolean
    paper = "Kingma & Welling (2014), Auto-Encoding Variational Bayes, appendix C.1"

    def make_distribution(self, logits):
        return Bernoulli(logits=logits, validate_args=False)

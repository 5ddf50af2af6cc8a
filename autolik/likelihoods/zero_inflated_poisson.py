"""Zero-inflated Poisson likelihood: counts with more zeros than a Poisson allows."""
from __future__ import annotations

from torch.distributions import constraints

from autolik.likelihoods._common import RATE_FLOOR
from autolik.likelihoods.base import Likelihood


class ZeroInflatedPoissonLikelihood(Likelihood):
    """p(x | z) = gate * [x = 0] + (1 - gate) * Poisson(x; rate).

    rate = softplus(raw) >= 1e-6; the gate is decoded as a logit (identity), gate = sigmoid(.),
    so the zero probability is computed in log space (Lambert, 1992). Two raw outputs per feature:
    rate, gate_logits. With the gate closed (gate_logits -> -inf) it is the Poisson head.
    """

    name = "zero_inflated_poisson"
    fused = {"gate_logits": ("gate", "sigmoid")}
    discrete = True
    params = {"rate": constraints.positive, "gate_logits": constraints.real}
    support = constraints.nonnegative_integer
    data_scaled = "rate"
    paper = "Lambert (1992), Zero-inflated Poisson regression, Technometrics"

    def make_distribution(self, rate, gate_logits):
        from autolik.distributions import ZeroInflatedPoisson

        return ZeroInflatedPoisson(rate.clamp_min(RATE_FLOOR), gate_logits=gate_logits, validate_args=False)

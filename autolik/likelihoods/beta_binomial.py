"""Beta-binomial likelihood: over-dispersed bounded integers 0..total_count."""
from __future__ import annotations

from torch.distributions import constraints

from autolik.likelihoods._common import CONC_FLOOR, PROB_EPS, clamp_unit, total_count_tensor
from autolik.likelihoods.base import Likelihood


class BetaBinomialLikelihood(Likelihood):
    """p(x | z) = BetaBinomial(mean * c, (1 - mean) * c, total_count) on {0, ..., total_count}.

    mean = sigmoid(raw) (clamped to [1e-6, 1 - 1e-6]) and the precision c (softplus, default 2,
    both concentrations >= 1e-3) a nuisance parameter: fixed / shared / feature (default, an
    over-dispersion per feature) / sample. Option ``total_count`` (required): int or one per feature.
    As c -> inf it tends to the binomial head.
    """

    name = "beta_binomial"
    discrete = True
    params = {"mean": constraints.unit_interval, "concentration": constraints.positive}
    nuisance = {"concentration": 2.0}
    default_mode = "feature"
    support = constraints.nonnegative_integer
    paper = "Skellam (1948), A probability distribution derived from the binomial distribution..., JRSS B"
    option_defaults = {"total_count": None}
    per_feature_options = ("total_count",)  # may differ per feature: merged by build_likelihood

    def check_options(self):
        self.register_buffer("total_count", total_count_tensor(self.name, self.options["total_count"], self.n_features))

    def make_distribution(self, mean, concentration):
        from autolik.distributions import BetaBinomial

        mean = clamp_unit(mean, PROB_EPS)
        a = (mean * concentration).clamp_min(CONC_FLOOR)
        b = ((1 - mean) * concentration).clamp_min(CONC_FLOOR)
        return BetaBinomial(a, b, self.total_count.expand_as(a), validate_args=False)

"""Discretised logistic (mixture) likelihood for 8-bit-like integers 0..total_count."""
from __future__ import annotations

from torch.distributions import constraints

from autolik.errors import UsageError
from autolik.likelihoods._common import SCALE_FLOOR, total_count_tensor
from autolik.likelihoods.base import Likelihood

_ONE = {"loc": constraints.real, "scale": constraints.positive}
_MIX = {"mixture_logits": constraints.real, **_ONE}


class DiscretizedLogisticLikelihood(Likelihood):
    """P(x | z) = sum_k pi_k [F_k(x + 1/2) - F_k(x - 1/2)] on {0, ..., total_count}, F_k logistic CDFs.

    The edge bins 0 and total_count take the whole tails (Salimans et al., 2017, PixelCNN++;
    Kingma et al., 2016 for one component). Options: ``total_count`` (default 255, or one per
    feature) and ``n_components`` (default 1: a single discretised logistic, 2 raw outputs per
    feature; K > 1: a mixture, 3K raw outputs: mixture logits, locs, scales).

    As in PixelCNN++, loc and scale are decoded on the [-1, 1] scale of the data (x -> 2x/N - 1):
    loc = N (raw + 1) / 2 (identity activation, so raw 0 is the middle of the range) and
    scale = N / 2 * max(softplus(raw), 1e-3) in data units.
    """

    name = "discretized_logistic"
    fused = {"mixture_logits": ("mixture_weights", "softmax")}
    discrete = True
    params = _ONE  # n_components > 1: the instance uses _MIX
    activations = {"mixture_logits": "identity"}
    support = constraints.nonnegative_integer
    paper = ("Salimans, Karpathy, Chen & Kingma (2017), PixelCNN++: Improving the PixelCNN with "
             "discretized logistic mixture likelihood and other modifications, ICLR")
    option_defaults = {"total_count": 255, "n_components": 1}
    per_feature_options = ("total_count",)  # may differ per feature: merged by build_likelihood

    def __init__(self, n_features: int, mode=None, **options):
        k = options.get("n_components", 1)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise UsageError(f"discretized_logistic: n_components must be an int >= 1, got {k!r}")
        self.params = _MIX if k > 1 else _ONE  # instance attribute, set before nn.Module.__init__
        super().__init__(n_features, mode, **options)

    def check_options(self):
        self.register_buffer("total_count", total_count_tensor(self.name, self.options["total_count"], self.n_features))

    def param_width(self, param):
        return self.options["n_components"]

    def make_distribution(self, loc, scale, mixture_logits=None):
        from autolik.distributions import DiscretizedLogistic, DiscretizedLogisticMixture

        k = self.options["n_components"]
        n = self.total_count if k == 1 else self.total_count.unsqueeze(-1)
        loc = n * (loc + 1) / 2
        scale = n / 2 * scale.clamp_min(SCALE_FLOOR)
        if k == 1:
            return DiscretizedLogistic(loc, scale, n.expand_as(loc), validate_args=False)
        return DiscretizedLogisticMixture(mixture_logits, loc, scale, self.total_count.expand(loc.shape[:-1]),
                                          validate_args=False)

"""Discretised logistic distributions on {0, ..., total_count}, and their mixtures.

Salimans, Karpathy, Chen & Kingma (2017), "PixelCNN++: Improving the PixelCNN with discretized
logistic mixture likelihood and other modifications", ICLR. The logistic is put on the count
scale itself (bins of width 1 centred on the integers); the edge bins 0 and total_count take the
whole tails.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Categorical, Distribution, MixtureSameFamily, constraints
from torch.distributions.utils import broadcast_all

_MOMENT_LOOP_MAX = 4096  # longest sum over the support used for the moments
_TAIL = {torch.float64: 25.0}  # tail terms beyond this many scales from loc are < e^-tail
_TAIL_DEFAULT = 17.0  # float32 / half: e^-17 ~ 4e-8, below their resolution


def _log1mexp(d: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(-d))`` for d > 0, stable for tiny and huge d (Maechler, 2012)."""
    return torch.where(d < math.log(2), torch.log(-torch.expm1(-d)), torch.log1p(-torch.exp(-d)))


class DiscretizedLogistic(Distribution):
    """``P(x) = F(x + 1/2) - F(x - 1/2)`` with F the CDF of Logistic(loc, scale), on {0..n}.

    Edge bins: ``P(0) = F(1/2)`` and ``P(n) = 1 - F(n - 1/2)``. The interior uses the exact
    identity ``sigmoid(a) - sigmoid(b) = sigmoid(a) * sigmoid(-b) * (1 - exp(-(a - b)))``, so
    ``log P(x) = logsigmoid(a) + logsigmoid(-b) + log1mexp(1 / scale)`` with
    ``a = (x + 1/2 - loc) / scale``, ``b = (x - 1/2 - loc) / scale``: no difference of
    probabilities ever underflows, and gradients stay finite for extreme loc and tiny scales.

    Args:
        loc: logistic location on the count scale, tensor.
        scale: logistic scale > 0 (in count units), tensor.
        total_count: n >= 0, the largest value, integer-valued tensor (255 for 8-bit pixels).
        validate_args: as in ``torch.distributions``.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive,
                       "total_count": constraints.nonnegative_integer}

    def __init__(self, loc, scale, total_count=255, validate_args=None):
        self.loc, self.scale, self.total_count = broadcast_all(loc, scale, total_count)
        self.total_count = self.total_count.type_as(self.loc)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(DiscretizedLogistic, _instance)
        batch_shape = torch.Size(batch_shape)
        new.loc, new.scale = self.loc.expand(batch_shape), self.scale.expand(batch_shape)
        new.total_count = self.total_count.expand(batch_shape)
        super(DiscretizedLogistic, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self.total_count)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log probability of ``value`` (integers in [0, total_count]), shape batch_shape."""
        if self._validate_args:
            self._validate_sample(value)
        loc, scale, n, x = broadcast_all(self.loc, self.scale, self.total_count, value)
        a, b = (x + 0.5 - loc) / scale, (x - 0.5 - loc) / scale
        zero = torch.zeros((), dtype=a.dtype, device=a.device)
        lower_edge, upper_edge = x <= 0, x >= n
        log_cdf_upper = torch.where(upper_edge, zero, F.logsigmoid(a))   # log F(x + 1/2), 0 at x = n
        log_sf_lower = torch.where(lower_edge, zero, F.logsigmoid(-b))   # log(1 - F(x - 1/2)), 0 at x = 0
        width = torch.where(lower_edge | upper_edge, zero, _log1mexp(1.0 / scale))
        return log_cdf_upper + log_sf_lower + width

    def _moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, variance)`` as sums over the support, centred at ``c = clip(round(loc), 0, n)``.

        ``E[X - c] = sum_{c<=k<n} P(X > k) - sum_{0<=k<c} P(X <= k)`` and
        ``E[(X - c)^2] = sum_k |2(k - c) + 1| P(X > k or X <= k, same split)``: every term is a
        small positive tail probability (no float32 cancellation), and terms more than
        25 scales (17 in float32) from loc are below e^-25 (e^-17), so only a window around c is
        summed.
        If that window exceeds 4096 values (huge scales), the mean is the midpoint-rule integral
        of the survival function, accurate to O(1/scale), and the variance the logistic's.
        """
        loc, scale, n = self.loc, self.scale, self.total_count
        if loc.numel() == 0:
            return loc.clone(), loc.clone()
        tail = _TAIL.get(loc.dtype, _TAIL_DEFAULT)
        half, n_max = math.ceil(tail * float(scale.detach().max())) + 1, int(n.detach().max())
        if min(2 * half + 1, n_max) > _MOMENT_LOOP_MAX:
            mean = scale * (F.softplus(loc / scale) - F.softplus((loc - n) / scale))
            return mean, math.pi**2 / 3 * scale**2
        c = torch.minimum(torch.round(loc).clamp_min(0), n)
        ks = range(n_max) if n_max <= 2 * half + 1 else (c + j for j in range(-half, half + 1))
        d1, d2 = torch.zeros_like(loc), torch.zeros_like(loc)
        for k in ks:
            u, above = (loc - k - 0.5) / scale, k >= c
            p = torch.where((k >= 0) & (k < n), torch.sigmoid(torch.where(above, u, -u)), 0.0)
            d1 = d1 + torch.where(above, p, -p)
            d2 = d2 + 2 * torch.abs(k - c + 0.5) * p
        return c + d1, (d2 - d1**2).clamp_min(0)

    @property
    def mean(self) -> torch.Tensor:
        """Mean, exact up to tails below e^-25 (e^-17 in float32; see :meth:`_moments`), shape batch_shape."""
        return self._moments()[0]

    @property
    def variance(self) -> torch.Tensor:
        return self._moments()[1]

    @property
    def mode(self) -> torch.Tensor:
        return torch.minimum(torch.maximum(torch.round(self.loc), torch.zeros_like(self.loc)), self.total_count)

    def sample(self, sample_shape=torch.Size()) -> torch.Tensor:
        """Round a logistic draw to the nearest integer and clip to [0, total_count]."""
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            u = torch.rand(shape, dtype=self.loc.dtype, device=self.loc.device).clamp(1e-7, 1 - 1e-7)
            y = torch.round(self.loc + self.scale * (torch.log(u) - torch.log1p(-u)))
            return torch.minimum(y.clamp_min(0), self.total_count.expand(shape))


class DiscretizedLogisticMixture(MixtureSameFamily):
    """A mixture of K discretised logistics on {0..n}: ``log P(x) = logsumexp_k(log w_k + log P_k(x))``.

    PixelCNN++'s likelihood (Salimans et al., 2017), one mixture per feature.

    Args:
        mixture_logits: tensor of shape batch_shape + (K,), unnormalised log mixture weights.
        loc, scale: tensors of shape batch_shape + (K,), each component's location and scale.
        total_count: n, tensor broadcastable to batch_shape (no component dimension).
        validate_args: as in ``torch.distributions``.
    """

    arg_constraints = {"mixture_logits": constraints.real_vector, "loc": constraints.real,
                       "scale": constraints.positive, "total_count": constraints.nonnegative_integer}

    def __init__(self, mixture_logits, loc, scale, total_count=255, validate_args=None):
        mixture_logits, loc, scale = broadcast_all(mixture_logits, loc, scale)
        n = torch.as_tensor(total_count, dtype=loc.dtype, device=loc.device)
        self.total_count = n.expand(loc.shape[:-1])
        self.mixture_logits, self.loc, self.scale = mixture_logits, loc, scale
        components = DiscretizedLogistic(loc, scale, self.total_count.unsqueeze(-1), validate_args=False)
        super().__init__(Categorical(logits=mixture_logits, validate_args=False), components,
                         validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        k = self.loc.shape[-1:]
        return DiscretizedLogisticMixture(self.mixture_logits.expand(batch_shape + k), self.loc.expand(batch_shape + k),
                                          self.scale.expand(batch_shape + k), self.total_count.expand(batch_shape),
                                          validate_args=self._validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self.total_count)

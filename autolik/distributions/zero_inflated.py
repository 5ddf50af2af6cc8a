"""Zero-inflated count distributions: a point mass at zero mixed with any base distribution.

The model follows pyro's ``ZeroInflatedDistribution`` (Lambert, 1992, "Zero-inflated Poisson
regression, with an application to defects in manufacturing", Technometrics 34(1)); scRNA-seq
models use the negative-binomial variant (Lopez et al., 2018, "Deep generative modeling for
single-cell transcriptomics", Nature Methods 15).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Distribution, NegativeBinomial, Poisson, constraints
from torch.distributions.utils import lazy_property, logits_to_probs, probs_to_logits

from autolik.errors import UsageError


class ZeroInflated(Distribution):
    """Mixture of a point mass at 0 (probability ``gate``) and ``base_dist`` (probability 1 - gate).

    ``log p(0) = logsumexp(log gate, log(1 - gate) + base.log_prob(0))`` and
    ``log p(x) = log(1 - gate) + base.log_prob(x)`` for x != 0, all in log-space
    (``log gate = logsigmoid(gate_logits)``, ``log(1 - gate) = logsigmoid(-gate_logits)``).
    As ``gate_logits -> -inf`` it reduces to ``base_dist``.

    Args:
        base_dist: a distribution with event_shape () whose support contains 0.
        gate_logits: tensor broadcastable with base_dist.batch_shape; logit of the zero gate.
        gate: alternatively, the gate probability in [0, 1]. Give exactly one of the two; prefer
            gate_logits for training (gradients stay finite at a closed or fully open gate).
        validate_args: as in ``torch.distributions``.
    """

    arg_constraints = {"gate": constraints.unit_interval, "gate_logits": constraints.real}

    def __init__(self, base_dist: Distribution, gate_logits=None, gate=None, validate_args=None):
        if (gate is None) == (gate_logits is None):
            raise UsageError(f"ZeroInflated needs exactly one of gate or gate_logits, got "
                             f"gate={gate is not None}, gate_logits={gate_logits is not None}; pass one")
        if base_dist.event_shape:
            raise UsageError(f"ZeroInflated needs a base with event_shape (), got {tuple(base_dist.event_shape)}")
        param = gate if gate is not None else gate_logits
        param = torch.as_tensor(param, dtype=torch.get_default_dtype()) if not torch.is_tensor(param) else param
        batch_shape = torch.broadcast_shapes(param.shape, base_dist.batch_shape)
        if gate is not None:
            self.gate = param.expand(batch_shape)
        else:
            self.gate_logits = param.expand(batch_shape)
        self.base_dist = base_dist.expand(batch_shape)
        super().__init__(batch_shape, validate_args=validate_args)

    @lazy_property
    def gate(self) -> torch.Tensor:
        return logits_to_probs(self.gate_logits, is_binary=True)

    @lazy_property
    def gate_logits(self) -> torch.Tensor:
        return probs_to_logits(self.gate, is_binary=True)

    @property
    def support(self):
        return self.base_dist.support

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        gate = {"gate": self.gate.expand(batch_shape)} if "gate" in self.__dict__ else {}
        logits = {} if gate else {"gate_logits": self.gate_logits.expand(batch_shape)}
        new = type(self).__new__(type(self))
        ZeroInflated.__init__(new, self.base_dist.expand(batch_shape), validate_args=False, **gate, **logits)
        new._validate_args = self._validate_args
        return new

    def _log_gates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log gate, log(1 - gate))`` from whichever parametrisation was given, without clamping."""
        if "gate_logits" in self.__dict__:
            return F.logsigmoid(self.gate_logits), F.logsigmoid(-self.gate_logits)
        return torch.log(self.gate), torch.log1p(-self.gate)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log probability of ``value`` (shape broadcastable with batch_shape)."""
        if self._validate_args:
            self._validate_sample(value)
        log_gate, log_open = self._log_gates()
        base_lp = self.base_dist.log_prob(value)
        at_zero = torch.logsumexp(torch.stack(torch.broadcast_tensors(log_gate, log_open + base_lp)), dim=0)
        return torch.where(value == 0, at_zero, log_open + base_lp)

    def sample(self, sample_shape=torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            zero = torch.bernoulli(self.gate.expand(shape))
            x = self.base_dist.sample(sample_shape)
            return torch.where(zero.bool(), torch.zeros_like(x), x)

    @property
    def mean(self) -> torch.Tensor:
        return (1 - self.gate) * self.base_dist.mean

    @property
    def variance(self) -> torch.Tensor:
        m = self.base_dist.mean
        return (1 - self.gate) * (self.base_dist.variance + m**2) - self.mean**2


class ZeroInflatedPoisson(ZeroInflated):
    """Zero-inflated Poisson (Lambert, 1992).

    Args:
        rate: Poisson rate, positive tensor.
        gate_logits / gate: the zero gate (give exactly one).
    """

    arg_constraints = {"rate": constraints.nonnegative, **ZeroInflated.arg_constraints}
    support = constraints.nonnegative_integer

    def __init__(self, rate, gate_logits=None, gate=None, validate_args=None):
        super().__init__(Poisson(rate, validate_args=False), gate_logits=gate_logits, gate=gate,
                         validate_args=validate_args)

    @property
    def rate(self) -> torch.Tensor:
        return self.base_dist.rate


class ZeroInflatedNegativeBinomial(ZeroInflated):
    """Zero-inflated negative binomial (Lopez et al., 2018; Greene, 1994).

    The base is ``torch.distributions.NegativeBinomial(total_count, probs=probs | logits=logits)``,
    which counts successes with success probability ``probs`` before ``total_count`` failures.

    Args:
        total_count: dispersion r > 0.
        logits / probs: the negative binomial's success logits or probabilities (give one).
        gate_logits / gate: the zero gate (give exactly one).
    """

    arg_constraints = {"total_count": constraints.greater_than_eq(0), **ZeroInflated.arg_constraints}
    support = constraints.nonnegative_integer

    def __init__(self, total_count, logits=None, probs=None, gate_logits=None, gate=None, validate_args=None):
        base = NegativeBinomial(total_count, probs=probs, logits=logits, validate_args=False)
        super().__init__(base, gate_logits=gate_logits, gate=gate, validate_args=validate_args)

    @property
    def total_count(self) -> torch.Tensor:
        return self.base_dist.total_count

    @property
    def logits(self) -> torch.Tensor:
        return self.base_dist.logits

    @property
    def probs(self) -> torch.Tensor:
        return self.base_dist.probs

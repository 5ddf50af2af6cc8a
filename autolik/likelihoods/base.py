"""The contract every likelihood head follows (the registry that names them is :mod:`autolik.likelihoods.registry`).

A *likelihood* turns the decoder's raw, unconstrained outputs into a
``torch.distributions.Distribution`` over the (preprocessed) data. The training loss is only
``-likelihood.log_prob(raw, x)`` plus the KL term, so likelihoods swap freely.

Parameters are declared as data: ``params`` maps each distribution parameter to its torch
constraint, and the activation that maps raw numbers into that constraint is derived from it
(:func:`activation_for_constraint`), unless a head names a documented choice in ``activations``.

Each parameter is either *decoded* (the decoder emits one raw number per sample and feature) or,
for scale and shape parameters listed in ``nuisance``, may instead be ``"shared"`` (one learned
value for all features), ``"feature"`` (one learned value per feature), ``"sample"`` (decoded,
heteroscedastic) or ``"fixed"`` (a constant). That is the Gaussian's fixed / shared ("sigma-VAE")
/ per-feature / heteroscedastic variance, and the same choice for negative-binomial dispersion,
Student-t degrees of freedom or Beta concentration.
"""
from __future__ import annotations

import math
from typing import Callable, ClassVar

import torch
from torch import nn
from torch.distributions import Distribution, constraints

from autolik.errors import UsageError
from autolik.families import NUISANCE_MODES

# --------------------------------------------------------------------------- activations


class Exp(nn.Module):
    def forward(self, x):
        return torch.exp(x)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "identity": nn.Identity,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "exp": Exp,
    "softmax": lambda: nn.Softmax(dim=-1),
    "tanh": nn.Tanh,
}


def activation_module(name: str) -> nn.Module:
    """The torch module for an activation name (``'sigmoid'``, ``'softplus'``, ...)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise UsageError(f"unknown activation {name!r}; available: {', '.join(sorted(ACTIVATIONS))}") from None


def activation_for_constraint(c: constraints.Constraint) -> str:
    """The activation that maps the real line onto a parameter's constraint.

    Follows ``torch.distributions.transform_to`` (real -> identity, unit interval -> sigmoid,
    simplex -> softmax) except that positive parameters use softplus rather than exp: softplus
    grows linearly, so a large raw output cannot overflow a rate or a scale.
    """
    if c is constraints.real:
        return "identity"
    if c is constraints.unit_interval:
        return "sigmoid"
    if c is constraints.simplex:
        return "softmax"
    if isinstance(c, (constraints.greater_than, constraints.greater_than_eq)) or c is constraints.positive:
        return "softplus"
    raise NotImplementedError(f"no activation registered for constraint {c}")


def inverse_softplus(y: float) -> float:
    """The raw value whose softplus is ``y`` (for initialising learned positive parameters)."""
    return y + math.log(-math.expm1(-y)) if y < 20 else y


# --------------------------------------------------------------------------- base class


class Likelihood(nn.Module):
    """Base class: raw decoder outputs of shape (batch, n_raw) -> distribution over (batch, n_features).

    Subclasses declare the class attributes below and implement :meth:`make_distribution`.

    Attributes:
        name: registry name, e.g. ``"gaussian"``.
        discrete: True when ``log_prob`` is a log probability mass (counts, binary, categories),
            False when it is a log density.
        params: ordered mapping parameter name -> ``torch.distributions.constraints`` object.
        activations: per-parameter activation overrides (else derived from the constraint).
        nuisance: scale/shape parameters that may be fixed, shared, per feature or per sample,
            mapped to their default value (used as the fixed value and the initial value).
        default_mode: the default mode for the nuisance parameters.
        support: the support of the data in model space, as a torch constraint.
        paper: citation of the paper the likelihood comes from (for docs and reports).
        option_defaults: keyword options the head accepts (e.g. ``total_count``), with defaults;
            the values given are kept in ``self.options`` (with the defaults filled in).

    ``mode`` is one of ``NUISANCE_MODES`` for every nuisance parameter, or a dict
    ``{param: mode}`` (parameters not named take ``default_mode``).
    """

    name: ClassVar[str] = ""
    discrete: ClassVar[bool] = False
    params: ClassVar[dict[str, constraints.Constraint]] = {}
    activations: ClassVar[dict[str, str]] = {}
    nuisance: ClassVar[dict[str, float]] = {}
    default_mode: ClassVar[str] = "feature"
    support: ClassVar[constraints.Constraint] = constraints.real
    paper: ClassVar[str] = ""
    # Raw parameters whose activation is applied inside the loss for stability (logits):
    # raw name -> (name of the constrained parameter, its activation). Bernoulli's
    # {"logits": ("probs", "sigmoid")} is "sigmoid + BCE", computed as BCE-with-logits.
    fused: ClassVar[dict[str, tuple[str, str]]] = {}
    option_defaults: ClassVar[dict] = {}
    # A parameter that lives on the data's own scale and cannot be preprocessed away (a count's
    # mean: Poisson or negative-binomial counts do not stay so when divided by a number). It is
    # decoded relative to a per-feature unit, ``param = activation(raw) * unit``, set from the
    # data by :meth:`set_scale`, so the decoder works near 1 whether counts are 3 or 30,000 (as
    # scVI decodes a rate relative to the library size).
    data_scaled: ClassVar[str | None] = None

    def __init__(self, n_features: int, mode: str | dict | None = None, **options):
        super().__init__()
        if int(n_features) < 1:
            raise UsageError(f"n_features must be >= 1, got {n_features}")
        self.n_features = int(n_features)
        self.mode = mode or self.default_mode
        self.modes = self._resolve_modes(self.mode)
        unknown = sorted(set(options) - set(self.option_defaults))
        if unknown:
            accepted = ", ".join(sorted(self.option_defaults)) or "none"
            raise UsageError(f"{self.name!r} takes no options {unknown}; accepted options: {accepted}")
        self.options = {**self.option_defaults, **options}
        self.check_options()
        self._act = nn.ModuleDict({p: activation_module(self.activation(p)) for p in self.params})
        # learned or fixed values of nuisance parameters that are not decoded
        for p, default in self.nuisance.items():
            m = self.modes[p]
            if m in ("shared", "feature"):
                size = 1 if m == "shared" else self.n_features
                init = self._raw_init(p, default)
                self.register_parameter(f"raw_{p}", nn.Parameter(torch.full((size,), init)))
            elif m == "fixed":
                self.register_buffer(f"fixed_{p}", torch.tensor(float(default)))
        if self.data_scaled:
            self.register_buffer("unit", torch.ones(self.n_features))

    def set_scale(self, x: torch.Tensor) -> None:
        """Set the unit of the ``data_scaled`` parameter from model-space data x (batch, n_columns):
        the per-feature mean where it is above 1 (no-op for heads without one)."""
        if self.data_scaled:
            with torch.no_grad():
                m = torch.nan_to_num(x.double().nanmean(0), nan=1.0).clamp_min(1.0)
                self.unit.copy_(m.to(self.unit))

    def _resolve_modes(self, mode) -> dict[str, str]:
        """Per-nuisance-parameter modes from a single mode name or a ``{param: mode}`` dict."""
        if isinstance(mode, dict):
            extra = sorted(set(mode) - set(self.nuisance))
            if extra:
                raise UsageError(f"{self.name!r} has no scale/shape parameter {extra}; "
                                 f"it has {sorted(self.nuisance) or 'none'}")
            modes = {p: mode.get(p, self.default_mode) for p in self.nuisance}
        else:
            modes = {p: mode for p in self.nuisance}
        for p, m in modes.items():
            if m not in NUISANCE_MODES:
                raise UsageError(f"mode must be one of {NUISANCE_MODES} for {self.name!r} ({p}), got {m!r}")
        return modes

    def check_options(self) -> None:
        """Validate ``self.options`` (subclasses raise ``UsageError`` on bad values)."""

    def config(self) -> dict:
        """JSON-able arguments that rebuild this head with :func:`get_likelihood`."""
        return {"name": self.name, "n_features": self.n_features, "mode": self.mode, "options": dict(self.options)}

    # -- declared structure --------------------------------------------------------------
    @classmethod
    def activation(cls, param: str) -> str:
        """Activation name for ``param``: a declared override, else derived from its constraint."""
        return cls.activations.get(param) or activation_for_constraint(cls.params[param])

    @classmethod
    def output_activations(cls, params=None) -> dict[str, str]:
        """What a user's decoder output means: constrained parameter -> activation.

        Parameters the loss takes as logits are shown as the parameter the activation makes
        (``{"probs": "sigmoid"}`` for Bernoulli), since that is the assumption being made;
        the loss applies it internally (BCE-with-logits, softmax cross-entropy).
        """
        out = {}
        for p in (params if params is not None else cls.params):
            name, act = cls.fused.get(p, (p, cls.activation(p)))
            out[name] = act
        return out

    def _raw_init(self, param: str, value: float) -> float:
        act = self.activation(param)
        if act in ("softplus",):
            return inverse_softplus(value)
        if act == "exp":
            return math.log(value)
        if act == "sigmoid":
            return math.log(value) - math.log1p(-value)
        return float(value)

    @property
    def decoded_params(self) -> tuple[str, ...]:
        """Parameters the decoder emits per sample and feature, in raw-output order."""
        return tuple(p for p in self.params if p not in self.nuisance or self.modes[p] == "sample")

    def param_width(self, param: str) -> int:
        """Raw numbers per feature for ``param`` (1; K for K logits or K mixture components)."""
        return 1

    @property
    def raw_per_feature(self) -> int:
        return sum(self.param_width(p) for p in self.decoded_params)

    @property
    def n_columns(self) -> int:
        """Columns of x the head consumes (n_features, except e.g. one-hot categorical blocks)."""
        return self.n_features

    @property
    def n_raw(self) -> int:
        """Number of raw decoder outputs per sample."""
        return self.n_features * self.raw_per_feature

    def describe(self) -> dict:
        """Activation of every parameter and where it comes from (decoder / learned / fixed)."""
        out = {}
        for p in self.params:
            m = self.modes.get(p)
            src = "decoder" if p in self.decoded_params else ("fixed" if m == "fixed" else f"learned ({m})")
            out[p] = {"activation": self.activation(p), "source": src}
        return out

    # -- raw outputs -> parameters -> distribution ---------------------------------------
    def parameters_from_raw(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        """Constrained parameters, each of shape (batch, n_features) (+ (width,) when width > 1).

        Raw layout: parameter-major, then width, then feature: ``raw.reshape(..., raw_per_feature,
        n_features)``; a width-K parameter becomes (batch, n_features, K).
        """
        if raw.shape[-1] != self.n_raw:
            raise ValueError(f"{self.name}: expected {self.n_raw} raw outputs, got {raw.shape[-1]}")
        blocks = raw.reshape(*raw.shape[:-1], self.raw_per_feature, self.n_features)
        widths = [self.param_width(p) for p in self.decoded_params]
        chunks = [c.squeeze(-2) if w == 1 else c.transpose(-1, -2) for c, w in zip(blocks.split(widths, dim=-2), widths)]
        out = dict(zip(self.decoded_params, chunks))
        for p in self.params:
            if p in out:
                out[p] = self._act[p](out[p])
                if p == self.data_scaled:
                    out[p] = out[p] * self.unit
            elif self.modes[p] == "fixed":
                out[p] = getattr(self, f"fixed_{p}").expand(*raw.shape[:-1], self.n_features)
            else:
                out[p] = self._act[p](getattr(self, f"raw_{p}")).expand(*raw.shape[:-1], self.n_features)
        return out

    def make_distribution(self, **params: torch.Tensor) -> Distribution:
        """Build the distribution from constrained parameters of shape (batch, n_features)."""
        raise NotImplementedError

    def distribution(self, raw: torch.Tensor) -> Distribution:
        """The distribution p(x | z) with batch_shape (batch, n_features) and event_shape ()."""
        return self.make_distribution(**self.parameters_from_raw(raw))

    # -- what the training loop and the evaluation use -------------------------------------
    def log_prob(self, raw: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Log-likelihood per sample, shape (batch,), summed over features; NaN entries of x add 0."""
        return self.masked_log_prob(self.distribution(raw), x)

    def masked_log_prob(self, dist: Distribution, x: torch.Tensor) -> torch.Tensor:
        """``dist.log_prob(x)`` summed over features, shape (batch,); NaN entries of x add 0."""
        mask = torch.isnan(x)
        x_filled = torch.where(mask, self.fill_value(), x) if mask.any() else x
        lp = dist.log_prob(x_filled)
        if mask.any():
            lp = torch.where(mask, torch.zeros((), dtype=lp.dtype, device=lp.device), lp)
        return lp.sum(-1)

    def fill_value(self) -> float:
        """A value inside the support, used in place of missing entries before masking."""
        return 0.5 if self.support is constraints.unit_interval else (1.0 if self.support is constraints.positive else 0.0)

    def mean(self, raw: torch.Tensor) -> torch.Tensor:
        """Mean of p(x | z) in model space, shape (batch, n_features)."""
        return self.distribution(raw).mean

    def sample(self, raw: torch.Tensor) -> torch.Tensor:
        return self.distribution(raw).sample()


class LikelihoodHead(nn.Module):
    """A linear layer from a hidden representation to a likelihood's raw outputs.

    The piece a user drops on top of their own decoder: ``head(h)`` returns the distribution,
    ``head.loss(h, x)`` the per-sample negative log-likelihood.
    """

    def __init__(self, in_features: int, likelihood: Likelihood):
        super().__init__()
        self.likelihood = likelihood
        self.linear = nn.Linear(in_features, likelihood.n_raw)

    def forward(self, h: torch.Tensor) -> Distribution:
        return self.likelihood.distribution(self.linear(h))

    def loss(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per sample, shape (batch,)."""
        return -self.likelihood.log_prob(self.linear(h), x)

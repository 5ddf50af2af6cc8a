"""The one declaration of every likelihood family: a :class:`FamilySpec`, registered by name.

Everything autolik needs to know about a family, besides its torch code, is one spec: the supports
it is a candidate for and its rank there, its model-space domain, its parameter count, loss and
display name, activations, nuisance parameters and options, the quick scipy fit the analyser
scores it with, and the dotted path of its torch :class:`~autolik.likelihoods.base.Likelihood`.
The analyser (selection, recommendation) reads specs without importing torch; the likelihood
class is imported only when a model is built (:mod:`autolik.likelihoods.registry`).

A family from outside the package is added the same way, in one file: its Likelihood class, its
fitter and ``register_family(FamilySpec(...))``, as torch adds a KL pair with ``register_kl``
(``tests/plugins/cauchy.py`` is one). ``tests/test_families.py`` checks every spec against its
class, so the torch-free facts and the class attributes cannot drift.

This module imports nothing from autolik but its errors, so anything may import it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from autolik.errors import UsageError

#: the modes a scale/shape ("nuisance") parameter can take
NUISANCE_MODES = ("fixed", "shared", "feature", "sample")
#: model-space domains: the map of the data a family needs (see ``select.model_transform``)
DOMAINS = ("binary", "levels", "count", "unit", "positive", "real")
#: domains whose families give a probability mass (of integers or levels), not a density
DISCRETE_DOMAINS = ("binary", "levels", "count")
#: the candidate list of bounded integers with too many levels for a softmax over each of them
#: (``WIDE_LEVELS``): the categorical leaves it and the [0, 1] densities join
WIDE_INTEGER = "bounded_integer:wide"
#: more levels than a softmax is given over integers (a wider range is ``WIDE_INTEGER``)
WIDE_LEVELS = 32


@dataclass(frozen=True)
class FamilySpec:
    """Everything but the torch code of one likelihood family.

    Attributes:
        name: the registry name (``"gaussian"``), also the torch class's ``name``.
        domain: model-space domain, one of :data:`DOMAINS`.
        supports: support class -> rank among that support's candidates (simplest first): the
            order the analyser tries them in, its default when nothing can be fitted, and on an
            exact tie (as many parameters, the same held-out score: a Bernoulli and a two-level
            categorical) the one it keeps. Equal ranks keep the order of registration.
        n_params: free parameters of the marginal fit (the "simpler family" preference), or a
            callable of the feature's options (``{"n_levels": K}``) for families whose count
            grows with the data, as a categorical's K - 1.
        fitter: the quick maximum-likelihood fit ``fitter(train, test, n=...) -> (params, ll)``
            on model-space values (see :mod:`autolik.analysis.selection.fits`), or its dotted path.
        likelihood: dotted path of the torch ``Likelihood`` class, imported only to build a model.
        activations: constrained parameter -> activation of the decoder output (the class's
            ``output_activations()``), in the class's parameter order.
        nuisance: scale/shape parameters that take a mode (fixed, shared, feature, sample).
        options: the keyword options the class accepts, with their defaults.
        display: the name in sentences ("Student-t"); default: the name with spaces.
        loss: what the negative log-likelihood amounts to; default "negative log-likelihood (display)".
        fixed_loss: the loss when the nuisance parameters are fixed, if it has a name of its own
            (a Gaussian with a fixed scale is the mean squared error).
        saturated: the parameters grow with the levels (a categorical): the saturated model of
            them, kept before a family with as many parameters that fits no better.
        robust_scale: heavy tails: standardised with the median and the interquartile range.
        zero_inflated_of: for a zero-inflated family, the family it inflates.
        overdispersed_of: for an over-dispersed count family, the equidispersed family it widens
            (the negative binomial: the Poisson). The rationale of count data compares the zeros
            observed with those under the one (dispersion index above 1.2) or the other fitted;
            both declare ``zero_mass``.
        zero_mass: ``zero_mass(params, mean) -> P(X = 0)`` under the quick fit's ``params`` (``mean``,
            the data's, stands in for a parameter the fit lacks), or its dotted path.
        excludes_zero: the density is 0 or unbounded at 0 (Gamma, log-normal): not a candidate for
            positive data that contain exact zeros, which it cannot score.
        fixed_spread: the parameterisation ties its spread to its mean, with no sampling mechanism
            that would make that spread the data's (the continuous Bernoulli: uniform at mean 1/2).
            Given the latent code, p(x | z) is narrower than the marginal the analyser's quick fits
            see, and such a family cannot narrow with it; so a family within noise of the best whose
            spread is free (a Beta's concentration) comes before it, if that costs at most the one
            parameter holding the spread. Not set on the binomial, Poisson or exponential, whose
            fixed spread is what trials, counts and waiting times given their rate have.
    """

    name: str
    domain: str
    supports: dict[str, float]
    n_params: int | Callable[[dict], int]
    fitter: str | Callable
    likelihood: str
    activations: dict[str, str]
    nuisance: tuple[str, ...] = ()
    options: dict = field(default_factory=dict)
    display: str = ""
    loss: str = ""
    fixed_loss: str = ""
    saturated: bool = False
    robust_scale: bool = False
    zero_inflated_of: str | None = None
    excludes_zero: bool = False
    overdispersed_of: str | None = None
    zero_mass: str | Callable | None = None
    fixed_spread: bool = False

    def __post_init__(self):
        if not self.name or self.domain not in DOMAINS:
            raise ValueError(f"family {self.name!r}: needs a name and a domain in {DOMAINS}, got {self.domain!r}")

    @property
    def discrete(self) -> bool:
        """True when the family is a probability mass (its log-likelihood is a log-mass)."""
        return self.domain in DISCRETE_DOMAINS

    def count_params(self, options: dict) -> int:
        """Free parameters of the marginal fit for a feature with these options."""
        return int(self.n_params(options) if callable(self.n_params) else self.n_params)

    def quick_fit(self, train, test, n=1):
        """``(params, ll)``: the fitter's maximum-likelihood fit on ``train``, log-likelihoods of ``test``."""
        return _resolve(self.fitter)(train, test, n=n)

    def zero_probability(self, params: dict, mean: float) -> float:
        """P(X = 0) under the quick fit's ``params`` (the spec's ``zero_mass``)."""
        return _resolve(self.zero_mass)(params, mean)

    @property
    def words(self) -> str:
        """The name in sentences: ``display``, else the name with spaces."""
        return self.display or self.name.replace("_", " ")

    def loss_for(self, mode) -> str:
        """The loss in words, for this family with nuisance ``mode``."""
        if mode == "fixed" and self.fixed_loss:
            return self.fixed_loss
        return self.loss or f"negative log-likelihood ({self.words})"

    def output_activations(self) -> dict[str, str]:
        """Parameter -> activation (a copy)."""
        return dict(self.activations)


def _resolve(target):
    """A callable, or the object a dotted path ``package.module.name`` names (imported now)."""
    if callable(target):
        return target
    module, _, attr = target.rpartition(".")
    return getattr(importlib.import_module(module), attr)


_REGISTRY: dict[str, FamilySpec] = {}


def register_family(spec: FamilySpec) -> FamilySpec:
    """Make ``spec`` a family autolik considers and trains (the same spec again is a no-op)."""
    if _REGISTRY.get(spec.name, spec) != spec:
        raise ValueError(f"family {spec.name!r} is registered twice; unregister_family it first")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_family(name: str) -> None:
    """Forget family ``name`` (a plugin's test cleans up with it)."""
    _REGISTRY.pop(name, None)


def names() -> list[str]:
    """Every registered family, sorted."""
    return sorted(_REGISTRY)


def family(name: str) -> FamilySpec:
    """The spec of family ``name``; a UsageError naming the known families otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UsageError(f"unknown likelihood {name!r}; available: {', '.join(names())}") from None


def candidates(support: str) -> list[str]:
    """The families that are candidates for ``support``, in rank order (simplest first)."""
    order = list(_REGISTRY)
    listed = [s for s in _REGISTRY.values() if support in s.supports]
    return [s.name for s in sorted(listed, key=lambda s: (s.supports[support], order.index(s.name)))]


# --------------------------------------------------------------------------- the built-in families

_FITS = "autolik.analysis.selection.fits."
_LOC_SCALE = {"loc": "identity", "scale": "softplus"}


def _builtin(name: str, cls: str, domain: str, supports: dict, n_params, activations: dict, **facts) -> FamilySpec:
    """Register a family of this package (fitter ``fits.fit_<name>``, class ``likelihoods.<name>.<cls>``)."""
    return register_family(FamilySpec(name, domain, supports, n_params, _FITS + f"fit_{name}",
                                      f"autolik.likelihoods.{name}.{cls}", activations, **facts))


_builtin("bernoulli", "BernoulliLikelihood", "binary", {"binary": 0}, 1, {"probs": "sigmoid"},
         loss="binary cross-entropy")
_builtin("categorical", "CategoricalLikelihood", "levels", {"binary": 1, "categorical": 0, "bounded_integer": 3},
         lambda options: options.get("n_levels", 0) - 1, {"probs": "softmax"},
         options={"n_levels": None, "onehot": False}, loss="cross-entropy (softmax)", saturated=True)
_builtin("binomial", "BinomialLikelihood", "levels", {"bounded_integer": 0, WIDE_INTEGER: 0}, 1,
         {"probs": "sigmoid"}, options={"total_count": None})
_builtin("beta_binomial", "BetaBinomialLikelihood", "levels", {"bounded_integer": 1, WIDE_INTEGER: 1}, 2,
         {"mean": "sigmoid", "concentration": "softplus"}, nuisance=("concentration",), options={"total_count": None})
_builtin("discretized_logistic", "DiscretizedLogisticLikelihood", "levels", {"bounded_integer": 2, WIDE_INTEGER: 2},
         2, _LOC_SCALE, options={"total_count": 255, "n_components": 1})
_builtin("poisson", "PoissonLikelihood", "count", {"count": 0}, 1, {"rate": "softplus"}, display="Poisson",
         zero_mass=_FITS + "zero_mass_poisson")
_builtin("negative_binomial", "NegativeBinomialLikelihood", "count", {"count": 1}, 2,
         {"mean": "softplus", "total_count": "softplus"}, nuisance=("total_count",), overdispersed_of="poisson",
         zero_mass=_FITS + "zero_mass_negative_binomial")
_builtin("zero_inflated_poisson", "ZeroInflatedPoissonLikelihood", "count", {"count": 2}, 2,
         {"rate": "softplus", "gate": "sigmoid"}, zero_inflated_of="poisson")
_builtin("zero_inflated_negative_binomial", "ZeroInflatedNegativeBinomialLikelihood", "count", {"count": 3}, 3,
         {"mean": "softplus", "total_count": "softplus", "gate": "sigmoid"}, nuisance=("total_count",),
         zero_inflated_of="negative_binomial")
_builtin("continuous_bernoulli", "ContinuousBernoulliLikelihood", "unit",
         {"unit_interval": 0, "bounded": 0, WIDE_INTEGER: 3}, 1, {"lambda": "sigmoid"}, display="continuous Bernoulli",
         fixed_spread=True)
_builtin("beta", "BetaLikelihood", "unit", {"unit_interval": 1, "bounded": 1, WIDE_INTEGER: 4}, 2,
         {"mean": "sigmoid", "concentration": "exp"}, nuisance=("concentration",))
_builtin("exponential", "ExponentialLikelihood", "positive", {"positive": 0}, 1, {"rate": "softplus"})
_builtin("gamma", "GammaLikelihood", "positive", {"positive": 1}, 2, {"mean": "softplus", "concentration": "exp"},
         nuisance=("concentration",), display="Gamma", excludes_zero=True)
_builtin("lognormal", "LogNormalLikelihood", "positive", {"positive": 2}, 2, _LOC_SCALE, nuisance=("scale",),
         excludes_zero=True)
_builtin("gaussian", "GaussianLikelihood", "real", {"positive": 3, "real": 0}, 2, _LOC_SCALE, nuisance=("scale",),
         options={"optimal_sigma": False}, display="Gaussian", fixed_loss="mse")
_builtin("laplace", "LaplaceLikelihood", "real", {"real": 1}, 2, _LOC_SCALE, nuisance=("scale",), display="Laplace",
         robust_scale=True)
_builtin("student_t", "StudentTLikelihood", "real", {"real": 2}, 3, {**_LOC_SCALE, "df": "softplus"},
         nuisance=("scale", "df"), display="Student-t", robust_scale=True)

"""What the analyser needs to know about each built-in likelihood family, without importing torch.

The likelihood classes (:mod:`autolik.likelihoods`) are torch modules; the analyser (profile,
support, selection, recommendation) is a numpy/scipy job and should not pay torch's import time
and memory to read a few class attributes. This table mirrors, per built-in family, the class
attributes the analyser reads: ``discrete``, the nuisance (scale/shape) parameters,
``option_defaults`` and ``output_activations()``. ``tests/test_families.py`` checks it against the
registered classes, so the two cannot drift.

This module imports nothing from autolik (the likelihood classes import ``NUISANCE_MODES`` from
here); :func:`autolik.analysis.build.family_facts` decides between this table and the registry.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: the modes a scale/shape ("nuisance") parameter can take
NUISANCE_MODES = ("fixed", "shared", "feature", "sample")


@dataclass(frozen=True)
class FamilyFacts:
    """The torch-free facts about one family that the analyser reads (see the module doc)."""

    name: str
    discrete: bool
    nuisance: tuple[str, ...] = ()
    option_defaults: dict = field(default_factory=dict)
    activations: dict = field(default_factory=dict)  # output_activations(): parameter -> activation

    def output_activations(self) -> dict[str, str]:
        return dict(self.activations)


def _facts(name, discrete, activations, nuisance=(), options=None) -> FamilyFacts:
    return FamilyFacts(name, discrete, tuple(nuisance), dict(options or {}), dict(activations))


_LOC_SCALE = {"loc": "identity", "scale": "softplus"}

BUILTIN: dict[str, FamilyFacts] = {f.name: f for f in (
    _facts("bernoulli", True, {"probs": "sigmoid"}),
    _facts("beta", False, {"mean": "sigmoid", "concentration": "softplus"}, ["concentration"]),
    _facts("beta_binomial", True, {"mean": "sigmoid", "concentration": "softplus"}, ["concentration"],
           {"total_count": None}),
    _facts("binomial", True, {"probs": "sigmoid"}, options={"total_count": None}),
    _facts("categorical", True, {"probs": "softmax"}, options={"n_levels": None, "onehot": False}),
    _facts("continuous_bernoulli", False, {"lambda": "sigmoid"}),
    _facts("discretized_logistic", True, _LOC_SCALE, options={"total_count": 255, "n_components": 1}),
    _facts("exponential", False, {"rate": "softplus"}),
    _facts("gamma", False, {"mean": "softplus", "concentration": "softplus"}, ["concentration"]),
    _facts("gaussian", False, _LOC_SCALE, ["scale"], {"optimal_sigma": False}),
    _facts("laplace", False, _LOC_SCALE, ["scale"]),
    _facts("lognormal", False, _LOC_SCALE, ["scale"]),
    _facts("negative_binomial", True, {"mean": "softplus", "total_count": "softplus"}, ["total_count"]),
    _facts("poisson", True, {"rate": "softplus"}),
    _facts("student_t", False, {**_LOC_SCALE, "df": "softplus"}, ["scale", "df"]),
    _facts("zero_inflated_negative_binomial", True,
           {"mean": "softplus", "total_count": "softplus", "gate": "sigmoid"}, ["total_count"]),
    _facts("zero_inflated_poisson", True, {"rate": "softplus", "gate": "sigmoid"}),
)}


def from_class(cls) -> FamilyFacts:
    """The facts of a registered likelihood class (reads its class attributes)."""
    return FamilyFacts(cls.name, bool(cls.discrete), tuple(cls.nuisance), dict(getattr(cls, "option_defaults", {})),
                       cls.output_activations())


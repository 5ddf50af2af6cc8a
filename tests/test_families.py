"""The family specs (autolik.families): one per family, agreeing with its torch class, read by the analyser."""
from __future__ import annotations

import pytest

from autolik import families
from autolik.errors import UsageError
from autolik.families import NUISANCE_MODES, family
from autolik.likelihoods import available_likelihoods, base, likelihood_class


@pytest.mark.parametrize("name", families.names())
def test_every_spec_matches_its_class(name):
    spec, cls = family(name), likelihood_class(name)
    assert cls.name == name and cls.discrete == spec.discrete
    assert tuple(cls.nuisance) == spec.nuisance and dict(cls.option_defaults) == spec.options
    # the activation dict keeps the class's parameter order (it is shown and saved in that order)
    assert list(spec.output_activations().items()) == list(cls.output_activations().items())
    assert spec.supports and all(isinstance(r, (int, float)) for r in spec.supports.values())


def test_the_registry_is_the_specs():
    assert available_likelihoods() == families.names()


def test_specs_return_copies_and_unknown_families_are_named():
    acts = family("gaussian").output_activations()
    acts["loc"] = "changed"
    assert family("gaussian").output_activations()["loc"] == "identity"
    with pytest.raises(UsageError, match="unknown likelihood 'nope'; available: bernoulli"):
        family("nope")
    with pytest.raises(UsageError, match="unknown likelihood 'nope'"):
        likelihood_class("nope")


def test_candidates_follow_the_ranks():
    assert families.candidates("real") == ["gaussian", "laplace", "student_t"]
    assert families.candidates("positive") == ["exponential", "gamma", "lognormal", "gaussian"]
    assert families.candidates(families.WIDE_INTEGER)[-2:] == ["continuous_bernoulli", "beta"]
    assert families.candidates("identifier") == []


def test_a_family_is_registered_once():
    spec = family("poisson")
    assert families.register_family(spec) is spec  # the same spec again: nothing happens
    with pytest.raises(ValueError, match="registered twice"):
        families.register_family(families.FamilySpec("poisson", "count", {}, 1, spec.fitter, spec.likelihood, {}))
    assert family("poisson") is spec


def test_one_definition_of_the_nuisance_modes():
    assert base.NUISANCE_MODES is NUISANCE_MODES

"""The analyser's torch-free family facts agree with the registered likelihood classes."""
from __future__ import annotations

import pytest

from autolik.errors import UsageError
from autolik.analysis.build import family_facts
from autolik.families import BUILTIN, NUISANCE_MODES, from_class
from autolik.likelihoods import available_likelihoods, likelihood_class
from autolik.likelihoods import base


def test_every_builtin_family_has_facts_and_they_match_its_class():
    assert sorted(BUILTIN) == available_likelihoods()
    for name in available_likelihoods():
        assert BUILTIN[name] == from_class(likelihood_class(name)), name
        # the activation dict keeps the class's parameter order (it is shown and saved in that order)
        assert list(BUILTIN[name].output_activations()) == list(likelihood_class(name).output_activations()), name


def test_family_facts_returns_copies_and_names_unknown_families():
    acts = family_facts("gaussian").output_activations()
    acts["loc"] = "changed"
    assert family_facts("gaussian").output_activations()["loc"] == "identity"
    with pytest.raises(UsageError, match="unknown likelihood 'nope'; available: bernoulli"):
        family_facts("nope")


def test_one_definition_of_the_nuisance_modes():
    assert base.NUISANCE_MODES is NUISANCE_MODES

"""A family registered from outside the package (tests/plugins/cauchy.py) is analysed, fitted and compared
like a built-in one, with no edit anywhere in autolik."""
from __future__ import annotations

import math

import numpy as np
import pytest

import autolik
from autolik import families
from autolik.compare import compare

TINY = dict(epochs=1, k=2, latent_dim=2, hidden=[8], batch_size=64)


@pytest.fixture()
def cauchy():
    from plugins import cauchy as plugin  # tests/ is on sys.path (pytest's rootdir-less test folder)

    families.register_family(plugin.SPEC)  # again, after an earlier test unregistered it
    yield plugin
    families.unregister_family("cauchy")


def _draws(n=1000, d=2, seed=0):
    return np.random.default_rng(seed).standard_cauchy((n, d)) * 3.0 + 10.0


def test_the_analyser_considers_it_and_chooses_it_on_its_own_data(cauchy):
    rec = autolik.recommend(_draws())
    assert rec.likelihood == "cauchy"
    assert rec.features[0].loss == "negative log-likelihood (Cauchy)"
    assert rec.features[0].activation == {"loc": "identity", "scale": "softplus"}
    normal = autolik.recommend(np.random.default_rng(1).normal(size=(1000, 2)))
    assert normal.likelihood == "gaussian"
    assert "cauchy" in [a["likelihood"] for a in normal.alternatives]  # considered, ranked, not chosen
    assert "cauchy" in autolik.available_likelihoods()


def test_fit_and_compare_train_it(cauchy):
    x = _draws(300)
    fitted = autolik.fit(x, **TINY)
    assert fitted.recommendation.likelihood == "cauchy"
    assert type(fitted.model.likelihood) is cauchy.CauchyLikelihood
    assert math.isfinite(fitted.metrics["nll_iwae_nats_per_sample"])
    assert fitted.reconstruct(x[:3]).shape == (3, 2)
    comp = compare(x, candidates="auto", **TINY)
    assert comp.pick == "cauchy" and "cauchy" in comp.fitted
    row = next(r for r in comp.leaderboard if r["candidate"] == "cauchy")
    assert row["is_pick"] and row["comparable"] and math.isfinite(row["nll_iwae_nats_per_sample"])
    assert "cauchy" in compare(x, candidates="gaussian,cauchy", **TINY).fitted


def test_unregistered_it_is_gone():
    assert "cauchy" not in families.names()
    assert autolik.recommend(_draws()).likelihood == "student_t"

"""AutoVAE follows the scikit-learn estimator contract."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from autolik import AutoVAE

TINY = dict(hidden=(16,), latent_dim=2, epochs=1, batch_size=64, k=3)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(2.0, 1.5, size=(150, 4))


@pytest.fixture(scope="module")
def est(X):
    return AutoVAE(likelihood="gaussian", **TINY).fit(X)


def test_init_only_stores_and_params_round_trip():
    est = AutoVAE(latent_dim=3, hidden=(8, 4), epochs=2)
    params = est.get_params()
    assert params["latent_dim"] == 3 and params["hidden"] == (8, 4) and params["epochs"] == 2
    assert not [a for a in vars(est) if a.endswith("_")]
    est.set_params(lr=0.01, likelihood="poisson")
    assert est.lr == 0.01 and est.likelihood == "poisson"
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()


def test_unfitted_raises_not_fitted(X):
    with pytest.raises(NotFittedError):
        AutoVAE().transform(X)


def test_fit_returns_self_and_sets_fitted_attributes(X):
    est = AutoVAE(likelihood="gaussian", **TINY)
    assert est.fit(X) is est
    assert est.n_features_in_ == 4
    assert est.recommendation_.likelihood == "gaussian"
    assert est.history_.epochs_run == 1
    assert est.fitted_.latent_dim == 2


def test_transform_inverse_score_sample(est, X):
    Z = est.transform(X)
    assert Z.shape == (150, 2) and np.isfinite(Z).all()
    Xr = est.inverse_transform(Z)
    assert Xr.shape == X.shape and np.isfinite(Xr).all()
    rows = est.score_samples(X)
    assert rows.shape == (150,)
    assert est.score(X) == pytest.approx(rows.mean())
    assert est.sample(6, random_state=1).shape == (6, 4)
    assert np.array_equal(est.sample(6, random_state=1), est.sample(6, random_state=1))
    assert list(est.get_feature_names_out()) == ["autovae0", "autovae1"]


def test_fit_transform_and_clone_of_fitted_is_unfitted(est, X):
    Z = AutoVAE(likelihood="gaussian", **TINY).fit_transform(X)
    assert np.allclose(Z, est.transform(X))  # same seed, same data: same model
    with pytest.raises(NotFittedError):
        clone(est).transform(X)


def test_in_a_pipeline(X):
    pipe = make_pipeline(StandardScaler(), AutoVAE(likelihood="gaussian", **TINY)).fit(X)
    assert pipe.transform(X).shape == (150, 2)
    assert np.isfinite(pipe.score(X))

"""autolik.fit / FittedVAE: every registered likelihood trains, outputs come back in the data's
units/dtype/shape, seeded runs repeat exactly, the split depends only on the seed."""
from __future__ import annotations

import math

import numpy as np
import pytest

import autolik
from autolik.api import SCORE_SAMPLES, fit, split_indices
from autolik.errors import DataError, UsageError

TINY = dict(hidden=(16,), latent_dim=2, batch_size=64, k=3, quiet=True)
N = 160


def _counts(rng, n):
    return rng.poisson(3.0, size=(n, 3)).astype(np.int64)


def _zero_counts(rng, n):
    x = rng.poisson(4.0, size=(n, 3))
    x[rng.random((n, 3)) < 0.4] = 0
    return x.astype(np.int64)


def _unit(rng, n):
    return rng.uniform(0.05, 0.95, size=(n, 3))


def _positive(rng, n):
    return rng.gamma(2.0, 1.5, size=(n, 3)) + 0.01


def _real(rng, n):
    return rng.normal(1.0, 2.0, size=(n, 3))


def _bounded_int(rng, n):
    return rng.binomial(10, 0.3, size=(n, 3)).astype(np.int64)


# family -> synthetic data it suits; the test below fails when a registered name has no entry
DATA = {
    "bernoulli": lambda rng, n: rng.integers(0, 2, size=(n, 4)).astype(np.int64),
    "beta": _unit, "continuous_bernoulli": _unit,
    "binomial": _bounded_int, "beta_binomial": _bounded_int, "discretized_logistic": _bounded_int,
    "categorical": lambda rng, n: rng.integers(0, 4, size=(n, 2)).astype(np.int64),
    "exponential": _positive, "gamma": _positive, "lognormal": _positive,
    "gaussian": _real, "laplace": _real, "student_t": _real,
    "poisson": _counts, "negative_binomial": _counts,
    "zero_inflated_poisson": _zero_counts, "zero_inflated_negative_binomial": _zero_counts,
}


def test_every_registered_likelihood_has_data():
    assert set(autolik.available_likelihoods()) <= set(DATA)


@pytest.mark.parametrize("name", sorted(DATA))
def test_one_epoch_fit_per_likelihood(name):
    if name not in autolik.available_likelihoods():
        pytest.skip(f"{name} not registered")
    rng = np.random.default_rng(1)
    X = DATA[name](rng, N)
    fitted = fit(X, likelihood=name, epochs=1, **TINY)
    assert fitted.history.epochs_run == 1
    assert fitted.recommendation.likelihood == name
    m = fitted.metrics
    assert math.isfinite(m["neg_elbo_nats_per_sample"]) and math.isfinite(m["nll_iwae_nats_per_sample"])
    assert m["nll_iwae_nats_per_sample"] <= m["neg_elbo_nats_per_sample"] + 1e-6
    assert m["n_samples"] == round(0.1 * N)
    rec = fitted.reconstruct(X[:10])
    assert rec.shape == (10, X.shape[1]) and rec.dtype == X.dtype
    samples = fitted.sample(20, seed=3)
    assert samples.shape == (20, X.shape[1]) and np.isfinite(samples.astype(float)).all()
    if X.dtype.kind == "i":  # integer data come back on the data's range
        assert samples.min() >= 0 and (name not in ("binomial", "beta_binomial") or samples.max() <= 10)


def test_split_depends_only_on_seed_and_fractions():
    a, b = split_indices(200, seed=4), split_indices(200, seed=4)
    for part in ("train", "val", "test"):
        assert np.array_equal(a[part], b[part])
    assert len(a["test"]) == 20 and len(a["val"]) == 20 and len(a["train"]) == 160
    assert np.array_equal(np.sort(np.concatenate([a["train"], a["val"], a["test"]])), np.arange(200))
    assert not np.array_equal(a["test"], split_indices(200, seed=5)["test"])
    with pytest.raises(DataError):
        split_indices(2, seed=0)
    with pytest.raises(UsageError):
        split_indices(100, test_fraction=0.6, val_fraction=0.5)


def test_seeded_runs_repeat_exactly():
    X = _counts(np.random.default_rng(2), N)
    a = fit(X, epochs=2, seed=7, **TINY)
    b = fit(X, epochs=2, seed=7, **TINY)
    assert a.history.train_loss == b.history.train_loss and a.history.val_loss == b.history.val_loss
    assert a.metrics == b.metrics
    assert np.array_equal(a.encode(X), b.encode(X))
    assert np.array_equal(a.sample(5, seed=1), b.sample(5, seed=1))
    c = fit(X, epochs=2, seed=8, **TINY)
    assert c.history.train_loss != a.history.train_loss


def test_same_seed_gives_same_split_for_every_likelihood():
    X = _counts(np.random.default_rng(3), N)
    a = fit(X, likelihood="poisson", epochs=1, seed=5, **TINY)
    b = fit(X, likelihood="gaussian", epochs=1, seed=5, **TINY)
    assert np.array_equal(a.split["test"], b.split["test"])
    assert np.array_equal(a.split["val"], b.split["val"])


def test_uint8_images_come_back_as_uint8_images():
    rng = np.random.default_rng(4)
    X = (rng.random((120, 8, 8)) * 255).astype(np.uint8)
    X[:, 0, 0] = 7  # a constant pixel
    fitted = fit(X, epochs=1, **TINY)
    for out in (fitted.reconstruct(X[:5]), fitted.sample(5), fitted.decode(np.zeros((5, 2)))):
        assert out.dtype == np.uint8 and out.shape == (5, 8, 8)
        if not fitted.recommendation.features[0].used:  # a left-out constant is restored
            assert (out[:, 0, 0] == 7).all()


def test_left_out_constant_restored_and_values_on_lattice():
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.poisson(2.0, N), np.full(N, 3), rng.poisson(5.0, N)]).astype(float)
    fitted = fit(X, epochs=1, **TINY)
    out = fitted.reconstruct(X)
    assert out.shape == X.shape and out.dtype == np.float64
    assert np.array_equal(out, np.round(out)), "integer data come back as integers"
    if not fitted.recommendation.features[1].used:
        assert (out[:, 1] == 3).all()


def test_score_matches_evaluate_and_score_samples():
    X = _real(np.random.default_rng(6), N)
    fitted = fit(X, likelihood="gaussian", epochs=1, **TINY)
    rows = fitted.score_samples(X[:40])
    assert rows.shape == (40,) and np.isfinite(rows).all()
    assert fitted.score(X[:40]) == pytest.approx(rows.mean())
    m = fitted.evaluate(X[:40], k=SCORE_SAMPLES)
    assert -m["neg_elbo_nats_per_sample"] == pytest.approx(rows.mean(), rel=1e-9)
    assert fitted.encode(X[:7]).shape == (7, 2)


def test_feature_mismatch_names_both_counts():
    X = _real(np.random.default_rng(7), N)
    fitted = fit(X, likelihood="gaussian", epochs=1, **TINY)
    with pytest.raises(DataError, match=r"4 features.*trained on 3"):
        fitted.encode(np.zeros((5, 4)))


def test_bad_options_are_usage_errors():
    X = _real(np.random.default_rng(8), 60)
    with pytest.raises(UsageError):
        fit(X, select="psychic", epochs=1, **TINY)
    with pytest.raises(UsageError):
        fit(X, epochs=0, **TINY)
    rec = autolik.recommend(X)
    with pytest.raises(UsageError):
        fit(X, recommendation=rec, likelihood="gaussian", epochs=1, **TINY)
    with pytest.raises(DataError):
        fit(np.zeros((60, 5)) + X[:, :1], recommendation=rec, epochs=1, **TINY)


def test_string_levels_come_back_as_strings():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(9)
    df = pd.DataFrame({"colour": rng.choice(["red", "green", "blue"], N), "size": rng.normal(size=N)})
    fitted = fit(df, epochs=1, **TINY)
    frame = fitted.output.to_frame(fitted.reconstruct(df))
    assert set(frame["colour"]) <= {"red", "green", "blue"}
    # a file whose level codes differ (only two levels, in another order) is re-coded to training codes
    other = pd.DataFrame({"colour": ["green", "red"] * 5, "size": np.zeros(10)})
    x_other = fitted.output.read(other)
    levels = fitted.output.levels[0]
    assert [levels[int(c)] for c in x_other[:2, 0]] == ["green", "red"]

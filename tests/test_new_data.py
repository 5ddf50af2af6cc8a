"""A saved model checks the new data it is given: columns by name, kinds, levels, +-inf, support, one row."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import autolik
import autolik.fitted
from autolik.errors import DataError, DataWarning, UsageError

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def mixed(mixed_model):
    path, frame = mixed_model
    return autolik.load(path), frame.iloc[:10].reset_index(drop=True)


def test_reordered_columns_are_mapped_by_name(mixed, tmp_path):
    model, frame = mixed
    shuffled = frame[["colour", "const", "frac", "id", "count"]]
    assert np.array_equal(model.encode(shuffled), model.encode(frame))
    shuffled.to_csv(tmp_path / "s.csv", index=False)
    assert np.array_equal(model.reconstruct(str(tmp_path / "s.csv")), model.reconstruct(frame))
    assert model.evaluate(str(tmp_path / "s.csv"), k=3) == model.evaluate(frame, k=3)
    # columns the model leaves out (an identifier, a constant) may be absent
    assert np.array_equal(model.encode(frame.drop(columns=["id", "const"])), model.encode(frame))


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.drop(columns=["frac"]), r"columns \['frac'\] that the model uses are missing"),
    (lambda f: f.rename(columns={"frac": "fraction"}), r"columns \['fraction'\] are not in the training data"),
    (lambda f: f.assign(colour=np.arange(len(f)) % 3), "column 'colour' holds numbers .* text levels"),
    (lambda f: f.assign(count=["a", "b"] * (len(f) // 2)), "column 'count' holds text"),
    (lambda f: f.assign(colour=["purple"] * len(f)), r"levels \['purple'\] not seen in training"),
])
def test_wrong_columns_are_refused_clearly(mixed, edit, message):
    model, frame = mixed
    for call in (model.encode, model.reconstruct, model.score_samples, lambda X: model.evaluate(X, k=2)):
        with pytest.raises(DataError, match=message):
            call(edit(frame))


def test_missing_values_in_a_model_trained_without_them_are_named(mixed):
    model, frame = mixed
    bad = frame.assign(frac=frame["frac"].astype(float))
    bad.loc[6, "frac"] = np.nan
    with pytest.raises(DataError, match=r"<DataFrame> has missing values .* at data row 7, column 'frac'"):
        model.encode(bad)


def test_infinite_values_are_refused_naming_row_and_column(mixed):
    model, frame = mixed
    bad = frame.assign(frac=frame["frac"].astype(float))
    bad.loc[3, "frac"] = np.inf
    for call in (model.encode, model.reconstruct, model.score_samples, lambda X: model.evaluate(X, k=2)):
        with pytest.raises(DataError, match=r"infinite values at data row 4, column 'frac' \(= inf\)"):
            call(bad)


@pytest.mark.parametrize("column, value, allowed", [
    ("frac", 1.7, r"'frac' \(beta\): values in \[0, 1\]"),
    ("frac", -0.2, r"'frac' \(beta\): values in \[0, 1\]"),
    ("count", -2, r"'count' \(poisson\): integers >= 0"),
    ("count", 2.5, r"'count' \(poisson\): integers >= 0"),
])
def test_out_of_support_values_are_refused_by_scoring_and_flagged_by_encoding(mixed, column, value, allowed):
    model, frame = mixed
    bad = frame.assign(**{column: frame[column].astype(float)})
    bad.loc[[2, 5], column] = value
    for call in (model.score_samples, lambda X: model.evaluate(X, k=2)):
        with pytest.raises(DataError, match=rf"2 of 10 rows hold values outside the model's support, at data row 3, "
                                            rf"column '{column}' .*allowed: column {allowed}"):
            call(bad)
    with pytest.warns(DataWarning, match="outside the model's support"):
        z = model.encode(bad)
    assert np.isfinite(z).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.encode(frame)  # in-support data: no warning


def test_codes_outside_the_levels_are_out_of_support(mixed):
    model, frame = mixed
    codes = frame.assign(colour=frame["colour"].map({"b": 0, "g": 1, "r": 2})).to_numpy(dtype=np.float64)
    assert np.isfinite(model.score_samples(codes)).all()
    codes[0, 2] = 7
    with pytest.raises(DataError, match=r"'colour' \(categorical\): integers 0..2"):
        model.score_samples(codes)


def test_one_row_is_enough(mixed, tmp_path):
    model, frame = mixed
    frame.iloc[:1].to_csv(tmp_path / "one.csv", index=False)
    one = str(tmp_path / "one.csv")
    assert model.encode(one).shape == (1, 2)
    assert model.reconstruct(one).shape == (1, 5)
    assert model.evaluate(one, k=2)["n_samples"] == 1
    assert np.allclose(model.score_samples(one), model.score_samples(frame.iloc[:1]))


def test_library_edges(mixed):
    model, frame = mixed
    with pytest.raises(DataError, match=r"shape \(n, 2\), got shape \(2, 3\)"):
        model.decode(np.zeros((2, 3)))
    assert model.decode(np.zeros(2)).shape == (1, 5)  # one latent vector
    with pytest.raises(DataError, match="NaN or infinite"):
        model.decode(np.array([[0.0, np.inf]]))
    for n in (2.5, 0, -1, True, "3"):
        with pytest.raises(UsageError, match="whole number"):
            model.sample(n)
    assert model.sample(3.0).shape == (3, 5)
    with pytest.raises(DataError, match="holds text"):
        model.score_samples(np.array([["a", "b", "c", "d", "e"]] * 2))
    with pytest.raises(UsageError, match="whole number"):
        model.evaluate(frame, k=0)
    assert autolik.DataError is DataError and autolik.UsageError is UsageError and autolik.DataWarning is DataWarning


def test_sample_streams_in_chunks_with_the_same_draws(mixed, monkeypatch):
    model, _ = mixed
    whole = model.sample(10, seed=4)
    monkeypatch.setattr(autolik.fitted, "SAMPLE_CHUNK_ROWS", 3)  # where FittedVAE reads it
    assert model.chunk_rows() == 3
    chunks = list(model.sample_chunks(10, seed=4))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    import torch

    streamed = []
    for c in model.sample_chunks(10, seed=4):
        torch.rand(5)  # the caller using torch's generator between chunks changes nothing
        streamed.append(c)
    assert np.array_equal(np.concatenate(streamed), np.concatenate(chunks))
    assert model.sample(10, seed=4).shape == whole.shape


def test_poisson_array_model_refuses_negative_and_fractional_counts(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.poisson(3.0, (120, 3))
    model = autolik.fit(x, likelihood="poisson", hidden=(8,), latent_dim=2, epochs=1, k=2)
    assert model.score_samples(x[:4]).shape == (4,)
    bad = x[:4].astype(float)
    bad[1, 2] = -2
    with pytest.raises(DataError, match=r"data row 2, column 'x2' \(= -2\).*integers >= 0"):
        model.evaluate(bad, k=2)
    bad[1, 2] = 2.5
    with pytest.raises(DataError, match="outside the model's support"):
        model.score_samples(bad)


@pytest.mark.parametrize("family, transform, options, described", [
    ("beta", dict(scale=1 / 8, step=1.0), {}, "values in [0, 7]"),  # integers 0..7 dequantised into (0, 1)
    ("continuous_bernoulli", dict(scale=1 / 256, step=1.0), {}, "values in [0, 255]"),
    ("lognormal", dict(scale=1 / 1.6, step=1.0), {}, "values >= 0"),  # counts: each cell's interior is > 0
    ("gamma", dict(scale=0.5), {}, "values > 0"),
    ("beta", dict(shift=2.0, scale=1 / 3), {}, "values in [2, 5]"),  # min-max of [2, 5]
    ("bernoulli", dict(shift=-1.0, scale=0.5, continuous=False), {}, "the two values -1 and 1"),
    ("binomial", dict(continuous=False), {"total_count": 16}, "integers 0..16"),
    ("poisson", dict(continuous=False), {}, "integers >= 0"),
    ("gaussian", dict(shift=3.0, scale=0.1), {}, "real numbers"),
])
def test_supports_are_described_in_data_units(family, transform, options, described):
    from autolik.likelihoods import get_likelihood
    from autolik.model_support import column_supports, outside
    from autolik.transforms import FeatureTransform, Preprocessor

    lik = get_likelihood(family, 1, **options)
    support = column_supports(lik, Preprocessor([FeatureTransform(**transform)]), [family])[0]
    assert support.describe() == described
    inside = {"values in [0, 7]": 7, "values in [0, 255]": 255, "values >= 0": 0, "values > 0": 0.01,
              "values in [2, 5]": 5, "the two values -1 and 1": -1, "integers 0..16": 16, "integers >= 0": 0,
              "real numbers": -1e300}[described]
    assert not outside(np.array([[inside]], dtype=float), [support]).any()
    if described != "real numbers":
        beyond = {"values >= 0": -0.5, "values > 0": 0.0, "the two values -1 and 1": 0.0,
                  "integers >= 0": 2.5}.get(described, inside + 1)
        assert outside(np.array([[beyond]], dtype=float), [support]).all()

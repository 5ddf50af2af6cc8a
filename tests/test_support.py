"""Support classes: every trap of issue 2 item 4, through the public ``autolik.inspect``."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import autolik
from autolik.analysis.support import SUPPORTS, assign_supports

RNG = np.random.default_rng(20240601)
N = 1500


def supports(X, **kw):
    prof = autolik.inspect(X, **kw)
    return [f.support for f in prof.features], prof


@pytest.mark.parametrize("codes", [(0, 1), (-1, 1), (0, 255), (2.5, 7.0)])
def test_two_values_in_any_coding_are_binary(codes):
    X = np.where(RNG.random((N, 3)) < 0.3, codes[0], codes[1]).astype(float)
    sup, prof = supports(X)
    assert sup == ["binary"] * 3
    assert prof.features[0].support_detail["values"] == list(codes)


def test_boolean_array_is_binary():
    sup, _ = supports(RNG.random((N, 4)) < 0.6)
    assert sup == ["binary"] * 4


def test_counts_stored_as_float_are_counts():
    X = RNG.negative_binomial(2, 0.2, (N, 2)).astype(np.float64)
    sup, _ = supports(X)
    assert sup == ["count", "count"]


def test_rounded_gaussian_is_real_not_count():
    sup, prof = supports(np.round(RNG.normal(0, 3, (N, 2)), 2))
    assert sup == ["real", "real"]
    assert prof.features[0].support_detail.get("step") == pytest.approx(0.01)


def test_gaussian_far_from_zero_is_real():
    sup, _ = supports(RNG.normal(10, 4, (N, 3)) + 40)  # all positive, yet the bound at 0 is irrelevant
    assert sup == ["real"] * 3


def test_whole_numbers_far_from_zero_are_a_measurement_not_a_count():
    """Lengths in mm, masses in g: integers whose sd is under a quarter of their mean. Zero is > 4 sd away, as
    for continuous data far from zero; a count family would tie their spread to the mean (a Poisson's sd is
    14 at 200), wider than the values are given the latent code. A count near zero stays a count."""
    far = np.column_stack([np.round(RNG.normal(200, 14, N)), np.round(RNG.normal(4200, 800, N))])
    sup, prof = supports(far)
    assert sup == ["real", "real"] and prof.features[0].support_detail.get("step") == 1
    rec = autolik.recommend(far)
    assert {f.likelihood for f in rec.used} <= {"gaussian", "laplace", "student_t"}
    near = RNG.poisson(4.0, (N, 1)).astype(np.float64)
    assert supports(near)[0] == ["count"]


@pytest.mark.parametrize("scale", [1e9, 1e-9])
def test_extreme_scales(scale):
    sup, _ = supports(np.column_stack([RNG.normal(0, 1, N), RNG.lognormal(0, 0.8, N)]) * scale)
    assert sup == ["real", "positive"]


def test_bounded_integers_vs_counts():
    X = np.column_stack([RNG.integers(1, 7, N), RNG.integers(1, 11, N), RNG.binomial(16, 0.5, N),
                         RNG.poisson(1.4, N), RNG.poisson(7, N)])
    sup, prof = supports(X)
    assert sup == ["bounded_integer"] * 3 + ["count"] * 2
    assert prof.features[0].support_detail == {"low": 1, "high": 6, "step": 1}


def test_unit_interval_and_bounded():
    X = np.column_stack([RNG.beta(0.7, 1.8, N), 100 * RNG.beta(0.5, 0.5, N), np.clip(RNG.normal(5, 4, N), 0, 8)])
    sup, prof = supports(X)
    assert sup == ["unit_interval", "bounded", "bounded"]
    assert (prof.features[2].support_detail["low"], prof.features[2].support_detail["high"]) == (0, 8)


def test_image_batch_pools_pixels_including_constant_border():
    img = RNG.integers(0, 256, (300, 8, 8)).astype(np.uint8)
    img[:, 0, :] = 0  # constant border row
    sup, prof = supports(img)
    assert set(sup) == {"bounded_integer"}
    assert prof.features[0].support_detail["high"] == 255 and prof.homogeneous


def test_wide_scaled_pixels_pool_to_unit_interval():
    X = (RNG.integers(0, 256, (400, 40)) * (RNG.random((400, 40)) < 0.3)).astype(np.float32) / 255
    X[:, :3] = 0
    sup, prof = supports(X)
    assert set(sup) == {"unit_interval"}
    assert prof.features[0].support_detail["step"] == pytest.approx(1 / 255, rel=1e-3)


def test_onehot_block_string_identifier_constant(tmp_path):
    k = RNG.integers(0, 3, N)
    df = pd.DataFrame({"id": np.arange(N), "a": np.eye(3)[k][:, 0], "b": np.eye(3)[k][:, 1], "c": np.eye(3)[k][:, 2],
                       "eye": RNG.choice(["brown", "blue", "green"], N), "flag": RNG.choice(["yes", "no"], N),
                       "key": [f"k{i:05d}" for i in RNG.permutation(N)], "zero": np.zeros(N)})
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    sup, prof = supports(str(path))
    names = [f.name for f in prof.features]
    got = dict(zip(names, sup))
    assert got == {"id": "identifier", "a": "categorical", "b": "categorical", "c": "categorical",
                   "eye": "categorical", "flag": "binary", "key": "identifier", "zero": "constant"}
    assert prof.constant_features == [names.index("zero")]


def test_missing_values_do_not_change_the_support():
    X = RNG.normal(0, 2, (N, 2))
    X[RNG.random(X.shape) < 0.3] = np.nan
    sup, prof = supports(X)
    assert sup == ["real", "real"]
    assert prof.features[0].missing_fraction == pytest.approx(0.3, abs=0.04)


def test_every_assigned_support_is_in_the_vocabulary():
    X = np.column_stack([RNG.normal(size=N), np.full(N, np.nan), RNG.poisson(2, N), np.full(N, 3.0)])
    sup, prof = supports(X)
    assert set(sup) <= set(SUPPORTS)
    assert sup[1] == "constant" and sup[3] == "constant"
    assign_supports(prof)  # idempotent
    assert [f.support for f in prof.features] == sup


def test_uint8_storage_of_a_small_scale_keeps_its_range():
    """8x8 digits stored as uint8 are integers 0..16, not 8-bit pixels 0..255."""
    from sklearn.datasets import load_digits

    rec = autolik.recommend(load_digits().images.astype(np.uint8))
    f = rec.features[0]
    assert f.support == "bounded_integer"
    assert f.options.get("total_count", f.options.get("n_levels", 0) - 1) == 16


def test_a_right_skewed_sample_whose_max_is_near_100_is_not_a_percentage():
    rng = np.random.default_rng(0)
    for seed in range(5):
        x = np.random.default_rng(seed).gamma(2.0, 10.0, size=(500, 4))
        x[:, 0] *= 99.5 / x[:, 0].max()  # max just under 100, as a gamma tail may land
        assert all(s == "positive" for s in (f.support for f in autolik.inspect(x).features))
    pct = np.clip(rng.normal(60, 30, size=(500, 1)), 0, 100)
    assert autolik.inspect(pct).features[0].support == "bounded"


@pytest.mark.parametrize("low,high,bounds", [(0, 10, (0.0, 10.0)), (-1, 1, (-1.0, 1.0)), (1e6, 2e6, (1e6, 2e6))])
def test_uniform_on_round_bounds_is_bounded_by_them(low, high, bounds):
    """No point mass at the ends, but the density stays flat up to them: hard bounds, not tails."""
    x = np.random.default_rng(3).uniform(low, high, 5000)
    sup, prof = supports(x)
    f = prof.features[0]
    assert sup == ["bounded"] and (f.support_detail["low"], f.support_detail["high"]) == bounds
    assert autolik.recommend(prof).likelihood in ("continuous_bernoulli", "beta")


def test_uniform_on_other_bounds_keeps_its_data_strictly_inside():
    x = np.random.default_rng(4).uniform(2.37, 7.3, 5000)
    f = autolik.inspect(x).features[0]
    assert f.support == "bounded" and f.support_detail["high"] == 7.3
    assert f.support_detail["low"] < x.min() < x.min() + 1e-2


@pytest.mark.parametrize("draw", [lambda r: r.normal(3, 1, 5000), lambda r: r.standard_t(5, 5000),
                                  lambda r: r.gamma(2, 1, 5000), lambda r: r.triangular(0, 1, 4, 5000),
                                  lambda r: r.beta(2, 2, 5000) * 7, lambda r: r.uniform(0, 10, 500)])
def test_tails_and_small_samples_are_not_called_bounded(draw):
    for seed in range(5):
        assert autolik.inspect(draw(np.random.default_rng(seed))).features[0].support != "bounded"


@pytest.mark.parametrize("loader", ["load_iris", "load_wine"])
def test_a_small_samples_extreme_values_are_not_bounds(loader):
    """150-180 rows: one value at the min is 0.6% of the data, but it is an extreme, not a pile-up."""
    from sklearn import datasets

    prof = autolik.inspect(getattr(datasets, loader)().data)
    assert "bounded" not in [f.support for f in prof.features]


def test_clipped_rounded_small_sample_is_still_bounded():
    x = np.round(np.clip(np.random.default_rng(5).normal(0, 1, 150), -1, 1), 1)
    f = autolik.inspect(x).features[0]
    assert f.support == "bounded" and (f.support_detail["low"], f.support_detail["high"]) == (-1.0, 1.0)


def test_scores_on_a_fixed_scale_are_bounded_integers_not_counts():
    """A 1..5 rating whose top level is rare is a score on a fixed scale, not a count from zero; a
    Poisson count starting at 0 stays a count (issue 10, item 6)."""
    import autolik

    rng = np.random.default_rng(0)
    rating = rng.choice([1, 2, 3, 4, 5], size=(2000, 1), p=[.3, .3, .25, .12, .03]).astype(float)
    assert autolik.inspect(rating).features[0].support == "bounded_integer"
    assert autolik.inspect(rng.poisson(2, size=(2000, 1)).astype(float)).features[0].support == "count"


def test_text_with_a_level_for_every_second_value_is_left_out():
    """Names, descriptions, free text: most levels are seen once, so no categorical over them can be
    learned (held-out rows bring levels never seen); such a column is reported and left out."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"description": [f"item {i // 2}" for i in range(400)],  # 200 levels for 400 values
                          "colour": rng.choice(["red", "green", "blue"], 400), "x": rng.normal(size=400)})
    assert supports(frame)[0][:2] == ["identifier", "categorical"]


def test_text_with_many_sparse_levels_is_modelled_over_its_sorted_codes():
    """More than 32 levels and fewer than 5 rows per level: a categorical cannot learn each level from
    a handful of rows, so the column is a bounded integer over its sorted level codes 0..K-1 (no
    categorical among its candidates), and the rationale says why. With enough rows per level, or few
    levels, it stays categorical."""
    rng = np.random.default_rng(1)
    sparse = [f"code {i:03d}" for i in rng.integers(0, 120, 400)]      # ~120 levels, ~3.3 rows each
    dense = [f"site {i:02d}" for i in rng.integers(0, 40, 2000)]       # 40 levels, 50 rows each
    few = [f"grade {i}" for i in rng.integers(0, 20, 60)]              # 20 levels, 3 rows each
    frame = pd.DataFrame({"code": sparse, "x": rng.normal(size=400)})
    rec = autolik.recommend(frame)
    code = rec.features[0]
    k = len(set(sparse))
    assert code.support == "bounded_integer" and code.likelihood != "categorical"
    assert code.rationale.startswith(f"a text column with {k} levels and {round(400 / k, 2):g} rows per level, "
                                     "too few for a categorical to learn each level")
    assert f"'code': a text column with {k} levels and {round(400 / k, 2):g} rows per level" in " ".join(rec.notes)
    prof = autolik.inspect(frame)
    assert prof.features[0].support_detail["ordered_codes"] and prof.features[0].support_detail["high"] == k - 1
    assert supports(pd.DataFrame({"site": dense, "x": rng.normal(size=2000)}))[0][0] == "categorical"
    assert supports(pd.DataFrame({"grade": few, "x": rng.normal(size=60)}))[0][0] == "categorical"


def test_sparse_text_codes_round_trip_through_fit_and_sample(tmp_path):
    """The sorted codes are the loader's level codes, so a model of them samples the column's own levels."""
    rng = np.random.default_rng(2)
    levels = [f"K{a:02d}.{b}" for a in range(20) for b in range(3)]      # 60 hierarchical codes
    frame = pd.DataFrame({"code": rng.choice(levels, 240), "x": rng.normal(size=240)})
    path = tmp_path / "codes.csv"
    frame.to_csv(path, index=False)
    model = autolik.fit(str(path), epochs=2, quiet=True)
    assert model.recommendation.features[0].support == "bounded_integer"
    frame_out = model.output.to_frame(model.sample(50, seed=0))
    assert len(frame_out) == 50 and set(frame_out["code"].dropna()) <= set(levels)

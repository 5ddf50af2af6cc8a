"""profile(): per-feature and whole-array fields on small arrays, chunked or not."""
import numpy as np
import pytest

from autolik.analysis.profiling.profile import Profile, inspect, profile
from autolik.io import load


@pytest.fixture(scope="module")
def mixed():
    rng = np.random.default_rng(0)
    n = 2000
    x = np.column_stack([rng.normal(10, 4, n), rng.poisson(3, n).astype(float), np.eye(3)[rng.integers(0, 3, n)],
                         np.full(n, 7.0), rng.integers(0, 256, n) / 255, np.arange(n, dtype=float),
                         np.full(n, np.nan)])
    x[rng.random(n) < 0.3, 0] = np.nan
    x[5, 1], x[6, 1] = np.inf, -np.inf
    return x


@pytest.mark.parametrize("chunk_rows,threads", [(None, 1), (333, 1), (333, 2), (1500, 2)])
def test_fields(mixed, chunk_rows, threads):
    p = profile(mixed, chunk_rows=chunk_rows, sample_rows=500, threads=threads)
    f = p.features
    assert p.shape == (2000, 9) and p.n_samples == 2000 and p.n_features == 9
    assert f[0].missing_fraction == pytest.approx(np.isnan(mixed[:, 0]).mean())
    assert f[0].mean == pytest.approx(np.nanmean(mixed[:, 0])) and not f[0].is_integer
    assert (f[1].n_posinf, f[1].n_neginf, f[1].is_integer, f[1].grid_step) == (1, 1, True, 1.0)
    fin = mixed[:, 1][np.isfinite(mixed[:, 1])]
    assert f[1].dispersion_index == pytest.approx(fin.var() / fin.mean())
    assert f[1].distinct_values == sorted(set(fin.tolist()))
    assert p.onehot_blocks == [[2, 3, 4]]
    assert 5 in p.constant_features and 8 in p.constant_features
    assert f[6].grid_step == pytest.approx(1 / 255) and f[6].n_distinct == len(np.unique(mixed[:, 6]))
    assert f[7].monotonic == "increasing" and f[0].monotonic is None
    assert f[8].count == 0 and f[8].missing_fraction == 1.0
    notes = " ".join(p.notes)
    assert "all values missing in x8" in notes and "+-inf" in notes and "constant features" in notes
    assert p.sample.shape == (500, 9) and p.sample.dtype == np.float64
    np.testing.assert_array_equal(p.sample, mixed[p.sample_index])
    assert np.all(np.diff(p.sample_index) > 0)


@pytest.mark.parametrize("chunk_rows,threads", [(97, 2), (1100, 2), (1100, 3)])
def test_same_answer_whatever_the_chunking(mixed, chunk_rows, threads):
    """Chunks of 1100 rows are split between worker threads (C kernel) and overlap the merging."""
    a, b = profile(mixed, chunk_rows=chunk_rows, threads=threads), profile(mixed, threads=1)
    for fa, fb in zip(a.features, b.features):
        assert fa.distinct_values == fb.distinct_values and fa.grid_step == fb.grid_step
        assert fa.n_distinct == fb.n_distinct and fa.is_integer == fb.is_integer
        assert fa.variance == pytest.approx(fb.variance, rel=1e-9, nan_ok=True)
    np.testing.assert_array_equal(a.sample, b.sample)


def test_sample_is_seeded_and_bounded():
    x = np.random.default_rng(1).normal(size=(300, 2))
    assert profile(x, sample_rows=5000).sample.shape == (300, 2)
    a, b, c = (profile(x, sample_rows=50, seed=s).sample_index for s in (0, 0, 1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_images_uint8_and_scaled(tmp_path):
    img = np.random.default_rng(2).integers(0, 256, (200, 8, 8), dtype=np.uint8)
    img[:, 0, 0] = 0
    np.save(tmp_path / "img.npy", img)
    p = profile(load(tmp_path / "img.npy"))
    assert p.is_image and p.image_shape == (1, 8, 8) and p.grid_step == 1.0 and p.dtype == "uint8"
    assert any("8-bit" in n for n in p.notes) and 0 in p.constant_features
    p = profile((img.astype(np.float32) / 255)[:, None])
    assert p.is_image and p.grid_step == pytest.approx(1 / 255, rel=1e-4)
    assert any("1/255 grid" in n for n in p.notes)


def test_string_levels_and_dates(tmp_path):
    rows = ["eye,when,h"] + [f"{'blue' if i % 3 else 'green'},2020-02-{1 + i % 20:02d},{i * 0.5}" for i in range(30)]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    p = profile(load(tmp_path / "s.csv"))
    eye, when = p.features[0], p.features[1]
    assert eye.is_string and eye.levels == {"blue": 20, "green": 10} and eye.dtype == "string"
    assert when.is_datetime and not when.is_string
    assert not p.homogeneous


def test_inspect_assigns_supports_and_passes_profiles_through(mixed):
    pytest.importorskip("autolik.analysis.support")
    p = inspect(mixed[:, :2])
    assert isinstance(p, Profile) and inspect(p) is p
    assert p.features[1].support == "count"


def test_default_threads_are_the_usable_cores_up_to_two(monkeypatch):
    import os

    from autolik.analysis.profiling import shards as S

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert S.usable_cores(2) == 2 and S.thread_count(None, 1) == 2 and S.thread_count(None, 2) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert S.usable_cores(2) == 1 and S.thread_count(None, 1) == 1

"""Partial statistics: merge(a, b) equals the statistics of the concatenation, checked against numpy/scipy."""
import numpy as np
import pytest
import scipy.stats as ss

from autolik.analysis.profiling import kernel
from autolik.analysis.profiling.stats import PartialStats, grid_step


@pytest.fixture(autouse=True, params=["c", "numpy"])
def backend(request, monkeypatch):
    """Every test here runs on the C kernel and on its numpy reference."""
    if request.param == "c" and kernel._kernel is None:
        pytest.skip("built without the C kernel")
    monkeypatch.setenv("AUTOLIK_KERNEL", request.param)
    return request.param


def _data(dtype, seed=0, n=3000):
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(1e3, 2, n), rng.poisson(3, n), rng.gamma(0.5, 1, n), rng.integers(0, 256, n) / 255,
                         np.arange(n), rng.standard_cauchy(n) * 1e6, rng.normal(0, 1e-12, n), np.full(n, 3.25),
                         rng.normal(0, 1e9, n)]).astype(dtype)
    x[::7, 2] = np.nan
    x[3, 1], x[4, 1] = np.inf, -np.inf
    return x


def _check(st, x, rtol):
    ref = np.asarray(x, np.float64)
    for j in range(x.shape[1]):
        c = ref[:, j][np.isfinite(ref[:, j])]
        sd = c.std()
        assert st.count[j] == c.size and st.n_nan[j] == np.isnan(ref[:, j]).sum()
        assert st.n_posinf[j] == (ref[:, j] == np.inf).sum() and st.n_neginf[j] == (ref[:, j] == -np.inf).sum()
        assert st.min[j] == c.min() and st.max[j] == c.max() and st.n_zero[j] == (c == 0).sum()
        assert abs(st.mean[j] - c.mean()) <= rtol * (sd + abs(c.mean()) * 1e-3)
        assert st.variance[j] == pytest.approx(c.var(), rel=rtol, abs=1e-300)
        if sd > 0:
            assert st.skewness[j] == pytest.approx(ss.skew(c), rel=rtol * 10, abs=rtol * 10)
            assert st.kurtosis[j] == pytest.approx(ss.kurtosis(c), rel=rtol * 10, abs=rtol * 10)
        else:
            assert np.isnan(st.skewness[j]) and np.isnan(st.kurtosis[j])
        assert st.integer[j] == bool(np.all(c == np.round(c)))
        assert st.increasing[j] == bool(np.all(np.diff(ref[:, j]) > 0))
        u = np.unique(c)
        assert (st.distinct[j] is None) == (u.size > st.cap)
        if st.distinct[j] is not None:
            np.testing.assert_array_equal(st.distinct[j], u)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-9), (np.float32, 1e-5)])
@pytest.mark.parametrize("split", [1, 700, 2999])
def test_merge_equals_whole(dtype, rtol, split):
    x = _data(dtype)
    whole = PartialStats.of(x, cap=500)
    merged = PartialStats.of(x[:split], cap=500).merge(PartialStats.of(x[split:], cap=500))
    _check(whole, x, rtol)
    _check(merged, x, rtol)


def test_streaming_update_matches_and_inputs_unchanged():
    x = _data(np.float64, seed=3)
    acc = PartialStats(x.shape[1], cap=500)
    for r in range(0, len(x), 401):
        acc.update(x[r:r + 401])
    _check(acc, x, 1e-9)
    a = PartialStats.of(x[:10])
    before = a.mean.copy()
    a.merge(PartialStats.of(x[10:]))
    np.testing.assert_array_equal(a.mean, before)


def test_integer_dtypes_and_bool():
    x = np.random.default_rng(1).integers(0, 256, (500, 3), dtype=np.uint8)
    st = PartialStats.of(x)
    assert st.integer.all() and np.allclose(st.mean, x.mean(0)) and np.allclose(st.variance, x.var(0))
    st = PartialStats.of(np.array([[True], [False], [True]]))
    assert st.distinct[0].tolist() == [0.0, 1.0] and st.mean[0] == pytest.approx(2 / 3)


def test_distinct_cap_flags_and_stops():
    x = np.arange(100.0)
    st = PartialStats.of(x, cap=10)
    assert st.distinct[0] is None and st.n_distinct[0] > 10 and st.over_cap[0]
    st = PartialStats.of(x[:10], cap=10).merge(PartialStats.of(x[10:20], cap=10))
    assert st.distinct[0] is None


@pytest.mark.parametrize("values,integer,dtype,expected", [
    (np.arange(0, 256) / 255, False, np.float64, 1 / 255),
    (np.arange(0, 256, 3) / 255, False, np.float32, 3 / 255),
    (np.round(np.linspace(-3, 40, 900), 2), False, np.float64, 0.01),
    (np.array([0.0, 0.4, 1.0]), False, np.float64, 0.2),
    (np.array([0, 255]), True, np.float64, 255.0),
    (np.arange(10), True, np.float64, 1.0),
])
def test_grid_step(values, integer, dtype, expected):
    v = np.unique(np.asarray(values, dtype).astype(np.float64))
    assert grid_step(v, integer=integer, eps=float(np.finfo(dtype).eps)) == pytest.approx(expected, rel=1e-4)


def test_continuous_values_have_no_grid():
    v = np.unique(np.random.default_rng(0).normal(size=300))
    assert grid_step(v) is None
    assert grid_step(np.array([1.0])) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lattice_shortcut_keeps_distinct_sets_exact(dtype):
    """Chunks after the first skip sorting values already on a known lattice; sets stay exact."""
    rng = np.random.default_rng(5)
    n = 8000
    cols = [rng.poisson(30, n), np.sort(rng.poisson(3, n)), rng.integers(0, 256, n) / 255,
            np.sort(rng.integers(0, 256, n)) / 255, rng.integers(0, 50, n) * 2 + 1,
            np.where(rng.random(n) < .1, np.nan, rng.integers(0, 10, n)), rng.integers(0, 20, n) * 0.1 - 0.5,
            np.r_[rng.integers(0, 5, n // 2), rng.random(n - n // 2)], np.r_[rng.integers(0, 5, n - 9), [np.inf] * 9],
            np.r_[rng.integers(0, 3000, n // 2), rng.integers(0, 5000, n - n // 2)] / 7.0, np.full(n, 0.3)]
    x = np.column_stack(cols).astype(dtype)
    x[100, 2] = np.float32(0.5)  # once off the 1/255 grid
    st = PartialStats(x.shape[1])
    for r in range(0, n, 700):
        st.update(x[r:r + 700])
    for j in range(x.shape[1]):
        c = np.asarray(x[:, j], np.float64)
        u = np.unique(c[np.isfinite(c)])
        if len(u) <= st.cap:
            np.testing.assert_array_equal(st.distinct[j], u)
        else:
            assert st.distinct[j] is None and st.n_distinct_seen[j] > st.cap

"""The fused pass: the C kernel agrees with its numpy reference, and both with plain numpy/float64."""
import numpy as np
import pytest

from autolik.analysis.profiling import kernel
from autolik.analysis.profiling.kernel import COUNTS, OUT_CAP, Sums, accumulate_numpy
from autolik.analysis.profiling.lattice import lattice_entry, lattice_params

needs_c = pytest.mark.skipif(kernel._kernel is None, reason="built without the C kernel")


def _data(dtype, n=1500, seed=0):
    rng = np.random.default_rng(seed)
    x = np.column_stack([
        rng.normal(5, 2, n), rng.poisson(3, n), rng.integers(0, 64, n) / 63, rng.random(n),
        np.round(rng.normal(0, 3, n), 1), rng.integers(-3, 4, n) * 0.5, np.zeros(n), rng.normal(0, 1e3, n),
    ]).astype(dtype)
    x[::13, 0] = np.nan
    x[5, 1], x[7, 1], x[9, 1] = np.inf, -np.inf, np.nan
    x[11, 3] = -0.0
    x[900, 2] = dtype(0.5)  # once off the 1/63 grid (after the rows the lattices come from)
    x[950, 5] = 7.0  # once outside the known range
    return x


def _sums(x, backend, monkeypatch, cuts=(0,)):
    """Sums of x (with the lattices of x's first 700 rows), added in the given row pieces."""
    monkeypatch.setenv("AUTOLIK_KERNEL", backend)
    dt = x.dtype
    known = [np.unique(c[np.isfinite(c)]).astype(np.float64) for c in np.asarray(x[:700], np.float64).T]
    params, j0, j1, tracked = lattice_params(known, dt, {})
    k = np.nan_to_num(np.nanmean(np.where(np.isfinite(x[:256]), x[:256], np.nan), 0)).astype(dt)
    s = Sums(k, params, j0, j1, check_int=True)
    bounds = list(cuts) + [len(x)]
    for a, b in zip(bounds, bounds[1:]):
        s.add(x[a:b])
    return s, tracked


def _reference(x, s, tracked):
    """Every field of Sums from plain float64 numpy."""
    y = np.asarray(x, np.float64)
    fin = np.isfinite(y)
    dev = np.where(fin, y - s.k.astype(np.float64), 0.0)
    counts = {"nan": np.isnan(y).sum(0), "posinf": (y == np.inf).sum(0), "neginf": (y == -np.inf).sum(0),
              "zero": (y == 0).sum(0), "nonint": (fin & (np.rint(y) != y)).sum(0)}
    p = s.lattice.astype(np.float64)
    t = np.rint((x - s.lattice[2]) * s.lattice[3]) * s.lattice[4] / s.lattice[5] + s.lattice[2]  # in x's dtype
    on = (x >= s.lattice[0]) & (x <= s.lattice[1]) & (t == x)
    counts["off_lattice"] = (fin & ~on & (p[6] != 0)).sum(0)
    lo = np.where(fin, y, np.inf).min(0)
    hi = np.where(fin, y, -np.inf).max(0)
    return [dev.sum(0), (dev ** 2).sum(0), (dev ** 3).sum(0), (dev ** 4).sum(0)], counts, lo, hi, fin & ~on & (p[6] != 0)


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_c)])
@pytest.mark.parametrize("cuts", [(0,), (0, 256, 257, 1000)])
def test_sums_match_float64_reference(dtype, rtol, backend, cuts, monkeypatch):
    x = _data(dtype)
    s, tracked = _sums(x, backend, monkeypatch, cuts)
    assert kernel.backend() == backend
    sums, counts, lo, hi, off = _reference(x, s, tracked)
    for name in COUNTS:
        np.testing.assert_array_equal(s.count(name), counts[name], err_msg=name)
    np.testing.assert_array_equal(s.lo, lo)
    np.testing.assert_array_equal(s.hi, hi)
    for p in range(4):
        scale = np.abs(sums[p]) + (np.nan_to_num(np.abs(hi - lo)) + 1) ** (p + 1) * len(x) * 1e-4
        assert np.all(np.abs(s.sums[p] - sums[p]) <= rtol * scale), p
    cols, vals = s.off_lattice()
    r, c = np.nonzero(off)
    got = sorted(zip(cols.tolist(), vals.astype(np.float64).tolist()))
    assert got == sorted(zip(c.tolist(), np.asarray(x, np.float64)[r, c].tolist()))
    assert tracked[2] and tracked[1] and tracked[5] and not tracked[3]  # 1/63 grid, counts, halves; uniform


@needs_c
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_kernel_equals_numpy_reference_bit_for_bit(dtype, monkeypatch):
    """Same block structure and operation order: min/max/counts exactly, sums to float rounding."""
    x = _data(dtype, n=2000, seed=3)
    c, _ = _sums(x, "c", monkeypatch)
    n, _ = _sums(x, "numpy", monkeypatch)
    np.testing.assert_array_equal(c.counts, n.counts)
    np.testing.assert_array_equal(c.lo, n.lo)
    np.testing.assert_array_equal(c.hi, n.hi)
    np.testing.assert_allclose(c.sums, n.sums, rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-9)
    assert c.n_off == n.n_off


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_c)])
def test_split_and_absorb_equal_one_pass(backend, monkeypatch):
    x = _data(np.float32, n=3000, seed=1)
    whole, _ = _sums(x, backend, monkeypatch)
    parts = whole.split(2)
    joined = whole.split(1)[0]
    parts[0].add(x[:1024])
    parts[1].add(x[1024:])
    joined.absorb(parts[0]).absorb(parts[1])
    np.testing.assert_array_equal(joined.counts, whole.counts)
    np.testing.assert_array_equal(joined.lo, whole.lo)
    np.testing.assert_allclose(joined.sums, whole.sums, rtol=1e-6)
    assert sorted(zip(*map(np.ndarray.tolist, joined.off_lattice()))) == sorted(zip(*map(np.ndarray.tolist, whole.off_lattice())))


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_c)])
def test_recording_stops_at_the_cap_and_says_so(backend, monkeypatch):
    monkeypatch.setenv("AUTOLIK_KERNEL", backend)
    x = np.arange(OUT_CAP + 10, dtype=np.float64)[:, None] + 0.5  # every value off the integer range [0, 1]
    params, j0, j1, _ = lattice_params([np.array([0.0, 1.0])], np.float64, {})
    s = Sums(np.zeros(1), params, j0, j1).add(x[:100]).add(x[100:])
    assert s.count("off_lattice")[0] == len(x) and s.n_off == len(x)
    assert s.off_lattice() is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lattice_entries_reproduce_their_points(dtype):
    for values in [np.arange(256) / 255, np.arange(0, 3000) * 0.5 - 7, np.arange(40.0), np.arange(0, 25) / 10]:
        known = np.unique(np.asarray(values, dtype).astype(np.float64))
        entry = lattice_entry(known, dtype)
        assert entry is not None, values[:3]
        a, b, v0, inv_h, step, divisor = (np.asarray(e, dtype) for e in entry)
        kw = known.astype(dtype)
        t = np.rint((kw - v0) * inv_h) * step / divisor + v0
        inside = (kw >= a) & (kw <= b)
        assert inside.sum() * 2 >= known.size and np.array_equal(t[inside], kw[inside])
    assert lattice_entry(np.unique(np.random.default_rng(0).normal(size=500)), dtype) is None


@needs_c
def test_kernel_rejects_wrong_buffers():
    x = np.zeros((4, 3), np.float32)
    good = dict(k=np.zeros(3, np.float32), lattice=np.zeros((7, 3), np.float32), lo=np.zeros(3, np.float32),
                hi=np.zeros(3, np.float32), sums=np.zeros((4, 3)), counts=np.zeros((6, 3), np.int64),
                out_j=np.zeros(5, np.int64), out_v=np.zeros(5, np.float32))

    def call(x=x, j1=3, **kw):
        a = {**good, **kw}
        return kernel._kernel.accumulate(x, a["k"], a["lattice"], 0, j1, True, a["lo"], a["hi"], a["sums"],
                                         a["counts"], a["out_j"], a["out_v"])

    assert call() == 0
    for bad in [dict(x=x.astype(np.int32)), dict(k=np.zeros(3)), dict(lattice=np.zeros((6, 3), np.float32)),
                dict(sums=np.zeros((4, 2))), dict(counts=np.zeros((6, 3), np.int32)), dict(j1=4),
                dict(x=np.zeros((4, 6), np.float32)[:, ::2]), dict(lo=np.zeros(3, np.float32)[::-1].copy()[:2])]:
        with pytest.raises(ValueError):
            call(**bad)
    ro = np.zeros(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError):
        call(hi=ro)

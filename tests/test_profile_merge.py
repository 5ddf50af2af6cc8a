"""The profile across processes (issue 13, item 3): shards summarised apart and merged in order give
the single pass's profile, compared field by field.

Exact: counts, min/max, zero fractions, integer and lattice flags, distinct sets and counts (``cap + 1``
beyond the cap), monotone flags, notes, one-hot blocks, the row sample. Moments (mean, variance,
skewness, kurtosis, dispersion) within 1e-9 relative. The recommendation is the same.

Shards cut on the chunk grid (what ``profile(workers=N)`` and the distributed ranks use) meet that
for every dtype. Cuts off the grid split a chunk, and float32 data is summed in float32 blocks that
start at a chunk's first row: there the moments of float32 data agree only to the pass's own
precision (~1e-7 relative; skewness and kurtosis ~1e-6 absolute), and the tests hold them to that.
"""
from __future__ import annotations

import math
import os
import pickle
import time

import numpy as np
import pytest

from autolik.analysis.profiling import shards
from autolik.analysis.profiling.profile import from_stats, profile
from autolik.analysis.recommendation.recommend import recommend
from autolik.analysis.profiling.stats import CAP, PartialStats, merge_all
from autolik.errors import UsageError
from autolik.io import load

MOMENTS = ("mean", "variance", "skewness", "kurtosis", "dispersion_index")
SAMPLE = 800  # rows of the quick fits: the recommendation's cost, not the profile's


# --------------------------------------------------------------------------- data sets


def binary(n, rng):
    """0/1 flags of different rates, a one-hot block, a flag that is set only in the last rows."""
    late = np.zeros(n)
    late[-3:] = 1
    return np.column_stack([rng.random((n, 3)) < [0.5, 0.05, 0.97], np.eye(3)[rng.integers(0, 3, n)],
                            late]).astype(np.uint8)


def counts(n, rng):
    """Poisson, negative binomial, zero-inflated counts, and strictly increasing / decreasing indices."""
    zi = np.where(rng.random(n) < 0.4, 0, rng.poisson(4, n))
    return np.column_stack([rng.poisson(3, n), rng.negative_binomial(2, 0.1, n), zi, np.arange(n),
                            np.arange(n)[::-1] * 3]).astype(np.int64)


def heavy(n, rng):
    """Heavy tails (Cauchy, Student-t with 2.5 dof, lognormal sigma 3), a mean 1e6 sd from zero."""
    return np.column_stack([rng.standard_cauchy(n), rng.standard_t(2.5, n), rng.lognormal(0, 3, n),
                            1e6 + rng.normal(size=n), -rng.pareto(1.5, n)])


def with_nans(n, rng):
    """NaN here and there, NaN only in the first rows, a column of NaN, +-inf values."""
    x = rng.normal(size=(n, 4)).astype(np.float32)
    x[rng.random(n) < 0.2, 0] = np.nan
    x[:50, 1] = np.nan
    x[:, 2] = np.nan
    x[7, 3], x[n - 2, 3] = np.inf, -np.inf
    return x


def lattice(n, rng):
    """Half-integers (a lattice of step 0.5), counts stored as floats, 8-bit pixels over 255, cents."""
    return np.column_stack([rng.integers(-20, 20, n) * 0.5, rng.poisson(6, n), rng.integers(0, 256, n) / 255,
                            np.round(rng.gamma(2, 10, n), 2)]).astype(np.float32)


def constant(n, rng):
    """Constant columns (one of them huge), and one that changes only in its very last row."""
    last = np.full(n, 2.5)
    last[-1] = 3.5
    return np.column_stack([np.full(n, 7.0), np.zeros(n), np.full(n, -1e300), last, rng.normal(size=n)])


def over_cap(n, rng):
    """More distinct values than the cap tracks: a continuous column, a wide integer range, a count."""
    return np.column_stack([rng.normal(size=n), rng.integers(0, 10 ** 6, n), rng.poisson(2, n)]).astype(np.float32)


DATASETS = {f.__name__: f for f in (binary, counts, heavy, with_nans, lattice, constant, over_cap)}
N, ROWS = 3001, 300  # grid 0, 300, ..., 3000, 3001: the last chunk is a single row


def data(name, n=N, seed=0):
    return DATASETS[name](n, np.random.default_rng(seed))


# --------------------------------------------------------------------------- comparisons


def _same(x, y) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return x == y


def assert_same_profile(a, b, rel=1e-9, abs_=0.0):
    """Every field of two Profiles: exact, but moments within ``rel`` (and ``abs_``)."""
    da, db = a.to_dict(), b.to_dict()
    assert da.keys() == db.keys()
    for k in da:
        if k != "features":
            assert _same(da[k], db[k]), (k, da[k], db[k])
    np.testing.assert_array_equal(a.sample, b.sample)
    np.testing.assert_array_equal(a.sample_index, b.sample_index)
    for fa, fb in zip(da["features"], db["features"]):
        assert fa.keys() == fb.keys()
        for k in fa:
            x, y = fa[k], fb[k]
            if k in MOMENTS and x is not None and not math.isnan(x):
                assert y == pytest.approx(x, rel=rel, abs=abs_), (fa["name"], k, x, y)
            else:
                assert _same(x, y), (fa["name"], k, x, y)


def _close(x, y, path=""):
    if isinstance(x, dict):
        assert x.keys() == y.keys(), path
        for k in x:
            _close(x[k], y[k], f"{path}.{k}")
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y), path
        for i, (u, v) in enumerate(zip(x, y)):
            _close(u, v, f"{path}[{i}]")
    elif isinstance(x, float) and not math.isnan(x):
        assert y == pytest.approx(x, rel=1e-9), (path, x, y)
    else:
        assert _same(x, y), (path, x, y)


def assert_same_recommendation(a, b):
    """The same choices, options, transforms, notes and rationale (numbers to 1e-9 relative)."""
    ra, rb = recommend(a), recommend(b)
    assert (ra.likelihood, ra.used_columns) == (rb.likelihood, rb.used_columns)
    _close(ra.to_dict(), rb.to_dict())


def merged(x, cuts, rows=ROWS, sample_rows=SAMPLE):
    """The profile from the partials of the shards [cuts[i], cuts[i+1]), merged in order."""
    ds = load(x)
    parts = [shards.partial_stats(ds.data, a, b, rows) for a, b in zip(cuts, cuts[1:])]
    return from_stats(ds, merge_all(parts), chunk_rows=rows, sample_rows=sample_rows)


def single(x, rows=ROWS, sample_rows=SAMPLE):
    return profile(x, chunk_rows=rows, sample_rows=sample_rows, workers=1, threads=1)


# --------------------------------------------------------------------------- shards merged in this process


ON_GRID = {  # shards of unequal size on the chunk grid of ROWS-row chunks
    "halves": [0, 1500, N],
    "unequal": [0, 300, 2700, N],
    "single-row-last": [0, 900, 3000, N],
    "many": list(range(0, N, 600)) + [3000, N],
}


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("split", ON_GRID)
def test_shards_on_the_grid_merge_to_the_single_pass(name, split):
    x = data(name)
    assert_same_profile(single(x), merged(x, ON_GRID[split]))


@pytest.mark.parametrize("name", DATASETS)
def test_the_recommendation_is_the_same(name):
    x = data(name)
    a, b = single(x), merged(x, ON_GRID["unequal"])
    assert_same_recommendation(a, b)


OFF_GRID = [[0, 1, 2, 1000, 1001, N], [0, 777, N - 1, N], [0, 2999, N]]  # single rows, chunks cut in two


@pytest.mark.parametrize("name", ["counts", "heavy", "constant"])
@pytest.mark.parametrize("cuts", OFF_GRID)
def test_any_cut_merges_exactly_for_float64_data(name, cuts):
    """Data summed in float64 (float64 and 64-bit integers) does not care where a chunk is cut."""
    x = data(name)
    assert_same_profile(single(x), merged(x, cuts))


@pytest.mark.parametrize("name", ["binary", "with_nans", "lattice", "over_cap"])
def test_cuts_off_the_grid_change_float32_moments_only_at_float32_precision(name):
    """float32 blocks that start elsewhere round elsewhere: the moments move at ~1e-7; every
    discrete field stays exact and the recommendation stays the same."""
    x = data(name)
    a, b = single(x), merged(x, OFF_GRID[0])
    assert_same_profile(a, b, rel=1e-5, abs_=1e-6)
    ra, rb = recommend(a), recommend(b)
    assert ra.likelihood == rb.likelihood
    assert [(f.likelihood, f.options, f.used, f.columns, f.support) for f in ra.features] == \
        [(f.likelihood, f.options, f.used, f.columns, f.support) for f in rb.features]


def test_the_distinct_count_beyond_the_cap_does_not_depend_on_the_cuts():
    """Over the cap the count is cap + 1 however the rows were split (it used to be the size of
    whichever union first crossed the cap); the continuous and wide-integer columns cross it."""
    x = data("over_cap", n=20001)
    rows = 2500
    a = single(x, rows)
    for cuts in ([0, 10000, 20001], [0, 2500, 5000, 20001], [0, 20000, 20001]):
        b = merged(x, cuts, rows)
        assert_same_profile(a, b)
    f = a.features
    assert f[0].distinct_over_cap and f[0].n_distinct == CAP + 1 and f[1].n_distinct == CAP + 1
    assert f[1].grid_step == 1.0 and not f[2].distinct_over_cap


def test_a_mean_far_from_zero_limits_any_order_of_summation():
    """A column 1e8 sd from zero is stored to ~1.5e-8 sd (its float64 ulp): two orders of merging
    differ there, not by 1e-9, in the single pass as across shards. The discrete fields stay exact."""
    x = 1e8 + np.random.default_rng(0).normal(size=(N, 1))
    a, b = single(x), merged(x, ON_GRID["halves"])
    assert_same_profile(a, b, rel=1e-6)
    assert_same_profile(single(x), single(x, rows=1000), rel=1e-6)


def test_a_shard_that_starts_mid_file_takes_a_first_look():
    """A shard whose first chunk is longer than FIRST_ROWS hints its pass from its first rows (lattices,
    settled features); the sets merged back in keep it exact."""
    x = np.column_stack([data("lattice", n=30000), data("over_cap", n=30000)])
    rows = 9000  # grid 0, 8192, 17192, 26192, 30000
    assert_same_profile(single(x, rows), merged(x, [0, 17192, 30000], rows))


def test_empty_shards_and_one_shard():
    x = data("counts")
    assert_same_profile(single(x), merged(x, [0, 0, 1500, 1500, N]))
    assert_same_profile(single(x), merged(x, [0, N]))


# --------------------------------------------------------------------------- worker processes


class Pools:
    """What profile() did with processes: the sizes of the pools it started, and how many shards
    this process summarised itself (it takes shards from the back while the workers start)."""

    def __init__(self, monkeypatch, slow: float):
        from concurrent.futures import ProcessPoolExecutor

        self.sizes, self.here = [], 0
        real_init, real_stream = ProcessPoolExecutor.__init__, shards.stream_stats

        def init(pool, max_workers=None, *args, **kwargs):
            self.sizes.append(max_workers)
            real_init(pool, max_workers, *args, **kwargs)

        def stream(x, bounds, *args, **kwargs):  # only this process's calls: a worker imports its own
            if kwargs.get("hint", args[3] if len(args) > 3 else None) is not None:
                self.here += 1
                time.sleep(slow)  # slow enough that the started workers take shards too
            return real_stream(x, bounds, *args, **kwargs)

        monkeypatch.setattr(ProcessPoolExecutor, "__init__", init)
        monkeypatch.setattr(shards, "stream_stats", stream)


@pytest.fixture
def pools(monkeypatch):
    return Pools(monkeypatch, slow=0.3)


@pytest.fixture(scope="module")
def mixed32(tmp_path_factory):
    """A float32 .npy of every data set that fits float32 side by side (memory-mapped by workers)."""
    x = np.column_stack([data(n).astype(np.float32) for n in ("binary", "with_nans", "lattice", "over_cap")]
                        + [data("counts")[:, :3].astype(np.float32)])
    path = tmp_path_factory.mktemp("merge") / "mixed32.npy"
    np.save(path, x)
    return path


def N_SHARDS(workers, n=N, rows=ROWS):
    """Shards of the rows after the first chunk that ``workers`` processes share."""
    grid = shards.chunk_grid(n, rows)
    return len(set(shards.split_grid(grid[1:], shards.SHARDS_PER_WORKER * workers))) - 1


def test_workers_on_a_memory_mapped_file(mixed32, pools):
    a = profile(mixed32, chunk_rows=ROWS, sample_rows=SAMPLE)
    b = profile(mixed32, chunk_rows=ROWS, sample_rows=SAMPLE, workers=2)
    assert pools.sizes == [1] and pools.here < N_SHARDS(2)  # two processes: this one and one started
    assert_same_profile(a, b)
    assert_same_recommendation(a, b)


def test_workers_on_an_array_in_memory(pools):
    """An array in memory reaches the workers through shared memory, which is freed afterwards."""
    x = np.column_stack([data("heavy"), data("constant"), data("counts")[:, 3:]])
    def segments():  # SharedMemory's names (multiprocessing's own semaphores live as long as the pool)
        return {f for f in os.listdir("/dev/shm") if f.startswith("psm_")} if os.path.isdir("/dev/shm") else set()

    before = segments()
    b = profile(x, chunk_rows=ROWS, sample_rows=SAMPLE, workers=3)
    assert pools.sizes == [2] and pools.here < N_SHARDS(3) and segments() <= before
    assert_same_profile(single(x), b)


def test_more_workers_than_rows(monkeypatch):
    """Five rows in five one-row chunks, eight workers asked for: four one-row shards after the first
    chunk, five processes (this one and four started)."""
    pools = Pools(monkeypatch, slow=0.0)
    x = np.array([[1.0, 0.5, 3], [2.0, 0.5, np.nan], [3.0, 1.5, 1], [4.0, 0.0, 2], [5.0, 0.5, 9]])
    assert_same_profile(profile(x, chunk_rows=1), profile(x, chunk_rows=1, workers=8))
    assert pools.sizes == [4] and sorted(set(shards.split_grid([1, 2, 3, 4, 5], 32))) == [1, 2, 3, 4, 5]


def test_shards_are_summarised_here_while_the_workers_start(mixed32, monkeypatch):
    """Small data: this process summarises every shard before the started worker is up (~0.3 s)."""
    pools = Pools(monkeypatch, slow=0.0)
    a = profile(mixed32, chunk_rows=ROWS, sample_rows=SAMPLE)
    b = profile(mixed32, chunk_rows=ROWS, sample_rows=SAMPLE, workers=2)
    assert pools.sizes == [1] and pools.here == N_SHARDS(2)
    assert_same_profile(a, b)


def test_workers_with_long_chunks(tmp_path, pools):
    """The default-sized chunks' layout (a short first chunk, then long ones): shards start mid-file."""
    path = tmp_path / "long.npy"
    np.save(path, np.column_stack([data("lattice", n=30000), data("over_cap", n=30000)]))
    assert_same_profile(profile(path, chunk_rows=9000, sample_rows=SAMPLE),
                        profile(path, chunk_rows=9000, sample_rows=SAMPLE, workers=2))
    assert pools.sizes == [1]


RANK = """if True:
    import pickle, sys
    import torch.distributed as dist
    from autolik.analysis.profiling.distributed import distributed_inspect
    rank, store, data, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    dist.init_process_group("gloo", init_method="file://" + store, rank=rank, world_size=2)
    prof = distributed_inspect(data, chunk_rows=300, sample_rows=800)
    dist.destroy_process_group()
    with open(out, "wb") as fh:
        pickle.dump(prof, fh)
"""


def test_torch_distributed_ranks_gather_the_same_profile(mixed32, tmp_path):
    """Two gloo ranks, each summarising its half of the rows of the memmap: both end with the single pass's profile."""
    pytest.importorskip("torch.distributed")
    import subprocess
    import sys
    from pathlib import Path

    from autolik.analysis.support import assign_supports

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    outs = [tmp_path / f"rank{r}.pkl" for r in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", RANK, str(r), str(tmp_path / "store"), str(mixed32), str(o)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for r, o in enumerate(outs)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    a = profile(mixed32, chunk_rows=ROWS, sample_rows=SAMPLE)
    assign_supports(a)
    for out in outs:
        with open(out, "rb") as fh:
            assert_same_profile(a, pickle.load(fh))


def test_rank_rows_cut_whole_chunks():
    from autolik.analysis.profiling.distributed import rank_rows

    assert [rank_rows(N, r, 2, ROWS) for r in range(2)] == [(0, 1500), (1500, N)]
    assert [rank_rows(5, r, 3, 10) for r in range(3)] == [(0, 0), (0, 5), (5, 5)]  # one chunk, three ranks


# --------------------------------------------------------------------------- the pieces


def test_split_grid_cuts_whole_chunks_of_about_equal_rows():
    grid = shards.chunk_grid(10000, 1000)  # 0, 1000, ..., 9000, 10000
    assert shards.split_grid(grid, 2) == [0, 5000, 10000]
    assert shards.split_grid(grid, 3) == [0, 3000, 7000, 10000]
    assert shards.split_grid([0, 8192, 17192, 20000], 4) == [0, 8192, 8192, 17192, 20000]  # an empty part
    assert shards.chunks_between(grid, 2500, 5000) == [2500, 3000, 4000, 5000]


@pytest.mark.parametrize("value,expected", [(1, 1), (3, 3), ("2", 2), (None, 1), (0, os.cpu_count()),
                                            ("auto", os.cpu_count()), (" AUTO ", os.cpu_count())])
def test_worker_count(value, expected):
    assert shards.worker_count(value) == expected


@pytest.mark.parametrize("value", [-1, "abc", 1.5, "1.5", True, "", "-2"])
def test_bad_worker_counts_are_usage_errors(value):
    with pytest.raises(UsageError, match="workers must be a whole number") as e:
        profile(np.zeros((4, 2)), workers=value)
    assert "\n" not in str(e.value)


def test_merge_all_checks_its_parts_and_leaves_them_unchanged():
    x = data("counts")
    a, b = PartialStats.of(x[:100]), PartialStats.of(x[100:])
    before = pickle.dumps(a)
    m = merge_all([a, b])
    assert pickle.dumps(a) == before and m.n_rows == N
    with pytest.raises(ValueError, match="at least one"):
        merge_all([])
    with pytest.raises(ValueError, match="same columns"):
        merge_all([a, PartialStats.of(x[:, :2])])


def test_partial_stats_pickle_without_their_lattice_cache():
    st = PartialStats(2)
    st.update(np.random.default_rng(0).poisson(3, (500, 2)).astype(float))
    st.update(np.random.default_rng(1).poisson(3, (500, 2)).astype(float))
    assert st._lattice
    back = pickle.loads(pickle.dumps(st))
    assert back._lattice == {} and back.n_rows == 1000
    np.testing.assert_array_equal(back.mean, st.mean)


def test_from_stats_refuses_statistics_of_other_data():
    x = data("counts")
    with pytest.raises(UsageError, match="do not match"):
        from_stats(x, PartialStats.of(x[:100]))


def test_what_stays_in_one_process(tmp_path):
    """Sparse data is profiled column by column, and a Fortran-ordered file would have to be read whole
    to be shared: both stay in this process (the same profile, no pool)."""
    sp = pytest.importorskip("scipy.sparse")
    m = sp.random(300, 5, density=0.2, random_state=0, format="csr")
    assert_same_profile(profile(m), profile(m, workers=2))
    path = tmp_path / "f.npy"
    np.save(path, np.asfortranarray(data("heavy")))
    assert not shards.can_share(load(path).data)
    assert shards.can_share(load(np.asfortranarray(data("heavy"))).data)  # in memory: copied to shared memory

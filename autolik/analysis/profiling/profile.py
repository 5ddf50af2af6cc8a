"""Per-feature and whole-array statistics of a dataset, computed in one streaming pass.

The dataclasses below are the contract the recommender and the CLI read; ``profile()`` fills
them from mergeable partial statistics (:mod:`autolik.analysis.profiling.stats`), chunk by chunk, so
memory-mapped data larger than RAM works.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from autolik.analysis.profiling.shards import (FIRST_ROWS, can_share, chunk_grid,  # noqa: F401
                                               parallel_stats, stream_stats, thread_count, worker_count)
from autolik.analysis.profiling.stats import CAP, PartialStats
from autolik.errors import UsageError
from autolik.io.sparse import is_sparse, rows as rows_of, sparse_stats


@dataclass
class FeatureProfile:
    """Statistics of one feature (one column of the (n_samples, n_features) view).

    Missing values are NaN (and empty/NA cells in CSV). ``count`` counts finite values.
    ``support`` is filled by :mod:`autolik.analysis.support` (one of SUPPORTS).
    """

    name: str
    dtype: str
    count: int = 0
    n_missing: int = 0
    missing_fraction: float = 0.0
    n_posinf: int = 0
    n_neginf: int = 0
    min: float = float("nan")
    max: float = float("nan")
    mean: float = float("nan")
    variance: float = float("nan")
    skewness: float = float("nan")
    kurtosis: float = float("nan")  # excess kurtosis
    zero_fraction: float = float("nan")
    is_integer: bool = False
    n_distinct: int = 0  # exact up to the cap (4096); cap + 1 when distinct_over_cap ("more than 4096")
    distinct_over_cap: bool = False
    distinct_values: list | None = None  # sorted, when not over the cap and small (<= 64)
    grid_step: float | None = None  # lattice step (e.g. 1/255) when values sit on a grid
    dispersion_index: float | None = None  # var/mean for non-negative integers
    levels: dict[str, int] | None = None  # string columns: level -> count
    is_string: bool = False
    is_datetime: bool = False
    support: str = "real"
    support_detail: dict = field(default_factory=dict)  # e.g. {"low": 0, "high": 255}
    notes: list[str] = field(default_factory=list)
    monotonic: str | None = None  # "increasing" / "decreasing" (strictly, no missing) or None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Profile:
    """The whole dataset's profile. ``sample`` is a row sample (model space not applied) for fits."""

    source: str
    shape: tuple
    n_samples: int
    n_features: int
    features: list[FeatureProfile]
    is_image: bool = False
    image_shape: tuple | None = None  # (C, H, W) for image batches
    onehot_blocks: list[list[int]] = field(default_factory=list)
    constant_features: list[int] = field(default_factory=list)
    homogeneous: bool = True
    notes: list[str] = field(default_factory=list)
    sample: np.ndarray | None = field(default=None, repr=False)  # (m, n_features) float64 rows
    dtype: str = ""  # dtype of the (n_samples, n_features) view ("float64" for tables)
    grid_step: float | None = None  # lattice step shared by all numeric features (e.g. 1/255)
    sample_index: np.ndarray | None = field(default=None, repr=False)  # sorted rows behind `sample`

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("sample", "sample_index", "features")}
        d["features"] = [f.to_dict() for f in self.features]
        return d


CHUNK_BYTES = 64 << 20
MAX_DISTINCT_VALUES = 64
SAMPLE_BYTES = 256 << 20  # the float64 row sample stays under this (5000 rows up to 6,710 features)
MIN_SAMPLE_ROWS = 1000
MIN_SHARED_CHUNKS = 2  # chunks after the first below which starting a worker (~0.3 s) cannot pay


def profile(dataset, chunk_rows: int | None = None, sample_rows: int = 5000, seed: int = 0,
            workers: int | str | None = 1, threads: int | None = None, progress=None) -> Profile:
    """Profile a dataset in one streaming pass over row chunks (~64 MB each).

    Args:
        dataset: a :class:`autolik.io.Dataset`, or anything :func:`autolik.io.load` accepts.
        chunk_rows: rows per chunk (default: ~64 MB of the data's dtype).
        sample_rows: size m of the seeded row sample kept in ``Profile.sample``; for wide data it
            is capped so the sample stays under ``SAMPLE_BYTES`` (256 MB; at least 1000 rows):
            20,000 features get 1,677 rows (a note says so).
        seed: seed of the row sample.
        workers: processes that summarise contiguous shards of whole chunks, merged in order
            (:mod:`autolik.analysis.profiling.shards`); 1 (default): this process only; 0 or ``"auto"``:
            ``os.cpu_count()``. This process is one of them (``workers - 1`` are started). The
            profile is the single pass's: exactly, but for the moments' float64 rounding (~1e-15
            relative). Workers map a ``.npy`` file themselves; an array in memory (and a parsed
            CSV) is copied once into shared memory. Data of fewer than MIN_SHARED_CHUNKS chunks
            after the first (~128 MB), sparse data and Fortran-ordered files stay in this process.
        threads: threads per process for the fused pass (default: the usable cores, up to 2,
            shared out between the workers). With two or more, each chunk's pass is split between
            them and runs while the previous chunk is finished; again only float rounding changes.
        progress: called as ``progress(rows_done, n_rows)`` after each chunk (each shard with workers).

    Returns:
        A :class:`Profile` with every statistic filled in except ``support``/``support_detail``
        (see :func:`inspect`, which adds them).
    """
    from autolik.io import Dataset, load, release_rows

    n_workers = worker_count(workers)
    ds = dataset if isinstance(dataset, Dataset) else load(dataset)
    x = ds.data
    n, d = x.shape
    rows = _chunk_rows(x, chunk_rows)
    idx = _sample_index(n, d, sample_rows, seed)
    if is_sparse(x):  # the stored values only, column by column (zeros counted, not stored)
        return _finish_profile(ds, sparse_stats(x, CAP), rows_of(x, idx), idx, rows, progress)
    grid = chunk_grid(n, rows)
    n_threads = thread_count(threads, n_workers)
    if n_workers > 1 and len(grid) - 2 >= MIN_SHARED_CHUNKS and can_share(x):
        acc = parallel_stats(x, grid, n_workers, CAP, n_threads, progress)
        return _finish_profile(ds, acc, rows_of(x, idx), idx, rows)
    sample = np.empty((len(idx), d), np.float64)

    def on_chunk(r0: int, chunk: np.ndarray) -> None:
        lo, hi = np.searchsorted(idx, [r0, r0 + len(chunk)])
        sample[lo:hi] = chunk[idx[lo:hi] - r0]
        release_rows(x, r0, r0 + len(chunk))
        if progress is not None:
            progress(r0 + len(chunk), n)

    return _finish_profile(ds, stream_stats(x, grid, CAP, n_threads, on_chunk), sample, idx, rows)


def from_stats(dataset, stats: PartialStats, chunk_rows: int | None = None, sample_rows: int = 5000,
               seed: int = 0) -> Profile:
    """The Profile of ``dataset`` from its merged statistics (e.g. ``merge_all`` of every rank's
    :func:`autolik.analysis.profiling.shards.partial_stats`): the row sample and the one-hot check read the
    dataset; the rest comes from ``stats``. Supports are not assigned (see :func:`inspect`)."""
    from autolik.io import Dataset, load

    ds = dataset if isinstance(dataset, Dataset) else load(dataset)
    n, d = ds.data.shape
    if (stats.n_rows, stats.n_features) != (n, d):
        raise UsageError(f"statistics of {stats.n_rows} rows x {stats.n_features} features do not match the data "
                         f"({n} x {d}); merge the partials of every shard (or rank) of this dataset")
    idx = _sample_index(n, d, sample_rows, seed)
    return _finish_profile(ds, stats, rows_of(ds.data, idx), idx, _chunk_rows(ds.data, chunk_rows))


def _chunk_rows(x, chunk_rows: int | None) -> int:
    """Rows per chunk: ``chunk_rows``, else ~CHUNK_BYTES of the data's dtype."""
    return int(chunk_rows or max(1, CHUNK_BYTES // max(1, x.shape[1] * x.dtype.itemsize)))


def _sample_index(n: int, d: int, sample_rows: int, seed: int) -> np.ndarray:
    """Sorted rows of the seeded sample; wide data gets fewer (the sample stays under SAMPLE_BYTES)."""
    m = min(int(sample_rows), max(MIN_SAMPLE_ROWS, SAMPLE_BYTES // (8 * d)))
    return np.sort(np.random.default_rng(seed).choice(n, size=min(n, m), replace=False))


def _finish_profile(ds, acc: PartialStats, sample: np.ndarray, idx: np.ndarray, rows: int,
                    progress=None) -> Profile:
    """The Profile of merged statistics, with the row sample and the one-hot blocks."""
    if progress is not None and is_sparse(ds.data):
        progress(ds.data.shape[0], ds.data.shape[0])
    prof = _assemble(ds, acc)
    prof.sample, prof.sample_index = sample, idx
    if len(idx) < ds.data.shape[0] and len(idx) == max(MIN_SAMPLE_ROWS, SAMPLE_BYTES // (8 * ds.data.shape[1])):
        prof.notes.append(f"the quick likelihood fits use a sample of {len(idx):,} rows "
                          f"(capped at {SAMPLE_BYTES >> 20} MB for {ds.data.shape[1]:,} features)")
    prof.onehot_blocks = _onehot_blocks(ds.data, prof.features, rows)
    if prof.onehot_blocks:
        prof.notes.append("one-hot blocks (exactly one 1 per row): "
                          + "; ".join(f"{ds.names[b[0]]}..{ds.names[b[-1]]}" for b in prof.onehot_blocks))
    return prof


def inspect(X, key: str | None = None, **options) -> Profile:
    """Load ``X`` (array, DataFrame, path or Dataset), profile it and assign each feature's support.

    Args:
        X: array-like of shape (n_samples, ...), a DataFrame, a file path, a Dataset or a Profile.
        key: array name inside an ``.npz`` file.
        **options: passed to :func:`profile` (``chunk_rows``, ``sample_rows``, ``seed``, ``workers``
            processes, ``threads``, ``progress``).
    """
    if isinstance(X, Profile):
        return X
    from autolik.io import load

    prof = profile(load(X, key=key), **options)
    from autolik.analysis.support import assign_supports

    assign_supports(prof)
    return prof


def _assemble(ds, st: PartialStats) -> Profile:
    """Turn merged statistics into FeatureProfiles and whole-array fields."""
    n, d = ds.data.shape
    var, skew, kurt, steps = st.variance, st.skewness, st.kurtosis, st.grid_steps()
    n_distinct = st.n_distinct
    feats = []
    for j in range(d):
        f = FeatureProfile(name=ds.names[j], dtype=ds.dtypes[j], count=int(st.count[j]),
                           n_missing=int(st.n_nan[j]), missing_fraction=float(st.n_nan[j] / n),
                           n_posinf=int(st.n_posinf[j]), n_neginf=int(st.n_neginf[j]))
        if st.count[j]:
            f.min, f.max, f.mean = float(st.min[j]), float(st.max[j]), float(st.mean[j])
            f.variance, f.skewness, f.kurtosis = float(var[j]), float(skew[j]), float(kurt[j])
            f.zero_fraction = float(st.n_zero[j] / st.count[j])
            f.is_integer = bool(st.integer[j])
        f.n_distinct, f.distinct_over_cap = int(n_distinct[j]), st.distinct[j] is None
        if not f.distinct_over_cap and f.n_distinct <= MAX_DISTINCT_VALUES:
            f.distinct_values = [float(v) for v in st.distinct[j]]
        f.grid_step = steps[j]
        if f.is_integer and f.min >= 0 and f.mean > 0:
            f.dispersion_index = float(f.variance / f.mean)
        f.monotonic = ("increasing" if st.increasing[j] else "decreasing" if st.decreasing[j] else None) \
            if st.count[j] == n and n > 1 else None
        f.is_string, f.is_datetime = j in ds.levels, j in ds.datetime_columns
        if f.is_string:
            codes = np.asarray(ds.data[:, j], np.float64)
            counts = np.bincount(codes[np.isfinite(codes)].astype(np.int64), minlength=len(ds.levels[j]))
            f.levels = {lvl: int(c) for lvl, c in zip(ds.levels[j], counts)}
        _feature_notes(f)
        feats.append(f)
    prof = Profile(source=ds.source, shape=tuple(ds.shape), n_samples=n, n_features=d, features=feats,
                   is_image=ds.image_shape is not None, image_shape=ds.image_shape, dtype=ds.data.dtype.name)
    prof.constant_features = [j for j, f in enumerate(feats) if f.count == 0 or (f.n_distinct == 1 and not f.n_posinf
                                                                                and not f.n_neginf)]
    prof.grid_step = _pooled_step([f for f in feats if f.count and not f.is_string and not f.is_datetime])
    kinds = {(f.is_string, f.is_datetime, f.is_integer) for f in feats if f.count}
    prof.homogeneous = prof.is_image or len(kinds) <= 1
    prof.notes = list(ds.notes) + _array_notes(prof, ds)
    return prof


def _feature_notes(f: FeatureProfile) -> None:
    if f.count == 0:
        f.notes.append("every value is missing")
    elif f.n_missing:
        f.notes.append(f"{f.missing_fraction:.1%} missing")
    if f.n_posinf or f.n_neginf:
        f.notes.append(f"{f.n_posinf} +inf and {f.n_neginf} -inf values (left out of the statistics)")
    if f.count and f.n_distinct == 1:
        f.notes.append(f"constant (every value is {f.min:g})")


def _pooled_step(feats: list[FeatureProfile]) -> float | None:
    """The lattice step every numeric feature sits on (gcd of their steps), if any."""
    steps = [f.grid_step for f in feats if f.grid_step]
    if not steps or any(f.grid_step is None and f.n_distinct > 1 for f in feats):
        return None
    if all(float(s).is_integer() and s < 2.0 ** 62 for s in steps):
        return float(np.gcd.reduce(np.array(steps, dtype=np.int64)))
    arr = np.array(steps, dtype=np.float64)
    base = arr.min()
    with np.errstate(all="ignore"):  # steps of wildly different size overflow the ratio: no common step
        ratio = arr / base
        if not np.all(np.isfinite(ratio)) or np.max(np.abs(ratio - np.rint(ratio))) > 1e-4:
            return None
    same = np.sort(arr[np.rint(ratio) == 1])
    return float(same[(same.size - 1) // 2])  # a middle step (np.median's average overflows near 1e308)


def _array_notes(prof: Profile, ds) -> list[str]:
    notes = []
    names = [f.name for f in prof.features]

    def listed(cols: list[int]) -> str:
        shown = ", ".join(names[j] for j in cols[:8])
        return shown + (f", ... ({len(cols)} in all)" if len(cols) > 8 else "")

    empty = [j for j, f in enumerate(prof.features) if f.count == 0]
    if empty:
        notes.append(f"all values missing in {listed(empty)}")
    inf = [j for j, f in enumerate(prof.features) if f.n_posinf or f.n_neginf]
    if inf:
        notes.append(f"+-inf values in {listed(inf)} (not counted in min/max/moments)")
    const = [j for j in prof.constant_features if prof.features[j].count]
    if const:
        notes.append(f"constant features: {listed(const)}")
    if ds.datetime_columns:
        notes.append(f"date/time columns (reported, left out of the model): {listed(sorted(ds.datetime_columns))}")
    if prof.is_image:
        seen = [f for f in prof.features if f.count]
        lo = min((f.min for f in seen), default=0.0)
        hi = max((f.max for f in seen), default=0.0)
        integer = prof.dtype == "uint8" or (prof.grid_step == 1.0 and 0 <= lo and hi <= 255)
        on_grid = prof.grid_step is not None and abs(prof.grid_step * 255 - round(prof.grid_step * 255)) < 1e-3 \
            and prof.grid_step < 1
        if integer:
            kind = "8-bit values" if prof.dtype == "uint8" else "integer values"
            notes.append(f"image batch {prof.image_shape} with {kind} {lo:g}..{hi:g}")
        elif on_grid:
            notes.append(f"image batch {prof.image_shape} with values on a 1/255 grid (8-bit pixels scaled)")
        else:
            notes.append(f"image batch {prof.image_shape}")
    return notes


def _onehot_blocks(x: np.ndarray, feats: list[FeatureProfile], rows: int) -> list[list[int]]:
    """Maximal runs of >= 2 adjacent 0/1 columns with exactly one 1 per row.

    Candidates come from the statistics (complete 0/1 columns whose counts of ones add up to
    the number of rows); each is verified with a second look at only those columns.
    """
    n = x.shape[0]
    binary = [f.count == n and f.distinct_values == [0.0, 1.0] for f in feats]
    ones = np.array([round(f.mean * f.count) if b else 0 for f, b in zip(feats, binary)], np.int64)
    blocks, j = [], 0
    while j < len(feats):
        if not binary[j]:
            j += 1
            continue
        total, e = 0, j
        while e < len(feats) and binary[e] and total < n:
            total += ones[e]
            e += 1
        if total == n and e - j >= 2 and _rows_sum_to_one(x, j, e, rows):
            blocks.append(list(range(j, e)))
            j = e
        else:
            j += 1
    return blocks


def _rows_sum_to_one(x: np.ndarray, start: int, stop: int, rows: int) -> bool:
    for r in range(0, x.shape[0], rows):
        block = x[r:r + rows, start:stop]
        if not np.all(np.asarray(block.toarray() if is_sparse(block) else block, np.float64).sum(1) == 1):
            return False
    return True

"""Sparse input: .h5ad / scipy.sparse .npz / .mtx loading, the sparse profile equal to the dense one,
and fitting from sparse rows (dense mini-batches, same numbers as dense training)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from click.testing import CliRunner

import autolik
from autolik.io import sparse
from autolik.analysis.profiling.profile import inspect
from autolik.analysis.recommendation.recommend import recommend
from autolik.cli import cli
from autolik.errors import DataError, UsageError
from autolik.io import load

EXACT = ("count", "n_missing", "n_posinf", "n_neginf", "min", "max", "zero_fraction", "is_integer",
         "n_distinct", "distinct_over_cap", "distinct_values", "grid_step", "support", "support_detail",
         "monotonic", "notes")
MOMENTS = ("mean", "variance", "skewness", "kurtosis", "dispersion_index")


def counts(n=1500, d=30, density=0.3, seed=0, dtype=np.float64):
    """NB counts with extra zeros, plus awkward columns: all zero, missing, +inf, normal, an index."""
    rng = np.random.default_rng(seed)
    mu = rng.gamma(1.0, 3.0, size=d)
    x = rng.negative_binomial(2, 2 / (2 + mu), size=(n, d)).astype(np.float64)
    x[rng.random((n, d)) > density] = 0
    if dtype == np.float64 and d >= 7:
        x[:, 1] = 0                                 # constant (nothing stored)
        x[:7, 2] = np.nan                           # missing values stored explicitly
        x[3, 3] = np.inf
        x[:, 4] = np.where(rng.random(n) < 0.3, rng.normal(size=n), 0.0)  # real, mostly zero
        x[:, 5] = np.arange(1, n + 1)               # fully stored, strictly increasing
        x[:, 6] = np.where(rng.random(n) < 0.02, -2.5, 0.0)  # negative, binary
    return x.astype(dtype)


def assert_same_profile(dense, sparse_, rel=1e-9):
    """Equal statistics; moments to ``rel`` (1e-9 for float64 and integer data: the dense pass
    sums float32 data in float32 blocks, good to ~1e-6 only, while the sparse one is float64)."""
    assert (dense.shape, dense.n_samples, dense.n_features) == (sparse_.shape, sparse_.n_samples, sparse_.n_features)
    assert dense.constant_features == sparse_.constant_features and dense.grid_step == sparse_.grid_step
    assert dense.onehot_blocks == sparse_.onehot_blocks
    np.testing.assert_array_equal(dense.sample, sparse_.sample)
    for a, b in zip(dense.features, sparse_.features):
        da, db = a.to_dict(), b.to_dict()
        for k in EXACT:
            assert da[k] == db[k] or (da[k] != da[k] and db[k] != db[k]), (a.name, k, da[k], db[k])
        for k in MOMENTS:
            x, y = da[k], db[k]
            if x is None or math.isnan(x):
                assert y is None or math.isnan(y), (a.name, k, x, y)
            else:
                assert y == pytest.approx(x, rel=rel, abs=1e-12), (a.name, k, x, y)


def assert_same_recommendation(dense, sparse_):
    ra, rb = recommend(dense), recommend(sparse_)
    assert (ra.likelihood, ra.used_columns) == (rb.likelihood, rb.used_columns)
    for fa, fb in zip(ra.features, rb.features):
        assert (fa.name, fa.likelihood, fa.options, fa.used, fa.columns) == (fb.name, fb.likelihood, fb.options,
                                                                               fb.used, fb.columns)
        assert fa.rationale == fb.rationale and fa.alternatives == fb.alternatives
        np.testing.assert_allclose([fa.transform.shift, fa.transform.scale], [fb.transform.shift, fb.transform.scale],
                                   rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.int32])
@pytest.mark.parametrize("block", [sparse.BLOCK_NNZ, 1000])  # 1000: many column blocks
def test_sparse_profile_equals_dense(dtype, block, monkeypatch):
    monkeypatch.setattr(sparse, "BLOCK_NNZ", block)
    if block == 1000:  # and the distinct values by sorting, not by presence counts
        monkeypatch.setattr(sparse, "COUNT_BINS", 0)
    x = counts(dtype=dtype)
    dense, sparse_ = inspect(x), inspect(sp.csr_matrix(x))
    assert any("zeros are counted, not stored" in n for n in sparse_.notes)
    assert_same_profile(dense, sparse_)
    assert_same_recommendation(dense, sparse_)


def test_sparse_profile_random_shapes_and_formats():
    rng = np.random.default_rng(5)
    for seed in range(6):
        n, d = int(rng.integers(2, 60)), int(rng.integers(1, 12))
        x = counts(n, d, density=float(rng.uniform(0, 1)), seed=seed)
        if seed % 2:
            x[:, 0] = rng.integers(-3, 3, n) / 4  # a quarter grid with negatives
        fmt = (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix)[seed % 3]
        assert_same_profile(inspect(x), inspect(fmt(x)))


def test_stored_zeros_and_duplicates_count_like_dense():
    x = sp.coo_matrix(([1.0, 2.0, 0.0, 3.0], ([0, 0, 1, 2], [0, 0, 1, 1])), shape=(4, 2))  # (0, 0) twice
    prof = inspect(x)
    assert prof.features[0].max == 3.0 and prof.features[0].zero_fraction == 0.75
    assert prof.features[1].distinct_values == [0.0, 3.0]
    assert_same_profile(inspect(x.toarray()), prof)


def test_onehot_blocks_are_found_in_sparse_data():
    rng = np.random.default_rng(1)
    x = np.eye(3)[rng.integers(0, 3, 200)]
    x = np.hstack([rng.poisson(2.0, (200, 1)), x])
    assert inspect(sp.csr_matrix(x)).onehot_blocks == inspect(x).onehot_blocks == [[1, 2, 3]]


def test_sparse_files_load_as_csr(tmp_path):
    x = counts(200, 12)
    x = np.nan_to_num(x, posinf=9.0)
    sp.save_npz(tmp_path / "m.npz", sp.csc_matrix(x))
    scipy.io.mmwrite(str(tmp_path / "m.mtx"), sp.coo_matrix(x))
    np.savez(tmp_path / "plain.npz", data=x)  # a plain archive with an array named "data"
    for name in ("m.npz", "m.mtx"):
        ds = load(tmp_path / name)
        assert sp.issparse(ds.data) and ds.data.format == "csr" and ds.shape == (200, 12)
        np.testing.assert_array_equal(ds.data.toarray(), x)
    import gzip
    import shutil

    with open(tmp_path / "m.mtx", "rb") as src, gzip.open(tmp_path / "matrix.mtx.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    np.testing.assert_array_equal(load(tmp_path / "matrix.mtx.gz").data.toarray(), x)
    plain = load(tmp_path / "plain.npz")
    assert isinstance(plain.data, np.ndarray) and plain.data.shape == (200, 12)
    assert any("transpose" in n for n in load(tmp_path / "m.mtx").notes)  # more rows than columns


def test_bad_sparse_files_fail_with_one_line(tmp_path):
    (tmp_path / "bad.mtx").write_text("not a matrix market file\n")
    with pytest.raises(DataError, match=r"bad\.mtx: not a readable Matrix Market file"):
        load(tmp_path / "bad.mtx")
    sp.save_npz(tmp_path / "one.npz", sp.csr_matrix(np.ones((1, 3))))
    with pytest.raises(DataError, match="single row"):
        load(tmp_path / "one.npz")
    (tmp_path / "x.h5ad").write_bytes(b"no hdf5 here")
    pytest.importorskip("h5py")
    with pytest.raises(DataError, match=r"x\.h5ad: not a readable HDF5"):
        load(tmp_path / "x.h5ad")


def test_sparse_rows_give_dense_float64_batches():
    import torch

    x = sp.csr_matrix(counts(50, 6))
    rows = sparse.SparseRows(x)
    idx = torch.tensor([4, 0, 4, 49])
    block = rows[idx]
    assert block.dtype == torch.float64 and len(rows) == 50
    np.testing.assert_array_equal(block.numpy(), x.toarray()[[4, 0, 4, 49]])
    np.testing.assert_array_equal(sparse.rows(x, [1, 2]), x.toarray()[[1, 2]])
    x[3, 3] = np.inf
    with pytest.raises(DataError, match="infinite"):
        sparse.check_rows(x, 6, "x_train")


def test_fit_from_sparse_rows_matches_dense_training():
    x = counts(400, 20, density=0.4, dtype=np.int64)
    options = dict(epochs=2, k=4, hidden=[32], latent_dim=4, seed=3, likelihood="negative_binomial")
    a, b = autolik.fit(sp.csr_matrix(x), **options), autolik.fit(x, **options)
    assert a.recommendation.likelihood == b.recommendation.likelihood == "negative_binomial"
    assert a.metrics["nats_per_dim"] == pytest.approx(b.metrics["nats_per_dim"], rel=1e-6)
    assert a.history.train_loss == pytest.approx(b.history.train_loss, rel=1e-6)
    np.testing.assert_allclose(a.encode(sp.csr_matrix(x[:10])), b.encode(x[:10]), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- AnnData


@pytest.fixture
def cells(tmp_path):
    """A sparse AnnData file: log-normalised X, raw counts in layers['counts'], gene names."""
    ad = pytest.importorskip("anndata")
    x = counts(300, 25, density=0.15, dtype=np.float32)
    a = ad.AnnData(X=sp.csr_matrix(np.log1p(x)), layers={"counts": sp.csr_matrix(x)})
    a.var_names = [f"gene{j}" for j in range(x.shape[1])]
    path = tmp_path / "cells.h5ad"
    a.write_h5ad(path)
    return path, x


def test_h5ad_reads_x_and_layers_sparse(cells):
    path, x = cells
    ds = load(path, key="counts")
    assert sp.issparse(ds.data) and ds.names[:2] == ["gene0", "gene1"] and ds.source.endswith("[counts]")
    np.testing.assert_array_equal(ds.data.toarray(), x)
    np.testing.assert_allclose(load(path).data.toarray(), np.log1p(x))
    with pytest.raises(UsageError, match="no layer named 'spliced'; available: counts"):
        load(path, key="spliced")
    prof = inspect(path, key="counts")
    assert_same_profile(inspect(x), prof, rel=1e-5)  # float32 data: see assert_same_profile
    import scipy.stats

    for j in (0, 7, 24):  # the sparse moments are float64-exact
        col = x[:, j].astype(np.float64)
        f = prof.features[j]
        assert f.mean == pytest.approx(col.mean(), rel=1e-12) and f.variance == pytest.approx(col.var(), rel=1e-12)
        assert f.skewness == pytest.approx(scipy.stats.skew(col), rel=1e-9)
        assert f.kurtosis == pytest.approx(scipy.stats.kurtosis(col), rel=1e-9)


def test_cli_inspect_and_fit_on_h5ad(cells, tmp_path):
    path, _ = cells
    r = CliRunner().invoke(cli, ["inspect", str(path), "--layer", "counts", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["shape"] == [300, 25] and doc["features"][0]["name"] == "gene0"
    assert doc["recommendation"]["likelihood"] in {"poisson", "negative_binomial", "zero_inflated_poisson",
                                                   "zero_inflated_negative_binomial", "mixed"}
    assert all(f["support"] in ("count", "constant", "binary", "bounded_integer") for f in doc["features"])
    r = CliRunner().invoke(cli, ["inspect", str(path)])  # X: log-normalised, not counts
    assert r.exit_code == 0 and "cells.h5ad" in r.output
    out = tmp_path / "model"
    r = CliRunner().invoke(cli, ["fit", str(path), "--layer", "counts", "--epochs", "2", "--k", "4", "--json",
                                 "--quiet", "--out", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["epochs_run"] == 2 and math.isfinite(doc["test"]["nats_per_dim"])
    r = CliRunner().invoke(cli, ["evaluate", str(out), str(path), "--layer", "counts", "--k", "2", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["n_samples"] == 300


# --------------------------------------------------------------------------- zero inflation


def test_zero_inflation_note_per_gene_and_pooled():
    rng = np.random.default_rng(2)
    n = 3000
    nb = rng.negative_binomial(3, 3 / (3 + 4.0), size=(n, 6)).astype(np.float64)
    zi = nb.copy()
    zi[:, :3][rng.random((n, 3)) < 0.5] = 0  # genes 0-2: half their cells zeroed (a dropout gate)
    note = next(m for m in recommend(sp.csr_matrix(zi)).notes if m.startswith("zero inflation"))
    assert "supported for 3 (x0, x1, x2)" in note and note.endswith(": supported")
    note = next(m for m in recommend(nb).notes if m.startswith("zero inflation"))
    assert "supported for none" in note and note.endswith("not supported")
    assert not any(m.startswith("zero inflation") for m in recommend(rng.normal(size=(200, 3))).notes)


def test_h5ad_with_a_dense_x_and_csc_layer(tmp_path):
    ad = pytest.importorskip("anndata")
    x = counts(50, 8, dtype=np.float32)
    a = ad.AnnData(X=x.copy(), layers={"csc": sp.csc_matrix(x)})
    a.write_h5ad(tmp_path / "d.h5ad")
    for key in (None, "csc"):
        ds = load(tmp_path / "d.h5ad", key=key)
        assert sp.issparse(ds.data) and ds.shape == (50, 8)
        np.testing.assert_array_equal(ds.data.toarray(), x)


def test_h5ad_raw_holds_the_counts(tmp_path):
    ad = pytest.importorskip("anndata")
    x = counts(60, 9, dtype=np.float32)
    a = ad.AnnData(X=sp.csr_matrix(x))
    a.var_names = [f"g{j}" for j in range(9)]
    a.raw = a  # counts kept in .raw, X then log-normalised and cut to 4 genes
    a.X = sp.csr_matrix(np.log1p(x))
    a = a[:, :4].copy()
    a.write_h5ad(tmp_path / "r.h5ad")
    ds = load(tmp_path / "r.h5ad", key="raw")
    assert ds.shape == (60, 9) and ds.names[-1] == "g8" and ds.source.endswith("[raw]")
    np.testing.assert_array_equal(ds.data.toarray(), x)
    assert load(tmp_path / "r.h5ad").shape == (60, 4)
    with pytest.raises(UsageError, match="available: raw"):
        load(tmp_path / "r.h5ad", key="counts")


def test_compare_on_sparse_counts_offers_the_count_families_side_by_side():
    """compare reads sparse rows densely a batch at a time and ranks poisson / nb / zinb on one split."""
    from autolik.compare import compare

    x = counts(300, 12, density=0.3, dtype=np.int64)
    comp = compare(sp.csr_matrix(x), candidates=["poisson", "negative_binomial", "zero_inflated_negative_binomial"],
                   epochs=2, k=4, hidden=[16], latent_dim=2, seed=0)
    dense = compare(x, candidates=["poisson", "negative_binomial", "zero_inflated_negative_binomial"],
                    epochs=2, k=4, hidden=[16], latent_dim=2, seed=0)
    assert [r["candidate"] for r in comp.leaderboard] == [r["candidate"] for r in dense.leaderboard]
    for a, b in zip(comp.leaderboard, dense.leaderboard):
        assert a["comparable"] and a["nll_iwae_nats_per_sample"] == pytest.approx(b["nll_iwae_nats_per_sample"], rel=1e-6)

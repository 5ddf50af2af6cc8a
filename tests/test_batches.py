"""Out-of-core training (issue 13, item 1): batches read from the .npy file, block-shuffled and read ahead,
never one float64 copy of the training split; evaluation streamed to the same figures."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import autolik
from autolik import batches, checkpoint, pipeline
from autolik.cli import cli
from autolik.errors import DataError, UsageError

OPTIONS = dict(hidden=(8,), latent_dim=2, batch_size=32, epochs=3, k=3, seed=1, quiet=True)


def npy(path, n=500, d=5, seed=0, counts=False):
    rng = np.random.default_rng(seed)
    x = rng.poisson(4.0, size=(n, d)).astype(float) if counts else \
        rng.normal(size=(n, 2)) @ rng.normal(size=(2, d)) + 0.3 * rng.normal(size=(n, d))
    np.save(path, x)
    return path, x


def source(tmp_path, n=103, block=7, columns=(0, 2, 3), monkeypatch=None):
    path, x = npy(tmp_path / "x.npy", n=n)
    monkeypatch.setenv("AUTOLIK_BLOCK_ROWS", str(block))
    rows = np.sort(np.random.default_rng(0).choice(n, size=n - 20, replace=False))
    return batches.RowSource(np.load(path, mmap_mode="r"), rows, list(columns)), x, rows


def test_an_epoch_visits_every_training_row_once_from_the_rows_read_ahead(tmp_path, monkeypatch):
    src, x, rows = source(tmp_path, monkeypatch=monkeypatch)
    monkeypatch.setattr(src, "read", lambda pos: pytest.fail("a batch was read directly, not from a group"))
    gen = torch.Generator().manual_seed(0)
    orders = []
    for _ in range(3):
        order = src.order(gen)
        assert sorted(order.tolist()) == list(range(len(rows)))  # a permutation of the split's positions
        for start in range(0, len(order), 16):
            idx = order[start:start + 16]
            got = src[idx]
            assert got.dtype == torch.float64 and torch.equal(got, torch.from_numpy(x[rows[idx.numpy()]][:, [0, 2, 3]]))
        orders.append(order)
    assert not torch.equal(orders[0], orders[1])  # a new order each epoch, from the loop's generator
    first = orders[0][:7].numpy() // 7  # the block shuffle: a batch's rows come from few blocks, not one
    assert 1 <= len(set(first.tolist())) <= batches.GROUP_BLOCKS
    assert len(src._epoch.buffers) <= 2  # the group served and the one read ahead, no more
    src.close()


@pytest.mark.parametrize("world, batch", [(2, 16), (3, 10), (2, 50)])
def test_each_process_reads_only_its_rows_of_each_batch(tmp_path, monkeypatch, world, batch):
    src, x, rows = source(tmp_path, monkeypatch=monkeypatch)
    monkeypatch.setattr(src, "read", lambda pos: pytest.fail("a batch was read directly"))
    seen = []
    for rank in range(world):
        order = src.order(torch.Generator().manual_seed(5), shard=(rank, world, batch))
        read = set(np.concatenate([g for g in src._epoch.groups]).tolist())
        mine = []
        for start in range(0, len(order), batch):
            idx = order[start:start + batch][rank::world]
            assert torch.equal(src[idx], torch.from_numpy(x[rows[idx.numpy()]][:, [0, 2, 3]]))
            mine += idx.tolist()
        assert read == set(mine)  # the groups hold this process's rows and no others
        seen += mine
    assert sorted(seen) == list(range(len(rows)))
    src.close()


def test_units_stream_in_order_and_skip_other_processes_units(tmp_path, monkeypatch):
    src, x, rows = source(tmp_path, monkeypatch=monkeypatch)
    monkeypatch.setattr(batches, "READ_BYTES", 5 * x.shape[1] * 8)  # several reads
    got = [part for _, _, part in src.units(4)]
    assert np.array_equal(np.concatenate(got), x[rows][:, [0, 2, 3]])
    mine = [(i, n, part is None) for i, n, part in src.units(4, keep=lambda i: i % 2 == 1)]
    assert [m[2] for m in mine] == [i % 2 == 0 for i in range(len(mine))] and sum(m[1] for m in mine) == len(rows)


def test_what_streams_and_the_memory_limit(tmp_path, monkeypatch):
    path, x = npy(tmp_path / "x.npy", n=50)
    mapped = np.load(path, mmap_mode="r")
    assert batches.streams(mapped, 40, 5) and batches.streams(mapped.reshape(50, 5)[:, :3], 40, 3)
    assert not batches.streams(x, 40, 5)  # an array in memory under the limit: today's copy
    monkeypatch.setenv("AUTOLIK_IN_MEMORY_MB", "0")
    assert batches.streams(x, 40, 5)
    import scipy.sparse as sp

    assert not batches.streams(sp.csr_matrix(x), 40, 5)  # sparse rows keep their own path
    for bad in ("lots", "-1"):
        monkeypatch.setenv("AUTOLIK_IN_MEMORY_MB", bad)
        with pytest.raises(UsageError, match="AUTOLIK_IN_MEMORY_MB"):
            batches.in_memory_limit()
    monkeypatch.setenv("AUTOLIK_IN_MEMORY_MB", "0")
    monkeypatch.setenv("AUTOLIK_BLOCK_ROWS", "0")
    with pytest.raises(UsageError, match="AUTOLIK_BLOCK_ROWS"):
        autolik.fit(x, **OPTIONS)


def test_fit_on_a_memmap_never_copies_the_training_split(tmp_path, monkeypatch):
    path, x = npy(tmp_path / "x.npy", n=400)
    import autolik.io.sparse

    real = autolik.io.sparse.columns

    def columns(data, used):
        assert not batches.is_memmap(data), "the whole file was copied into one float64 array"
        return real(data, used)

    monkeypatch.setattr(autolik.io.sparse, "columns", columns)
    monkeypatch.setenv("AUTOLIK_BLOCK_ROWS", "40")
    fitted = autolik.fit(str(path), **OPTIONS)
    split = pipeline.split_indices(400, seed=OPTIONS["seed"])
    assert all(np.array_equal(fitted.split[k], split[k]) for k in ("train", "val", "test"))  # the same rows
    assert np.isfinite(fitted.metrics["nll_iwae_nats_per_sample"]) and fitted.history.epochs_run == 3


def test_a_file_of_one_block_trains_the_in_memory_model_and_more_blocks_come_close(tmp_path, monkeypatch):
    """One block: the block shuffle is one permutation drawn like ``randperm``, so the model is the in-memory
    model, bit for bit (with dequantisation noise: counts under a Gaussian). Many blocks: other batches,
    a held-out figure within 2%."""
    _, x = npy(tmp_path / "x.npy", n=600, counts=True)
    x = np.column_stack([x[:, :2], np.full(len(x), 7.0), x[:, 2:]])  # a constant column: left out, columns picked
    path = tmp_path / "x.npy"
    np.save(path, x)
    options = dict(OPTIONS, likelihood="gaussian")
    memory = autolik.fit(x, **options)
    assert memory.recommendation.used_columns == [0, 1, 3, 4, 5]
    streamed = autolik.fit(str(path), **options)
    a, b = memory.model.state_dict(), streamed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) and streamed.metrics == memory.metrics
    monkeypatch.setenv("AUTOLIK_BLOCK_ROWS", "25")
    blocks = autolik.fit(str(path), **options)
    assert not torch.equal(blocks.model.state_dict()["raw_bias"], a["raw_bias"])
    ratio = blocks.metrics["nll_iwae_nats_per_sample"] / memory.metrics["nll_iwae_nats_per_sample"]
    assert abs(ratio - 1) < 0.02, ratio


def test_streamed_evaluation_gives_the_in_memory_figures_and_names_rows_from_the_start(tmp_path, monkeypatch):
    path, x = npy(tmp_path / "x.npy", n=700, counts=True)
    model = autolik.fit(x, **dict(OPTIONS, likelihood="gaussian"))
    monkeypatch.setattr(batches, "READ_BYTES", 64 * x.shape[1] * 8)  # blocks of 64 rows: many reads
    whole = model.evaluate(x, k=4)
    assert model.evaluate(str(path), k=4) == whole  # memory-mapped: read, checked and scored a block at a time
    model.save(tmp_path / "m")
    res = CliRunner().invoke(cli, ["evaluate", str(tmp_path / "m"), str(path), "--k", "4", "--json"])
    assert res.exit_code == 0, res.output
    bad = x.copy()
    bad[650, 3] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(DataError, match=r"infinite values at data row 651, column 'x3'"):
        model.evaluate(str(tmp_path / "bad.npy"))
    bad[650, 3] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(DataError, match=r"missing values .* data row 651, column 'x3'"):
        model.evaluate(str(tmp_path / "bad.npy"))


def test_a_streamed_fit_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch):
    """The block-shuffled order comes from the checkpointed generator: a resumed run reads the same batches."""
    path, _ = npy(tmp_path / "x.npy", n=400, counts=True)
    monkeypatch.setenv("AUTOLIK_BLOCK_ROWS", "30")
    options = dict(OPTIONS, epochs=4, likelihood="gaussian", patience=0)
    whole = autolik.fit(str(path), **options)
    real = checkpoint.Checkpointer.epoch_end

    def epoch_end(self, state):
        real(self, state)
        if state["meta"]["epoch"] == 2:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(checkpoint.Checkpointer, "epoch_end", epoch_end)
    with pytest.raises(RuntimeError, match="simulated crash"):
        autolik.fit(str(path), **options, checkpoint=checkpoint.Checkpointer(tmp_path / "m", path, {}, interval=0))
    monkeypatch.setattr(checkpoint.Checkpointer, "epoch_end", real)
    resumed = autolik.fit(str(path), **options,
                          checkpoint=checkpoint.Checkpointer(tmp_path / "m", path, {}, resume=True, interval=0))
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) and resumed.metrics == whole.metrics

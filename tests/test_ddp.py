"""Data-parallel fit under torchrun (issue 13, item 2): two gloo processes on loopback train the model one
process trains with the same global batch and seed.

Why the weights can be compared at all: ``--batch-size`` is the global batch; each process takes rows
``rank, rank + 2, ...`` of every batch, scales its summed loss so that DDP's average of the two gradients
is the gradient of the global batch's mean, and draws the dequantisation and posterior noise of the whole
batch from the single-process streams (keeping its rows'). What is left is rounding: a gradient summed
over two half-batches and then added is not bit for bit the sum over the whole batch, and Adam carries
those last bits on; measured, the weights differ by <= 1e-7 after 45 steps, and the tests allow 1e-5.

torchrun is run as ``python -m torch.distributed.run --standalone``, which rendezvous on a free port of
localhost by itself. Each launch takes 5-10 s on two shared cores (two interpreters importing torch).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import autolik
from autolik import checkpoint
from autolik.cli import cli

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                "GROUP_RANK", "ROLE_RANK", "TORCHELASTIC_RUN_ID")


def launch(*args, nproc: int = 2, env=None, wait: bool = True, cwd=None):
    """``torchrun --nproc-per-node N -m autolik ARGS`` with this checkout's autolik."""
    full = {k: v for k, v in os.environ.items() if k not in TORCHRUN_ENV}
    full.update({"PYTHONPATH": str(ROOT)}, **(env or {}))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--standalone",
           "-m", "autolik", *(str(a) for a in args)]
    if not wait:
        return subprocess.Popen(cmd, env=full, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=full, cwd=cwd, capture_output=True, text=True, timeout=240)


def single(*args):
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res


def max_weight_difference(a, b) -> float:
    wa, wb = autolik.load(a).model.state_dict(), autolik.load(b).model.state_dict()
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


def close(a: float, b: float, rel: float = 1e-6) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def counts_npy(path: Path, n: int = 600, d: int = 6) -> Path:
    np.save(path, np.random.default_rng(0).poisson(4.0, size=(n, d)).astype(float))
    return path


def counts_csv(path: Path, n: int = 601, d: int = 5) -> Path:
    x = np.random.default_rng(0).poisson(4.0, size=(n, d))
    np.savetxt(path, x, delimiter=",", header=",".join(f"c{j}" for j in range(d)), comments="", fmt="%d")
    return path


def mixed_csv(path: Path, n: int = 601) -> Path:
    rng = np.random.default_rng(0)
    rows = ["count,frac,colour,id,real"] + [f"{rng.poisson(3)},{rng.random():.6f},{'rgb'[rng.integers(3)]},{i},"
                                            f"{rng.normal():.6f}" for i in range(n)]
    path.write_text("\n".join(rows) + "\n")
    return path


CASES = {
    # a .npy file is read a group of blocks at a time, each process its rows only; counts under a Gaussian
    # are dequantised, so the noise must be the single process's too
    "npy": (counts_npy, ["--likelihood", "gaussian", "--batch-size", "32"], {"AUTOLIK_BLOCK_ROWS": "60"}),
    # a CSV in memory: categorical, count, [0,1] and real columns; 481 training rows in batches of 40 leave a
    # last batch of one row, so one process steps on no rows at all
    "csv": (mixed_csv, ["--batch-size", "40"], {}),
    # counts in memory under a Gaussian: the in-memory path's own noise (model space, float32)
    "counts": (counts_csv, ["--likelihood", "gaussian", "--batch-size", "40"], {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_two_processes_train_the_single_process_model(tmp_path, monkeypatch, case):
    make, extra, env = CASES[case]
    data = make(tmp_path / ("x.npy" if case == "npy" else "x.csv"))
    args = ["--hidden", "16", "--latent-dim", "2", "--epochs", "3", "--k", "5", "--seed", "1", "--json", *extra]
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    one = json.loads(single("fit", data, "--out", tmp_path / "one", "--quiet", *args).stdout)
    res = launch("fit", data, "--out", tmp_path / "two", *args, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    two = json.loads(res.stdout)  # one JSON document: rank 0 alone prints
    assert two["world_size"] == 2 and one["world_size"] == 1 and "Traceback" not in res.stderr
    assert "likelihood:" in res.stderr and res.stderr.count("likelihood:") == 1  # the choice, printed once
    assert max_weight_difference(tmp_path / "one", tmp_path / "two") <= 1e-5
    h1, h2 = autolik.load(tmp_path / "one").history, autolik.load(tmp_path / "two").history
    assert h1.epochs_run == h2.epochs_run == 3 and h1.best_epoch == h2.best_epoch
    assert all(close(a, b) for a, b in zip(h1.val_loss + h1.train_loss, h2.val_loss + h2.train_loss))
    for key in ("nll_iwae_nats_per_sample", "neg_elbo_nats_per_sample"):  # the IWAE reduced over the processes
        assert close(one["test"][key], two["test"][key]), (key, one["test"], two["test"])


def test_a_global_batch_smaller_than_the_processes_is_one_line(tmp_path):
    res = launch("fit", counts_npy(tmp_path / "x.npy"), "--batch-size", "1", "--epochs", "1", "--quiet")
    assert res.returncode != 0
    ours = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert ours == ["Error: --batch-size 1 is the global batch, shared by the 2 processes: it must be at least 2"]
    assert "autolik/" not in res.stderr  # torchrun reports the failure after it; no traceback of ours


def test_a_loss_that_is_not_finite_in_one_process_stops_both_with_the_single_process_message(tmp_path):
    """Zeros under a forced Gamma: the batches holding them have an infinite loss in one process only. That
    process must not stop alone (the other would wait for it forever): both stop after the same batch."""
    x = np.random.default_rng(0).gamma(2.0, 1.0, size=(600, 4))
    x[::37, 2] = 0.0
    np.save(tmp_path / "zero.npy", x)
    args = ["fit", tmp_path / "zero.npy", "--likelihood", "gamma", "--epochs", "2", "--batch-size", "32", "--quiet"]
    res = launch(*args)
    ours = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    alone = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.returncode != 0 and alone.exit_code == 1
    assert ours == [alone.output.strip()] and "NaN or infinite on the very first batch" in ours[0]


@pytest.mark.slow
@pytest.mark.parametrize("args, expected", [
    (["fit", "tiny.npy", "--batch-size", "8", "--epochs", "1"], "2 training rows cannot be shared by 3 processes"),
    (["compare", "tiny.npy"], "`autolik compare` runs as one process"),
    (["fit", "missing.csv"], "missing.csv: no such file"),
])
def test_bad_input_under_torchrun_is_one_line_from_rank_0(tmp_path, args, expected):
    np.save(tmp_path / "tiny.npy", np.random.default_rng(0).normal(size=(4, 3)))
    res = launch(*args, nproc=3, cwd=tmp_path)
    assert res.returncode != 0
    ours = [line for line in (res.stdout + res.stderr).splitlines() if line.startswith("Error:")]
    assert len(ours) == 1 and expected in ours[0], res.stderr[-2000:]


@pytest.mark.slow
def test_a_stopped_data_parallel_fit_resumes_to_the_single_process_model(tmp_path, monkeypatch):
    """SIGTERM to torchrun once epoch 2 is checkpointed (torchrun forwards it: both processes stop after the
    same batch, rank 0 saves and keeps the checkpoint); --resume under torchrun ends at the uninterrupted
    single-process model (to rounding)."""
    data = counts_npy(tmp_path / "x.npy", n=6000)
    args = ["--hidden", "16", "--latent-dim", "2", "--epochs", "8", "--k", "3", "--seed", "0", "--batch-size", "32",
            "--likelihood", "gaussian", "--min-steps", "0", "--json", "--quiet"]
    env = {"AUTOLIK_CHECKPOINT_SECONDS": "0", "AUTOLIK_BLOCK_ROWS": "500"}
    out = tmp_path / "two"
    proc = launch("fit", data, "--out", out, *args, env=env, wait=False)
    while proc.poll() is None and checkpoint.summary(out).get("epoch", 0) < 2:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and err.count("interrupted by SIGTERM") == 1, err[-2000:]
    stopped_at = checkpoint.summary(out)["epoch"]
    assert 2 <= stopped_at < 8
    res = launch("fit", data, "--out", out, "--resume", "--force", *args, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    single("fit", data, "--out", tmp_path / "one", *args)
    assert autolik.load(out).history.epochs_run == 8 and not checkpoint.exists(out)
    assert max_weight_difference(tmp_path / "one", out) <= 1e-4, stopped_at


def test_torch_picks_up_no_process_group_in_a_single_process():
    """Outside torchrun nothing joins a process group (the default suite's fits stay single-process)."""
    from autolik.distributed import current

    assert current() is None and not torch.distributed.is_initialized()

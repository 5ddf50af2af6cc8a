"""A fit with --out writes checkpoints; killed, it resumes to the model an uninterrupted run gives
(issue 12, item 3)."""
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
from autolik.persist import is_model_dir

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--hidden", "8", "--latent-dim", "2", "--batch-size", "64", "--k", "3", "--epochs", "6", "--seed", "0",
        "--quiet"]


def table(path: Path, n: int = 400, d: int = 4, seed: int = 0) -> Path:
    """A small low-rank table with a header, written as CSV."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)) @ rng.normal(size=(2, d)) + 0.3 * rng.normal(size=(n, d))
    np.savetxt(path, x, delimiter=",", header=",".join(f"c{j}" for j in range(d)), comments="", fmt="%.6f")
    return path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def weights(out) -> dict:
    return autolik.load(out).model.state_dict()


def same_weights(a, b) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture
def every_epoch(monkeypatch):
    monkeypatch.setenv("AUTOLIK_CHECKPOINT_SECONDS", "0")


def crash_after(monkeypatch, epoch: int, action=None):
    """Make the checkpointer hold (and write) ``epoch``, then crash the run (or do ``action`` instead)."""
    real = checkpoint.Checkpointer.epoch_end

    def epoch_end(self, state):
        real(self, state)
        if state["meta"]["epoch"] == epoch:
            if action is None:
                raise RuntimeError("simulated crash")
            action()

    monkeypatch.setattr(checkpoint.Checkpointer, "epoch_end", epoch_end)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(data file, model dir of an uninterrupted run, its --json output)."""
    d = tmp_path_factory.mktemp("ckpt")
    path = table(d / "small.csv")
    res = run("fit", path, *ARGS, "--out", d / "whole", "--json")
    assert res.exit_code == 0, res.output
    return path, d / "whole", json.loads(res.stdout)


def test_a_crashed_fit_resumes_to_the_uninterrupted_model(data, tmp_path, monkeypatch, every_epoch):
    path, whole, summary = data
    out, log = tmp_path / "model", tmp_path / "run.jsonl"
    crash_after(monkeypatch, 3)
    res = run("fit", path, *ARGS, "--out", out, "--log", log)
    assert res.exit_code == 1 and "simulated crash" in res.output
    assert [p.name for p in out.iterdir()] == ["checkpoint"] and checkpoint.summary(out)["epoch"] == 3
    monkeypatch.undo()
    monkeypatch.setenv("AUTOLIK_CHECKPOINT_SECONDS", "0")
    res = run("fit", path, "--out", out, "--resume", "--log", log, "--json", "--quiet")  # flags left out: saved ones
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["test"] == summary["test"]  # exactly: the random streams are restored
    assert same_weights(out, whole) and not checkpoint.exists(out)
    assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("counts", [False, True])
def test_resume_after_n_epochs_gives_identical_weights(tmp_path, monkeypatch, counts):
    """Library level: fit() with a Checkpointer that crashes after epoch 2, resumed, equals fit() uninterrupted
    (with counts under a Gaussian, the dequantisation noise comes from the restored shuffling stream)."""
    rng = np.random.default_rng(1)
    x = rng.poisson(4.0, size=(300, 5)) if counts else rng.normal(size=(300, 5))
    path = tmp_path / "x.npy"
    np.save(path, x)
    options = dict(hidden=(8,), latent_dim=2, batch_size=32, epochs=5, k=2, seed=3, patience=2, min_steps=0,
                   likelihood="gaussian" if counts else None)
    whole = autolik.fit(str(path), **options)
    settings = {"epochs": 5}
    crash_after(monkeypatch, 2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        autolik.fit(str(path), **options,
                    checkpoint=checkpoint.Checkpointer(tmp_path / "m", path, settings, interval=0))
    monkeypatch.undo()
    resumed = autolik.fit(str(path), **options,
                          checkpoint=checkpoint.Checkpointer(tmp_path / "m", path, settings, resume=True, interval=0))
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.history.val_loss == whole.history.val_loss and resumed.history.best_epoch == whole.history.best_epoch
    assert resumed.metrics == whole.metrics


def test_refusals_are_one_line(data, tmp_path, monkeypatch, every_epoch):
    path, _, _ = data
    out = tmp_path / "model"
    crash_after(monkeypatch, 2)
    assert run("fit", path, *ARGS, "--out", out).exit_code == 1
    monkeypatch.undo()
    for args, code, text in [
        (["sample", out, "-o", tmp_path / "s.npy"], 1, "unfinished fit (after epoch 2 of 6), not a model yet; "
                                                      f"run `autolik fit {path} --out {out} --resume`"),
        (["fit", path, *ARGS, "--out", out], 1, "pass --resume to finish it, or --force to start over"),
        (["fit", path, "--resume"], 2, "--resume needs --out DIR"),
        (["fit", path, "--out", tmp_path / "none", "--resume"], 2, "holds no checkpoint of an unfinished fit"),
        (["fit", path, "--out", out, "--resume", "--epochs", "7"], 2,
         "--epochs 7 differs from the interrupted fit's --epochs 6"),
        (["fit", path, "--out", out, "--resume", "--hidden", "9"], 2, "--hidden 9 differs"),
        (["fit", table(tmp_path / "other.csv", seed=1), "--out", out, "--resume"], 1, "is not the data the checkpoint"),
    ]:
        res = run(*args)
        assert res.exit_code == code and text in res.output and "Traceback" not in res.output, (args, res.output)
        lines = [line for line in res.output.splitlines() if line.strip()]
        assert len(lines) == 1 if code == 1 else lines[-1].startswith("Error:"), res.output  # usage: after click's
    assert not (tmp_path / "s.npy").exists() and checkpoint.summary(out)["epoch"] == 2  # nothing touched
    monkeypatch.setenv("AUTOLIK_CHECKPOINT_SECONDS", "soon")
    assert run("fit", path, *ARGS, "--out", tmp_path / "new").exit_code == 2


def test_ctrl_c_saves_the_best_weights_and_keeps_the_checkpoint(data, tmp_path, monkeypatch, every_epoch):
    path, whole, _ = data
    out = tmp_path / "model"
    crash_after(monkeypatch, 3, action=lambda: os.kill(os.getpid(), signal.SIGINT))  # stops during epoch 4
    res = run("fit", path, *ARGS, "--out", out)
    assert res.exit_code == 130, res.output
    assert "the checkpoint of epoch 3 is kept" in res.output and "--resume --force" in res.output
    assert autolik.load(out).history.interrupted == "SIGINT" and checkpoint.summary(out)["epoch"] == 3
    monkeypatch.undo()
    refused = run("fit", path, "--out", out, "--resume")
    assert refused.exit_code == 1 and "already holds a finished model" in refused.output
    res = run("fit", path, "--out", out, "--resume", "--force", "--quiet")
    assert res.exit_code == 0, res.output
    assert same_weights(out, whole) and not checkpoint.exists(out)


def test_short_fits_write_no_checkpoint_and_a_forced_restart_drops_the_old_one(data, tmp_path, monkeypatch):
    path, _, _ = data
    out = tmp_path / "model"
    monkeypatch.setenv("AUTOLIK_CHECKPOINT_SECONDS", "0")
    crash_after(monkeypatch, 2)
    run("fit", path, *ARGS, "--out", out)
    monkeypatch.undo()
    written = {}
    real = checkpoint.Checkpointer.write
    monkeypatch.setattr(checkpoint.Checkpointer, "write", lambda self: written.setdefault("n", real(self)))
    res = run("fit", path, *ARGS, "--out", out, "--force")  # the default interval (30 s) is longer than this fit
    assert res.exit_code == 0 and not written and not checkpoint.exists(out) and autolik.load(out)


def test_a_killed_fit_resumes_to_the_same_held_out_figure(tmp_path, every_epoch):
    """The real thing: SIGKILL a `python -m autolik fit` once it has checkpointed epoch >= 2, then --resume; the
    uninterrupted run and the resume run in this process (the same code, one torch thread for so small a net)."""
    path = table(tmp_path / "small.csv", n=2000, d=6)
    args = ["--hidden", "16", "--latent-dim", "2", "--epochs", "60", "--seed", "0", "--k", "5", "--json", "--quiet"]
    out = tmp_path / "model"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "autolik", "fit", str(path), "--out", str(out), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and checkpoint.summary(out).get("epoch", 0) < 2:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL, "the fit ended before it could be killed"
    killed_at = checkpoint.summary(out)["epoch"]
    assert 2 <= killed_at < 60 and not is_model_dir(out)
    sample = run("sample", out, "-o", tmp_path / "s.npy")
    assert sample.exit_code == 1 and "unfinished fit" in sample.output and "--resume" in sample.output
    resumed = run("fit", path, "--out", out, "--resume", *args)
    assert resumed.exit_code == 0, resumed.output
    whole = run("fit", path, *args)
    a, b = json.loads(whole.stdout)["test"], json.loads(resumed.stdout)["test"]
    assert b["nll_iwae_nats_per_sample"] == a["nll_iwae_nats_per_sample"], (killed_at, a, b)  # measured: identical
    assert b == a and json.loads(resumed.stdout)["epochs_run"] == 60


def test_a_fit_killed_during_its_first_write_can_be_started_over(data, tmp_path):
    path, _, _ = data
    out = tmp_path / "model"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "state-000001.safetensors").write_bytes(b"half")  # no checkpoint.json: never committed
    res = run("sample", out, "-o", tmp_path / "s.npy")
    assert res.exit_code == 1 and "incomplete checkpoint" in res.output and "--force" in res.output
    assert run("fit", path, *ARGS, "--out", out, "--resume").exit_code == 2
    assert run("fit", path, *ARGS, "--out", out).exit_code == 1
    assert run("fit", path, *ARGS, "--out", out, "--force").exit_code == 0 and autolik.load(out)

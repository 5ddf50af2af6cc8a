"""Ctrl-C and SIGTERM stop training at the end of the current batch, keep the best weights, and the CLI
saves them with --out and exits 130 / 143 (issue 12, item 4)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autolik.likelihoods import get_likelihood
from autolik.model import VAE
from autolik.train import TrainConfig, train
from autolik.transforms import Preprocessor

ROOT = Path(__file__).resolve().parents[1]


def test_a_signal_stops_training_after_the_batch_and_keeps_the_best_weights(monkeypatch):
    x = np.random.default_rng(0).normal(size=(600, 6))
    model = VAE(get_likelihood("gaussian", 6), latent_dim=2, hidden=[16])
    real_loss, calls = model.loss, {"n": 0}

    def loss(*args, **kwargs):  # the signal arrives during the 30th batch (epoch 4 of 8 batches each)
        calls["n"] += 1
        if calls["n"] == 30:
            os.kill(os.getpid(), signal.SIGINT)
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(model, "loss", loss)
    before = signal.getsignal(signal.SIGINT)
    hist = train(model, Preprocessor.identity(6), x[:500], x[500:],
                 TrainConfig(epochs=50, batch_size=64, quiet=True, patience=0))
    assert hist.interrupted == "SIGINT" and hist.epochs_run == 4 and "stopped by SIGINT" in hist.stopped_reason
    assert 1 <= hist.best_epoch <= 4 and len(hist.val_loss) == 4
    assert signal.getsignal(signal.SIGINT) is before  # the handler is restored


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_cli_fit_saves_the_best_weights_and_exits_with_the_shells_code(tmp_path, sig, code):
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(1).normal(size=(20_000, 8)))
    out = tmp_path / "model"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "autolik", "fit", str(data), "--out", str(out), "--epochs", "1000",
                             "--k", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = []
    for line in proc.stderr:  # the recommendation is printed inside the signal-catching block, before training
        seen.append(line)
        if line.startswith("likelihood:"):
            break
    proc.send_signal(sig)
    stdout, rest = proc.communicate(timeout=300)
    err = "".join(seen) + rest
    assert proc.returncode == code, err
    assert f"interrupted by {signal.Signals(sig).name}" in err and "saved to" in err and "Traceback" not in err
    import autolik

    model = autolik.load(out)  # a whole model directory, readable
    assert model.history.interrupted == signal.Signals(sig).name
    assert np.isfinite(model.encode(np.zeros((2, 8)))).all()

"""The training loop: learning, reproducibility, early stopping, NaN guard, warm-up, missing data, devices."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import autolik.train as train_mod
from autolik.errors import DataError, UsageError
from autolik.likelihoods import get_likelihood
from autolik.model import VAE
from autolik.train import History, TrainConfig, resolve_device, train
from autolik.transforms import FeatureTransform, Preprocessor


def low_rank(n=600, d=8, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    return z @ rng.normal(size=(2, d)) + 0.1 * rng.normal(size=(n, d))


def new_model(d=8, seed=0, **kw):
    torch.manual_seed(seed)
    return VAE(get_likelihood("gaussian", d), **kw)


def cfg(**kw):
    base = dict(epochs=3, batch_size=64, quiet=True, patience=0)
    return TrainConfig(**{**base, **kw})


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def record_validation(monkeypatch, scripted=None):
    """Wrap validation_loss: snapshot the weights it sees (per epoch); optionally return scripted losses."""
    seen, real = [], train_mod.validation_loss

    def fake(model, y, bs, seed):
        seen.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        out = real(model, y, bs, seed)
        return scripted[len(seen) - 1] if scripted is not None else out

    monkeypatch.setattr(train_mod, "validation_loss", fake)
    return seen


def test_loss_decreases_on_a_small_problem():
    x = low_rank()
    h = train(new_model(), Preprocessor.identity(8), x[:500], x[500:], cfg(epochs=12, lr=3e-3))
    assert isinstance(h, History) and h.epochs_run == 12 and len(h.val_loss) == 12
    assert h.val_loss[-1] < h.val_loss[0] - 1.0 and h.train_loss[-1] < h.train_loss[0]
    assert h.samples_per_second > 0 and h.train_seconds > 0 and h.stopped_reason == "completed 12 epochs"
    assert set(h.to_dict()) >= {"train_loss", "val_loss", "best_epoch", "epochs_run", "stopped_reason"}
    assert History.from_dict(h.to_dict()) == h


def test_same_seed_same_numbers_different_seed_different():
    x = low_rank()
    runs = []
    for seed in (3, 3, 4):
        m = new_model(seed=seed)
        h = train(m, Preprocessor.identity(8), x[:500], x[500:], cfg(seed=seed))
        runs.append((h.train_loss, h.val_loss, m.state_dict()))
    assert runs[0][:2] == runs[1][:2] and states_equal(runs[0][2], runs[1][2])
    assert runs[0][0] != runs[2][0]


def test_early_stopping_restores_the_best_weights(monkeypatch):
    seen = record_validation(monkeypatch, scripted=[5.0, 3.0, 4.0, 4.5, 6.0, 1.0])
    m = new_model()
    x = low_rank()
    h = train(m, Preprocessor.identity(8), x[:500], x[500:], cfg(epochs=6, patience=2, min_steps=0))
    assert h.epochs_run == 4 and h.best_epoch == 2 and "early stopping" in h.stopped_reason
    assert states_equal(m.state_dict(), seen[1]) and not states_equal(m.state_dict(), seen[3])


def test_early_stopping_waits_for_min_steps(monkeypatch):
    """Small data (8 batches an epoch here) is not stopped near its start: patience counts only after
    min_steps optimisation steps (issue 10, item 5)."""
    record_validation(monkeypatch, scripted=[5.0, 3.0, 4.0, 4.5, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0])
    x = low_rank()
    h = train(new_model(), Preprocessor.identity(8), x[:500], x[500:], cfg(epochs=10, patience=2, min_steps=40))
    assert h.epochs_run == 5 and h.best_epoch == 2 and "early stopping" in h.stopped_reason  # 5 x 8 = 40 steps


def test_nan_guard_keeps_the_last_good_epoch(monkeypatch):
    seen = record_validation(monkeypatch)
    m = new_model()
    x = low_rank(n=256)
    n_batches = 4  # 256 / 64
    real_loss, calls = m.loss, {"n": 0}

    def flaky(y, beta=1.0):
        calls["n"] += 1
        t = real_loss(y, beta)
        if calls["n"] > 2 * (n_batches + 1) + 1:  # one validation call per epoch; batch 2 of epoch 3 goes bad
            t.loss = t.loss * float("nan")
        return t

    monkeypatch.setattr(m, "loss", flaky)
    h = train(m, Preprocessor.identity(8), x, x[:32], cfg(epochs=6))
    assert h.stopped_reason == "non-finite loss at epoch 3: kept the weights of epoch 2"
    assert len(h.train_loss) == 2 and h.best_epoch == 2
    assert states_equal(m.state_dict(), seen[1])
    assert all(torch.isfinite(v).all() for v in m.state_dict().values())


def test_non_finite_first_batch_is_a_data_error():
    x = low_rank(n=128)
    x[:, 0] = 1e30  # squared error overflows float32
    with pytest.raises(DataError, match="first batch.*'gaussian'"):
        train(new_model(), Preprocessor.identity(8), x, x[:16], cfg())


def test_kl_warmup_ramps_beta(monkeypatch):
    m = new_model()
    betas, real_loss = [], m.loss
    monkeypatch.setattr(m, "loss", lambda y, beta=1.0: (betas.append(beta), real_loss(y, beta))[1])
    x = low_rank(n=256)
    train(m, Preprocessor.identity(8), x, x[:0], cfg(epochs=3, kl_warmup_epochs=2))
    train_betas = betas[:12]  # no validation rows: every call is a training batch
    assert train_betas[0] == pytest.approx(1 / 8) and train_betas[7] == 1.0 and train_betas[-1] == 1.0
    assert all(a < b for a, b in zip(train_betas[:8], train_betas[1:8]))


def test_missing_values_train_without_nan():
    rng = np.random.default_rng(1)
    x = low_rank()
    x[rng.random(x.shape) < 0.25] = np.nan
    m = new_model(missing=True)
    h = train(m, Preprocessor.identity(8), x[:500], x[500:], cfg(epochs=4))
    assert all(np.isfinite(h.train_loss)) and all(np.isfinite(h.val_loss)) and h.stopped_reason.startswith("completed")


def test_lattice_data_is_dequantised_per_batch():
    """Integer data under a Gaussian: with dequantisation noise the loss stays finite and training learns."""
    rng = np.random.default_rng(0)
    x = rng.poisson(20.0, size=(400, 8)).astype(np.float64)
    pre = Preprocessor([FeatureTransform(shift=20.0, scale=0.2, step=1.0) for _ in range(8)])
    h = train(new_model(), pre, x[:300], x[300:], cfg(epochs=5, lr=3e-3))
    assert all(np.isfinite(h.val_loss)) and h.val_loss[-1] < h.val_loss[0]


def test_time_budget_stops_training():
    x = low_rank()
    h = train(new_model(), Preprocessor.identity(8), x[:500], x[500:], cfg(epochs=1000, max_seconds=0.3))
    assert h.epochs_run < 1000 and h.stopped_reason.startswith("time limit")


def test_progress_goes_to_stderr_unless_quiet(capsys):
    x = low_rank(n=200)
    train(new_model(), Preprocessor.identity(8), x, x[:50], cfg(epochs=2, quiet=False))
    out, err = capsys.readouterr()
    assert out == "" and "epoch 2/2" in err and "val" in err
    train(new_model(), Preprocessor.identity(8), x, x[:50], cfg(epochs=2, quiet=True))
    assert capsys.readouterr() == ("", "")


def test_bad_inputs_are_clear_errors():
    x = low_rank(n=100)
    with pytest.raises(DataError, match=r"shape \(n_samples, 8\)"):
        train(new_model(), Preprocessor.identity(8), x[:, :5], x[:10], cfg())
    bad = x.copy()
    bad[0, 0] = np.inf
    with pytest.raises(DataError, match="infinite"):
        train(new_model(), Preprocessor.identity(8), bad, x[:10], cfg())
    with pytest.raises(UsageError, match="preprocessor has 5"):
        train(new_model(), Preprocessor.identity(5), x, x[:10], cfg())


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UsageError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_learned_scale_moves_faster_than_the_network_weights():
    """A shared Gaussian sigma starting at 1 on data with sd 0.05 must shrink quickly: the likelihood's
    own parameters get a larger Adam step than the network weights (else a learned sigma loses to a fixed one)."""
    rng = np.random.default_rng(0)
    x = rng.normal(0.5, 0.05, size=(400, 10))
    lik = get_likelihood("gaussian", 10, mode="shared")
    model = VAE(lik, latent_dim=2, hidden=[16])
    groups = train_mod._param_groups(model, 1e-3)
    assert [len(g["params"]) for g in groups][1] == 1 and groups[1]["lr"] == pytest.approx(1e-3 * train_mod.LIKELIHOOD_LR_FACTOR)
    train(model, Preprocessor.identity(10), x[:320], x[320:], TrainConfig(epochs=8, batch_size=32, quiet=True, patience=100))
    sigma = float(torch.nn.functional.softplus(lik.raw_scale).item())
    assert sigma < 0.7, sigma  # at the networks' rate (80 steps of 1e-3) it would still be about 0.95


def test_threads_follow_autolik_threads(monkeypatch):
    monkeypatch.setenv("AUTOLIK_THREADS", "1")
    assert train_mod.cpu_threads() == 1
    monkeypatch.setenv("AUTOLIK_THREADS", "two")
    with pytest.raises(UsageError, match="AUTOLIK_THREADS"):
        train_mod.cpu_threads()
    monkeypatch.delenv("AUTOLIK_THREADS")
    assert train_mod.cpu_threads() >= 1


def test_small_networks_train_on_one_thread(monkeypatch):
    """A table MLP's products are too small to split between threads, which then only contend."""
    monkeypatch.delenv("AUTOLIK_THREADS", raising=False)
    assert train_mod.cpu_threads(work=10_000 * 128) == 1
    assert train_mod.cpu_threads(work=1e9) >= 1
    monkeypatch.setenv("AUTOLIK_THREADS", "2")
    assert train_mod.cpu_threads(work=10_000 * 128) == 2  # an explicit count always wins


def test_progress_shows_elapsed_and_time_left(monkeypatch):
    import io

    from autolik import progress as progress_module
    from autolik.progress import Progress, duration

    clock = {"t": 100.0}
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: clock["t"])
    out = io.StringIO()
    p = Progress(10, 4, stream=out)
    assert p.remaining(1, 0) is None  # nothing to estimate from yet
    clock["t"] += 2.0  # 2 s for 2 of 4 batches: 4 s an epoch, 38 s left of 10 epochs
    assert p.remaining(1, 2) == (38.0, False)
    clock["t"] += 2.0
    p.epoch_done()
    p.update(1, 4, 1.0, 2.0, force=True)
    assert "4s elapsed, ~36s left" in out.getvalue()
    early = Progress(10, 4, stream=out, early_stopping=True, max_seconds=20)
    clock["t"] += 4.0
    early.epoch_done()
    assert early.remaining(1, 4) == (16.0, True)  # the time limit ends it first: an upper bound
    early.update(1, 4, force=True)
    assert "<=16s left" in out.getvalue()  # early stopping may end it sooner still
    assert [duration(s) for s in (42, 200, 3900)] == ["42s", "3m20s", "1h05m"]

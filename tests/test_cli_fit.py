"""The model commands end to end with click's CliRunner, and their errors (exit 1/2, files untouched)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from autolik.cli import cli

TINY = ["--hidden", "16", "--latent-dim", "2", "--epochs", "1", "--k", "3", "--quiet"]


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    x = rng.poisson(3.0, size=(150, 5)).astype(np.int64)
    np.save(d / "train.npy", x)
    np.save(d / "wide.npy", np.zeros((10, 7), dtype=np.int64))
    result = run("fit", d / "train.npy", *TINY, "--json", "--out", d / "model")
    assert result.exit_code == 0, result.output
    return d, x, json.loads(result.stdout)


def test_fit_json_is_one_object_with_the_fields(workdir):
    d, x, out = workdir
    assert {"likelihood", "epochs_run", "train_seconds", "samples_per_second", "test", "model_dir"} <= set(out)
    assert out["epochs_run"] == 1 and out["model_dir"] == str(d / "model")
    test = out["test"]
    assert {"neg_elbo_nats_per_sample", "nll_iwae_nats_per_sample", "nats_per_dim", "bits_per_dim", "k"} <= set(test)
    assert test["k"] == 3 and test["bits_per_dim"] == pytest.approx(test["nats_per_dim"] / np.log(2))
    assert (d / "model" / "autolik.json").is_file()


def test_fit_prints_choice_before_training_and_figures_after(workdir, tmp_path):
    d, _, _ = workdir
    result = run("fit", d / "train.npy", "--hidden", "16", "--latent-dim", "2", "--epochs", "1", "--k", "3")
    assert result.exit_code == 0, result.output
    assert "likelihood:" in result.stderr and "why:" in result.stderr
    assert "held-out test" in result.stdout and "nats/dim" in result.stdout


def test_sample_encode_reconstruct_evaluate(workdir, tmp_path):
    d, x, _ = workdir
    model = d / "model"
    assert run("sample", model, "-n", 7, "-o", tmp_path / "s.npy").exit_code == 0
    s = np.load(tmp_path / "s.npy")
    assert s.shape == (7, 5) and s.dtype == x.dtype
    assert run("encode", model, d / "train.npy", "-o", tmp_path / "z.npy").exit_code == 0
    assert np.load(tmp_path / "z.npy").shape == (150, 2)
    assert run("reconstruct", model, d / "train.npy", "-o", tmp_path / "r.npy").exit_code == 0
    r = np.load(tmp_path / "r.npy")
    assert r.shape == x.shape and r.dtype == x.dtype
    assert run("reconstruct", model, d / "train.npy", "-o", tmp_path / "r.csv").exit_code == 0
    header = (tmp_path / "r.csv").read_text().splitlines()
    assert len(header) == 151 and len(header[0].split(",")) == 5
    result = run("evaluate", model, d / "train.npy", "--k", 3, "--json")
    assert result.exit_code == 0, result.output
    m = json.loads(result.stdout)
    assert m["n_samples"] == 150 and m["nll_iwae_nats_per_sample"] <= m["neg_elbo_nats_per_sample"] + 1e-6


def test_bad_inputs_exit_1_with_one_line(workdir, tmp_path):
    d, _, _ = workdir
    (tmp_path / "junk").mkdir()
    cases = [
        (("evaluate", tmp_path / "nope", d / "train.npy"), "no model directory"),
        (("evaluate", tmp_path / "junk", d / "train.npy"), "not an autolik model"),
        (("evaluate", d / "model", d / "wide.npy"), "has 7 features but the model was trained on 5"),
        (("sample", tmp_path / "junk", "-o", tmp_path / "s.npy"), "not an autolik model"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "s.npy").exists()


def test_outputs_are_never_overwritten_silently(workdir, tmp_path):
    d, _, _ = workdir
    target = tmp_path / "z.npy"
    target.write_bytes(b"keep me")
    result = run("encode", d / "model", d / "train.npy", "-o", target)
    assert result.exit_code == 1 and "--force" in result.output
    assert target.read_bytes() == b"keep me"
    assert run("encode", d / "model", d / "train.npy", "-o", target, "--force").exit_code == 0
    assert np.load(target).shape == (150, 2)
    # never the input file, even with --force
    before = (d / "train.npy").read_bytes()
    result = run("reconstruct", d / "model", d / "train.npy", "-o", d / "train.npy", "--force")
    assert result.exit_code == 2 and (d / "train.npy").read_bytes() == before
    # an existing model directory is kept unless --force
    manifest = (d / "model" / "autolik.json").read_bytes()
    result = run("fit", d / "train.npy", *TINY, "--out", d / "model")
    assert result.exit_code == 1 and "already exists" in result.output
    assert (d / "model" / "autolik.json").read_bytes() == manifest


def test_usage_errors_exit_2(workdir, tmp_path):
    d, _, _ = workdir
    assert run("fit", d / "train.npy", "--hidden", "a,b", "--quiet").exit_code == 2
    assert run("sample", d / "model", "-o", tmp_path / "s.txt").exit_code == 2
    assert run("fit", d / "train.npy", "--likelihood", "nonsense", "--quiet").exit_code == 2


def test_python_dash_m_and_demo_help():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "autolik", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "demo" in out.stdout and "reconstruct" in out.stdout


def test_demo_runs_on_digits():
    result = run("demo", "--epochs", 1, "--k", 5, "--json", "--quiet")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["epochs_run"] == 1 and out["test"]["bits_per_dim"] is not None


def test_fit_refuses_infinite_values_before_recommending(tmp_path):
    """+-inf is named by row and column before any recommendation is printed or training starts."""
    x = np.random.default_rng(0).normal(size=(60, 3))
    x[7, 2] = -np.inf
    path = tmp_path / "inf.npy"
    np.save(path, x)
    res = CliRunner().invoke(cli, ["fit", str(path), "--epochs", "1", "--quiet"])
    assert res.exit_code == 1 and "data row 8, column 'x2' (= -inf)" in res.output
    assert "likelihood" not in res.output.lower().split("error")[0]  # nothing printed before the error


def test_fit_log_writes_one_json_line_per_epoch_and_max_seconds_is_checked(tmp_path):
    x = np.random.default_rng(0).normal(size=(200, 4))
    data, log = tmp_path / "x.npy", tmp_path / "run.jsonl"
    np.save(data, x)
    res = CliRunner().invoke(cli, ["fit", str(data), "--epochs", "3", "--k", "2", "--log", str(log), "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3] and json.loads(res.stdout)["epochs_run"] == 3
    assert all({"train_loss", "val_loss", "best_epoch", "seconds"} <= set(r) for r in lines)
    again = CliRunner().invoke(cli, ["fit", str(data), "--epochs", "1", "--log", str(log), "--quiet"])
    assert again.exit_code == 1 and "already exists" in again.output and len(log.read_text().splitlines()) == 3
    bad = CliRunner().invoke(cli, ["fit", str(data), "--max-seconds", "0", "--quiet"])
    assert bad.exit_code == 2 and "--max-seconds" in bad.output


def test_fit_min_steps_reaches_training_and_is_checked(tmp_path):
    data, out = tmp_path / "x.npy", tmp_path / "model"
    np.save(data, np.random.default_rng(0).normal(size=(200, 4)))
    res = run("fit", data, *TINY, "--min-steps", "7", "--out", out)
    assert res.exit_code == 0, res.output
    assert json.loads((out / "autolik.json").read_text())["training"]["training"]["min_steps"] == 7
    bad = run("fit", data, *TINY, "--min-steps", "-1")
    assert bad.exit_code == 2 and "--min-steps must be >= 0" in bad.output

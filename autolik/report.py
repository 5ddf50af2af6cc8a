"""Write a comparison to a directory a person can open: ``report.md``, the PNG figures, ``leaderboard.json``."""
from __future__ import annotations

import json
import math
from pathlib import Path

from autolik.errors import DataError

MD_COLUMNS = (  # (header, leaderboard field, digits)
    ("candidate", "candidate", None), ("likelihood", "likelihood", None), ("activation", "activation", None),
    ("loss", "loss", None), ("preprocessing", "preprocessing", None),
    ("held-out NLL (IWAE), nats/dim", "nll_iwae_nats_per_dim", 4), ("neg. ELBO, nats/dim", "neg_elbo_nats_per_dim", 4),
    ("bits/dim", "bits_per_dim", 4), ("recon. RMSE (data units)", "recon_error", 4), ("train s", "train_seconds", 3),
)


def check_out_dir(out, force: bool = False) -> Path:
    """Refuse an output directory that exists and is not empty (unless ``force``), or is a file.

    Raises:
        DataError: ``out`` is a file, or a non-empty directory and ``force`` is False.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; expected a directory for report.md and the figures. "
                        "Choose another path.")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise DataError(f"output directory {out} exists and is not empty; pass --force (force=True) to write "
                        "into it, or choose a new directory")
    return out


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
    how = (f"{s['budget_seconds']} s budget in total ({s['seconds_per_candidate']:.3g} s per candidate)"
           if s.get("budget_seconds") else f"{s.get('epochs')} epochs at most (early stopping)")
    lines = [
        "# autolik compare", "",
        f"Data: {s.get('n_samples')} samples, shape {tuple(s.get('shape', ()))}. "
        f"Every candidate: the same architecture, data split and seed ({s.get('seed')}), {how}.",
        f"Held-out figures are on the test split, in the original data's units (Jacobians of the "
        f"preprocessing added; continuous likelihoods on lattice data dequantised), IWAE with k = {s.get('k')}.",
        "",
        f"**{comp.verdict()}**",
        "",
        markdown_table(comp.leaderboard),
        "",
        "Candidates marked *not comparable* are not normalised likelihoods for this data; they were trained "
        "so their reconstructions can be seen, but their figures are withheld.",
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
    out = check_out_dir(out, force)
    out.mkdir(parents=True, exist_ok=True)
    try:
        from autolik.plots.compare import write_figures

        figures = write_figures(comp, out)
    except ModuleNotFoundError as e:  # matplotlib is an optional extra
        if e.name != "matplotlib":
            raise
        figures = {}
        comp.notes.append("no figures: matplotlib is not installed (pip install 'autolik[plot]')")
    (out / "leaderboard.json").write_text(json.dumps(_jsonable(comp.to_dict()), indent=2, allow_nan=False))
    path = out / "report.md"
    path.write_text(report_markdown(comp, {k: Path(v).name for k, v in figures.items()}))
    return path


def _jsonable(o):
    from autolik.cli import to_jsonable

    return to_jsonable(o)

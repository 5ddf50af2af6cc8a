"""``autolik inspect FILE``: profile the data and recommend a likelihood, as text or one JSON object.

Thin: load + profile (:func:`autolik.pipeline.prepare`, which calls
:func:`autolik.analysis.profiling.profile.inspect` with a progress bar for big files), :func:`recommend`, print.
The summary puts the shape and the recommendation first, then a per-feature table (grouped by
support and family when there are many features, such as 784 pixels), then notes.
"""
from __future__ import annotations


from pathlib import Path

import click

from autolik.cli.base import cli, emit_json
from autolik.cli.paths import check_output, write_atomically
from autolik.errors import UsageError

MAX_ROWS = 40  # beyond this many features, the table groups rows by support and family


def _profile(file: str, key: str | None, sample_rows: int, quiet: bool = False, workers: int = 1):
    from autolik.pipeline import prepare

    return prepare(file, key, quiet=quiet, sample_rows=sample_rows, workers=workers).profile


def _choice_by_column(rec) -> dict:
    return {c: f for f in rec.features for c in f.columns}


def report_dict(prof, rec) -> dict:
    """The ``--json`` document: profile, whole-array recommendation and per-feature choices."""
    whole = {k: v for k, v in rec.to_dict().items() if k != "features"}
    by_col = _choice_by_column(rec)
    feats = []
    for j, f in enumerate(prof.features):
        d = f.to_dict()
        c = by_col.get(j)
        if c is not None:
            d.update(likelihood=c.likelihood, used=c.used, preprocessing=c.transform.description,
                     options=c.options, activation=c.activation, loss=c.loss, rationale=c.rationale,
                     confidence=c.confidence, alternatives=c.alternatives, model_columns=c.columns)
        feats.append(d)
    return {"source": prof.source, "shape": list(prof.shape), "n_samples": prof.n_samples,
            "n_features": prof.n_features, "is_image": prof.is_image,
            "image_shape": list(prof.image_shape) if prof.image_shape else None,
            "homogeneous": prof.homogeneous, "onehot_blocks": prof.onehot_blocks,
            "constant_features": prof.constant_features, "recommendation": whole,
            "features": feats, "notes": list(dict.fromkeys(list(prof.notes) + list(rec.notes)))}


def _num(x) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:.4g}"


def _table(prof, rec) -> list[str]:
    by_col = _choice_by_column(rec)
    if prof.n_features <= MAX_ROWS:
        rows = [("feature", "support", "likelihood", "missing", "min", "max", "mean", "sd", "distinct")]
        for j, f in enumerate(prof.features):
            c = by_col.get(j)
            sd = f.variance ** 0.5 if f.variance == f.variance and f.variance >= 0 else float("nan")
            rows.append((str(f.name), f.support, (c.likelihood if c and c.used else "(left out)"),
                         f"{f.missing_fraction:.1%}", _num(f.min), _num(f.max), _num(f.mean), _num(sd),
                         f">{f.n_distinct - 1}" if f.distinct_over_cap else str(f.n_distinct)))
    else:
        groups: dict[tuple, list[int]] = {}
        for j, f in enumerate(prof.features):
            c = by_col.get(j)
            groups.setdefault((f.support, c.likelihood if c and c.used else "(left out)"), []).append(j)
        rows = [("features", "support", "likelihood", "count", "min", "max", "missing")]
        for (sup, fam), cols in groups.items():
            fs = [prof.features[j] for j in cols]
            names = f"{fs[0].name}..{fs[-1].name}" if len(fs) > 1 else str(fs[0].name)
            mins = [f.min for f in fs if f.min == f.min]
            maxs = [f.max for f in fs if f.max == f.max]
            miss = sum(f.missing_fraction for f in fs) / len(fs)
            rows.append((names, sup, fam, str(len(fs)), _num(min(mins) if mins else None),
                         _num(max(maxs) if maxs else None), f"{miss:.1%}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]


def summary_lines(prof, rec) -> list[str]:
    """The readable summary: shape and recommendation first, then features, then notes."""
    from autolik.analysis.recommendation.result import render

    kind = f", a batch of images {tuple(prof.image_shape)}" if prof.is_image and prof.image_shape else ""
    lines = [f"{prof.source}: shape {tuple(prof.shape)}, {prof.n_samples} samples x {prof.n_features} features{kind}",
             ""] + render(rec, notes=False)  # the notes come last, with the profile's
    lines += ["", "features:"] + _table(prof, rec)
    notes = list(dict.fromkeys(list(prof.notes) + list(rec.notes)))
    if notes:
        lines += ["", "notes:"] + [f"  - {n}" for n in notes]
    return lines


@cli.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", "--layer", "key", default=None, help="Array name inside an .npz file; --layer: layer of an .h5ad file (default X).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object to stdout.")
@click.option("--plot", "plot", default=None, type=click.Path(dir_okay=False),
              help="Write per-feature histograms with the chosen density to this PNG file.")
@click.option("--sample-rows", default=5000, show_default=True, type=int,
              help="Rows sampled for the quick likelihood fits.")
@click.option("--force", is_flag=True, help="Replace an existing --plot file.")
@click.option("--quiet", is_flag=True, help="No progress bar on stderr (drawn only for files over 256 MB).")
@click.option("--workers", default="1", show_default=True, metavar="N",
              help="Processes that profile contiguous shards of the rows, merged exactly; 0 or 'auto': every core. "
                   "Text and sparse files are parsed in this process.")
def inspect_command(file, key, as_json, plot, sample_rows, force, quiet, workers):
    """Profile FILE (.npy, .npz, .csv, .tsv, .parquet) and recommend a decoder likelihood."""
    from autolik.analysis.profiling.shards import worker_count

    if sample_rows < 10:
        raise UsageError(f"--sample-rows must be at least 10, got {sample_rows}")
    workers = worker_count(workers, "--workers")
    if plot is not None:
        check_output(plot, force, inputs=[file], suffixes=(".png",), flag="--plot")
    from autolik.analysis.recommendation.recommend import recommend

    prof = _profile(file, key, sample_rows, quiet, workers)
    rec = recommend(prof)
    if plot is not None:
        from autolik.plots.inspect import plot_inspect

        with write_atomically(Path(plot)) as tmp:  # an interrupted plot leaves the old file, not half a PNG
            plot_inspect(prof, rec, tmp)
    if as_json:
        doc = report_dict(prof, rec)
        if plot is not None:
            doc["plot"] = str(plot)
        emit_json(doc)
        return
    for line in summary_lines(prof, rec):
        click.echo(line)
    if plot is not None:
        click.echo(f"\nplot written to {plot}")

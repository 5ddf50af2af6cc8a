"""``autolik compare FILE``: train the candidate likelihoods side by side and rank them on held-out data."""
from __future__ import annotations

from pathlib import Path

import click

from autolik.cli.base import cli, emit_json
from autolik.errors import UsageError


@cli.command("compare")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", "--layer", "key", default=None, help="Array name inside an .npz file; --layer: layer of an .h5ad file (default X).")
@click.option("--candidates", default="auto", show_default=True,
              help="auto (pick, top alternatives, naive BCE and MSE), all, or a comma list of likelihood names "
                   "(name:mode allowed), pick, naive-bce, naive-mse.")
@click.option("--budget-seconds", type=float, default=None, help="Total training budget, split evenly.")
@click.option("--epochs", type=int, default=None, help="Epochs per candidate (default 50; early stopping applies).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed: the same split for every candidate.")
@click.option("--k", type=int, default=100, show_default=True, help="Importance samples of the held-out IWAE bound.")
@click.option("--latent-dim", type=int, default=None, help="Latent dimensions (default scales with the data).")
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--test-fraction", type=float, default=0.1, show_default=True,
              help="Held-out share of rows, the same for every candidate.")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Directory for report.md and the PNG figures.")
@click.option("--force", is_flag=True, help="Write into an existing non-empty --out directory.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object {pick, best, agrees, leaderboard}.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def compare_command(file, key, candidates, budget_seconds, epochs, seed, k, latent_dim, batch_size, test_fraction,
                    out, force, as_json, quiet):
    """Train the analyser's pick, its alternatives and the naive defaults on FILE; rank them on held-out data."""
    from autolik.compare import compare, leaderboard_text

    if budget_seconds is not None and epochs is not None:
        raise UsageError("--budget-seconds and --epochs are exclusive: give a total time budget or a number of "
                         "epochs per candidate, not both")
    if epochs is not None and epochs < 1:
        raise UsageError(f"--epochs must be >= 1, got {epochs}")
    if k < 1:
        raise UsageError(f"--k must be >= 1, got {k}")
    if not 0 < test_fraction < 1:
        raise UsageError(f"--test-fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    opts = {"batch_size": batch_size, "test_fraction": test_fraction,
            **({"latent_dim": latent_dim} if latent_dim is not None else {})}
    comp = compare(file, candidates=candidates, epochs=epochs, budget_seconds=budget_seconds, seed=seed, k=k,
                   out=out, quiet=quiet, key=key, force=force, **opts)
    if as_json:
        emit_json(comp.to_dict())
    else:
        click.echo(f"analyser's pick: {comp.pick}")
        click.echo(leaderboard_text(comp))
        if out is not None:
            click.echo(f"report: {Path(out) / 'report.md'}")
    if comp.best is None:  # nothing could be ranked: a failed comparison, not a result
        reasons = "; ".join(comp.notes) or "no candidate is a comparable likelihood for this data"
        raise click.ClickException(f"no candidate could be scored on held-out data ({reasons})")

"""``autolik fit | sample | encode | reconstruct | evaluate | demo``: train and use a model from the shell.

Thin: parse, call :mod:`autolik.api`, print. What was chosen (and why) goes to stderr before
training; results go to stdout (``--json``: one JSON document). Output files are never the
input file and are never overwritten without ``--force``; that is checked before any work.
"""
from __future__ import annotations

from pathlib import Path

import click

from autolik.cli.base import cli, emit_json
from autolik.cli.paths import check_output, write_atomically
from autolik.errors import DataError, UsageError

OUTPUT_SUFFIXES = (".npy", ".csv", ".tsv")
TEST_KEYS = ("neg_elbo_nats_per_sample", "nll_iwae_nats_per_sample", "nats_per_dim", "bits_per_dim", "k")


def _say(message: str, quiet: bool = False) -> None:
    if not quiet:
        click.echo(message, err=True)


def _parse_hidden(text: str | None):
    if not text:
        return None
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise UsageError(f"--hidden expects positive integers separated by commas, like 512,256; got {text!r}")
    return sizes


def _write_output(chunks, n: int, path: Path, spec=None) -> None:
    """Write an array, or an iterable of row chunks with ``n`` rows in all, to .npy/.csv/.tsv atomically.

    Chunks are written as they come, so a stream of samples never sits in memory at once.
    """
    import numpy as np

    chunks = iter([chunks] if isinstance(chunks, np.ndarray) else chunks)
    suffix = path.suffix.lower()
    with write_atomically(path) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as fh:
                _write_npy(chunks, n, fh)
        else:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                _write_table(chunks, fh, spec, sep="\t" if suffix == ".tsv" else ",")


def _write_npy(chunks, n: int, fh) -> None:
    import numpy as np

    first = np.ascontiguousarray(next(chunks))
    header = {"descr": np.lib.format.dtype_to_descr(first.dtype), "fortran_order": False,
              "shape": (n, *first.shape[1:])}
    np.lib.format.write_array_header_2_0(fh, header)
    written = 0
    for chunk in _chain(first, chunks):
        chunk = np.ascontiguousarray(chunk, dtype=first.dtype)
        fh.write(chunk.tobytes())
        written += len(chunk)
    if written != n:  # a bug, not a data problem: never leave a file whose header lies
        raise RuntimeError(f"wrote {written} rows, the header says {n}")


def _chain(first, rest):
    yield first
    yield from rest


def _write_table(chunks, fh, spec, sep: str) -> None:
    import numpy as np
    import pandas as pd

    for i, chunk in enumerate(chunks):
        flat = np.asarray(chunk).reshape(len(chunk), -1)
        frame = spec.to_frame(chunk) if spec is not None else \
            pd.DataFrame(flat, columns=[f"z{j}" for j in range(flat.shape[1])])
        frame.to_csv(fh, index=False, header=i == 0, sep=sep, float_format="%.10g")


def describe_recommendation(rec) -> str:
    """A few lines: the family, its activations, loss, preprocessing, why, and what was left out."""
    from autolik.analysis.recommendation.result import render

    return "\n".join(render(rec, title="likelihood"))


def describe_metrics(m: dict) -> str:
    if not m:
        return "no held-out test rows (test fraction 0)"
    rows = m.get("n_samples")
    text = (f"held-out test ({rows} row{'' if rows == 1 else 's'}, k={m.get('k')}): "
            f"-ELBO {m['neg_elbo_nats_per_sample']:.4g} nats/sample, IWAE NLL {m['nll_iwae_nats_per_sample']:.4g} "
            f"nats/sample, {m['nats_per_dim']:.4g} nats/dim")
    if m.get("bits_per_dim") is not None:
        text += f", {m['bits_per_dim']:.4g} bits/dim"
    return text


def fit_summary(fitted, model_dir, world_size: int = 1) -> dict:
    """The ``--json`` object of ``autolik fit`` (and ``autolik demo``); ``world_size``: the processes that trained
    it (torchrun), ``samples_per_second`` being theirs together."""
    h, rec = fitted.history, fitted.recommendation
    return {"likelihood": rec.likelihood, "activation": rec.activation, "loss": rec.loss,
            "preprocessing": rec.preprocessing, "comparable": rec.comparable,
            "epochs_run": h.epochs_run, "stopped_reason": h.stopped_reason, "train_seconds": h.train_seconds,
            "samples_per_second": h.samples_per_second, "world_size": int(world_size),
            "test": {key: fitted.metrics.get(key) for key in TEST_KEYS} if fitted.metrics else None,
            "model_dir": str(model_dir) if model_dir else None}


def _report(fitted, out, as_json: bool, quiet: bool, world_size: int = 1) -> None:
    if out:  # writability was checked before training; a run stopped by a signal keeps its checkpoint
        from autolik.persist import save_fitted

        save_fitted(fitted, out, force=True, keep_checkpoint=bool(getattr(fitted.history, "interrupted", None)))
    if as_json:
        emit_json(fit_summary(fitted, out, world_size))
        return
    h = fitted.history
    procs = f" on {world_size} processes" if world_size > 1 else ""
    click.echo(f"trained {h.epochs_run} epochs{procs} in {h.train_seconds:.1f} s ({h.samples_per_second:.0f} samples/s); "
               f"{h.stopped_reason}")
    text = describe_metrics(fitted.metrics)
    if fitted.metrics and not fitted.recommendation.comparable:  # e.g. Bernoulli on grey levels
        text += " (not a normalised likelihood for this data: these figures do not compare with other models)"
    click.echo(text)
    if out:
        click.echo(f"model saved to {out}")


def _training_options(f):
    opts = [
        click.option("--likelihood", default=None, help="Force this family (see `autolik inspect`)."),
        click.option("--mode", default=None, help="Scale/shape mode: fixed, shared, feature or sample."),
        click.option("--latent-dim", type=int, default=None, help="Latent size (default scales with features)."),
        click.option("--hidden", default=None, help="Hidden widths, e.g. 512,256."),
        click.option("--epochs", type=int, default=100, show_default=True),
        click.option("--batch-size", type=int, default=128, show_default=True),
        click.option("--lr", type=float, default=1e-3, show_default=True),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--test-fraction", type=float, default=0.1, show_default=True),
        click.option("--k", "k", type=int, default=100, show_default=True, help="IWAE importance samples."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True),
        click.option("--max-seconds", type=float, default=None,
                     help="Stop training after this many seconds, keeping the best weights."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


# the options that shape the model and its training: a checkpoint records them and --resume checks them
SETTINGS = ("key", "likelihood", "mode", "latent_dim", "hidden", "epochs", "batch_size", "lr", "seed", "test_fraction",
            "k", "device", "max_seconds", "min_steps", "select")


@cli.command("fit")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", "--layer", "key", default=None, help="Array name inside an .npz file; --layer: layer of an .h5ad file (default X).")
@_training_options
@click.option("--min-steps", type=int, default=1000, show_default=True,
              help="Early stopping (10 epochs without a better validation loss) counts only after this many "
                   "optimisation steps, so small data are not stopped near their start.")
@click.option("--select", type=click.Choice(["analyser", "empirical"]), default="analyser", show_default=True)
@click.option("--log", "--log-file", "log", default=None,
              help="Write one JSON line per epoch (losses, best epoch, seconds) here (.jsonl). Under torchrun "
                   "write --log-file (torchrun's own parser takes --log for its --log-dir).")
@click.option("--out", default=None,
              help="Save the model to this directory (and checkpoints to DIR/checkpoint/ while training).")
@click.option("--resume", is_flag=True,
              help="Continue the unfinished fit in --out DIR from its checkpoint; flags left out are the checkpoint's, "
                   "flags given must match it.")
@click.option("--force", is_flag=True, help="Replace an existing --out model directory (or unfinished fit).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="No progress bar or messages on stderr.")
def fit_command(file, key, likelihood, mode, latent_dim, hidden, epochs, batch_size, lr, seed, test_fraction, k,
                device, max_seconds, min_steps, select, log, out, resume, force, as_json, quiet):
    """Choose the likelihood for FILE, train the VAE, report held-out figures.

    With --out DIR, training writes a checkpoint to DIR/checkpoint/ at the end of an epoch, at most every
    30 s (AUTOLIK_CHECKPOINT_SECONDS), so short epochs do not each pay for a write and fits shorter than
    that write none. If the run is killed, `autolik fit FILE --out DIR --resume` continues from the last
    checkpoint and ends with the model an uninterrupted run gives; saving the finished model removes
    the checkpoint.

    Ctrl-C (or SIGTERM) stops training at the end of the current batch: the best weights so far are
    kept and saved when --out is given, the checkpoint of the last completed epoch is kept in DIR/checkpoint/
    (`--resume --force` continues the run from it), and the command exits 130 (143 for SIGTERM). A second
    Ctrl-C stops at once.

    Launched by `torchrun --nproc-per-node N -m autolik fit FILE ...`, the N processes train one model
    data-parallel (gloo on CPUs, nccl on GPUs): --batch-size is the global batch, shared by the processes;
    rank 0 chooses the likelihood, prints, and writes the model, checkpoints and --log; --resume works.
    """
    from autolik.api import fit
    from autolik.distributed import current, finish
    from autolik.interrupt import EXIT_CODES, stop_on_signals

    if max_seconds is not None and not max_seconds > 0:
        raise UsageError(f"--max-seconds must be > 0, got {max_seconds}")
    if min_steps < 0:
        raise UsageError(f"--min-steps must be >= 0, got {min_steps}")
    given = dict(locals())
    settings = {name: given[name] for name in SETTINGS}
    settings["hidden"] = list(_parse_hidden(hidden) or []) or None
    world = current(device)  # torchrun: join the process group before any check, so all see the same files
    main = world is None or world.main
    quiet = quiet or not main
    ckpt = _checkpointer(file, out, resume, force, settings, log, writer=main)
    if log and main:
        _check_log(file, log, force, ckpt)
    with stop_on_signals():
        fitted = fit(file, **{**settings, "hidden": settings["hidden"] and tuple(settings["hidden"])}, quiet=quiet,
                     log=log, checkpoint=ckpt,
                     on_recommendation=lambda rec: _say(describe_recommendation(rec), quiet))
        if main:
            _report(fitted, out, as_json, quiet, world.size if world else 1)
    finish()  # the processes leave together, once rank 0 has saved
    stopped = fitted.history.interrupted
    if stopped and not main:
        raise click.exceptions.Exit(EXIT_CODES[stopped])
    if stopped:
        kept = f"saved to {out}" if out else "not saved (no --out)"
        click.echo(f"interrupted by {stopped}: {fitted.history.stopped_reason}; the model was {kept}"
                   f"{_kept_checkpoint(file, out)}", err=True)
        raise click.exceptions.Exit(EXIT_CODES[stopped])


def _checkpointer(file, out, resume: bool, force: bool, settings: dict, log, writer: bool = True):
    """The Checkpointer of a fit with --out (None without): a fresh one after the usual overwrite checks,
    or (--resume) the checkpoint in ``out``, checked against the settings given and the data file.

    ``writer`` False (data-parallel ranks other than 0): the same checks, and no fresh Checkpointer; a resumed
    fit's is read-only (every process starts from the checkpoint, only rank 0 writes)."""
    from autolik.checkpoint import Checkpointer, exists
    from autolik.persist import check_writable, is_model_dir

    if not out:
        if resume:
            raise UsageError("--resume needs --out DIR, the directory of the fit to continue")
        return None
    if not resume:
        check_writable(out, force)
        return Checkpointer(out, file, settings, log=log) if writer else None
    if not exists(out):
        raise UsageError(f"--resume: {out} holds no checkpoint of an unfinished fit; run without --resume to start one")
    if is_model_dir(out) and not force:
        raise DataError(f"{out} already holds a finished model (saved when the fit was stopped, or by another fit); "
                        "pass --force to replace it with the resumed fit")
    check_writable(out, force=True)
    ckpt = Checkpointer(out, file, settings, resume=True, log=log, writer=writer)
    _resumed_settings(settings, ckpt.saved["settings"])
    ckpt.settings = dict(settings)
    ckpt.check_data()
    return ckpt


def _resumed_settings(settings: dict, saved: dict) -> None:
    """Flags left out take the checkpoint's values; a flag given with another value is a UsageError."""
    from click.core import ParameterSource

    from autolik.jsonable import jsonable

    ctx = click.get_current_context()
    for name in SETTINGS:
        if ctx.get_parameter_source(name) in (ParameterSource.DEFAULT, None):
            settings[name] = saved.get(name, settings[name])
        elif jsonable(settings[name]) != saved.get(name):
            flag, given, was = f"--{name.replace('_', '-')}", _shown(settings[name]), _shown(saved.get(name))
            raise UsageError(f"{flag} {given} differs from the interrupted fit's {flag} {was}; leave {flag} out "
                             "(the checkpoint's value is used), or start over with --force and without --resume")


def _shown(value) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _check_log(file, log, force: bool, ckpt) -> None:
    """--log is a new file (or --force); a resumed fit continues the interrupted fit's own log from its checkpoint."""
    from pathlib import Path

    from autolik.checkpoint import trim_log

    saved = ckpt.saved if ckpt is not None else None
    if saved and saved.get("log") == str(Path(log).resolve()) and Path(log).is_file():
        trim_log(log, int(saved["epoch"]))
        return
    check_output(log, force, inputs=[file], suffixes=(".jsonl",), flag="--log")
    if saved and Path(log).exists():  # --force: a resumed run appends, so start the replaced file empty
        Path(log).write_text("", encoding="utf-8")


def _kept_checkpoint(file, out) -> str:
    from autolik.checkpoint import exists, location, summary

    if not out or not exists(out):
        return ""
    return (f"; the checkpoint of epoch {summary(out).get('epoch', '?')} is kept in {location(out)}: "
            f"`autolik fit {file} --out {out} --resume --force` continues the run")


@cli.command("sample")
@click.argument("model", type=click.Path())
@click.option("-n", "n", type=int, default=16, show_default=True, help="Number of samples.")
@click.option("-o", "--output", required=True, help="Output file (.npy, .csv or .tsv).")
@click.option("--seed", type=int, default=None, help="Seed (default: the model's).")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
def sample_command(model, n, output, seed, force):
    """Draw N samples from MODEL, in the training data's units, dtype and shape (streamed: any N fits in memory)."""
    from autolik.api import load

    if n < 1:
        raise UsageError(f"-n must be >= 1, got {n}")
    if seed is not None and seed < 0:
        raise UsageError(f"--seed must be >= 0, got {seed}")
    path = check_output(output, force, inputs=[model])
    fitted = load(model)
    _write_output(fitted.sample_chunks(n, seed=seed), n, path, fitted.output)
    _say(f"wrote {n} samples to {path}")


def _model_and_data(model, file, key, output=None, force=False, suffixes=OUTPUT_SUFFIXES):
    from autolik.api import load
    from autolik.outputs import load_dataset

    path = check_output(output, force, inputs=[file, model], suffixes=suffixes) if output else None
    fitted = load(model)
    return fitted, load_dataset(file, key, min_rows=1), path


@cli.command("encode")
@click.argument("model", type=click.Path())
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", "--layer", "key", default=None, help="Array name inside an .npz file; --layer: layer of an .h5ad file (default X).")
@click.option("-o", "--output", required=True, help="Output file for the latent means (.npy, .csv or .tsv).")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
def encode_command(model, file, key, output, force):
    """Latent means of FILE's rows under MODEL."""
    fitted, data, path = _model_and_data(model, file, key, output, force)
    z = fitted.encode(data)
    _write_output(z, len(z), path)
    _say(f"wrote latent means {z.shape} to {path}")


@cli.command("reconstruct")
@click.argument("model", type=click.Path())
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", "--layer", "key", default=None, help="Array name inside an .npz file; --layer: layer of an .h5ad file (default X).")
@click.option("-o", "--output", required=True, help="Output file (.npy, .csv or .tsv).")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
def reconstruct_command(model, file, key, output, force):
    """Reconstructions (decoder means at the latent means) of FILE's rows, in its units and shape."""
    fitted, data, path = _model_and_data(model, file, key, output, force)
    out = fitted.reconstruct(data)
    _write_output(out, len(out), path, fitted.output)
    _say(f"wrote reconstructions of {len(out)} rows to {path}")


@cli.command("evaluate")
@click.argument("model", type=click.Path())
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", "--layer", "key", default=None, help="Array name inside an .npz file; --layer: layer of an .h5ad file (default X).")
@click.option("--k", "k", type=int, default=100, show_default=True, help="IWAE importance samples.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate_command(model, file, key, k, as_json):
    """Negative ELBO and IWAE NLL of FILE under MODEL, in the data's units."""
    if k < 1:
        raise UsageError(f"--k must be >= 1, got {k}")
    fitted, data, _ = _model_and_data(model, file, key)
    metrics = fitted.evaluate(data, k=k)
    if as_json:
        emit_json(metrics)
    else:
        click.echo(describe_metrics(metrics).replace("held-out test", str(file)))


@cli.command("demo")
@click.option("--epochs", type=int, default=400, show_default=True,
              help="At most this many epochs; early stopping (after 1,000 steps) ends it sooner.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--k", "k", type=int, default=100, show_default=True, help="IWAE importance samples.")
@click.option("--out", default=None, help="Also save the model to this directory.")
@click.option("--force", is_flag=True, help="Replace an existing --out model directory.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="No progress bar or messages on stderr.")
def demo_command(epochs, seed, k, out, force, as_json, quiet):
    """Inspect, then fit, scikit-learn's bundled digits (1797 images of 8x8, integers 0..16)."""
    import numpy as np
    from sklearn.datasets import load_digits

    from autolik.api import fit
    from autolik.persist import check_writable
    from autolik.pipeline import prepare, recommend

    if out:
        check_writable(out, force)
    images = load_digits().images.astype(np.uint8)  # (1797, 8, 8), values 0..16
    data = prepare(images)  # loaded and profiled once, for the recommendation and the fit
    rec = recommend(data)
    say = (lambda m: _say(m, quiet)) if as_json else click.echo
    say(f"scikit-learn digits: {images.shape[0]} images of 8x8, integers 0..16")
    say(describe_recommendation(rec))
    fitted = fit(data, recommendation=rec, epochs=epochs, seed=seed, k=k, quiet=quiet)
    _report(fitted, out, as_json, quiet)

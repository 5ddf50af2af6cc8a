"""The ``autolik`` click group: one-line errors with the right exit code, warnings on stderr, JSON out.

Subcommand modules (:mod:`autolik.cli.inspect`, ``fit``, ``compare``) register on :data:`cli` from
here; :mod:`autolik.cli` imports them and re-exports :data:`cli`, :func:`emit_json`.
"""
from __future__ import annotations

import json
import os
import warnings

import click

from autolik.distributed import launched, rank
from autolik.errors import AutolikError, DataWarning, UsageError
from autolik.jsonable import jsonable

DATA_PARALLEL = ("fit",)  # the commands torchrun may launch (the others refuse: each process would do all the work)


class _Group(click.Group):
    """Click group that turns autolik's own errors into one-line messages with the right exit code.

    Under torchrun (data-parallel ``fit``) every process meets the same bad input; rank 0 alone prints
    the line, the others exit with the same code in silence (:mod:`autolik.distributed`)."""

    def resolve_command(self, ctx, args):
        name, cmd, rest = super().resolve_command(ctx, args)
        env = launched()
        if env and env["size"] > 1 and name not in DATA_PARALLEL:
            raise UsageError(f"`autolik {name}` runs as one process; only `autolik fit` trains data-parallel under "
                             "torchrun: run it without torchrun")
        return name, cmd, rest

    def invoke(self, ctx):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", DataWarning)
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except (UsageError, AutolikError) as e:
            if rank() > 0:  # rank 0 says it
                raise click.exceptions.Exit(2 if isinstance(e, UsageError) else 1) from None
            if isinstance(e, UsageError):
                raise click.UsageError(str(e), ctx=ctx) from None
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:  # Ctrl-C outside training (or twice): one line and the shell's code, not "Aborted!"
            click.echo("interrupted; nothing more was written", err=True)
            raise click.exceptions.Exit(130) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort, BrokenPipeError):
            raise
        except Exception as e:  # a bug in autolik: still one line unless debugging
            if _out_of_memory(e):
                raise click.ClickException("out of memory; try a smaller --batch-size, -n or a sample of the data "
                                           "(sample streams its output; fit and compare hold the data)") from None
            if os.environ.get("AUTOLIK_DEBUG"):
                raise
            where = f"rank {rank()}: " if rank() > 0 else ""  # a failure of one process is its own
            raise click.ClickException(
                f"{where}internal error ({type(e).__name__}: {e}); rerun with AUTOLIK_DEBUG=1 for the traceback"
            ) from None


_default_showwarning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """autolik's DataWarnings (data used but doubtful) as one ``warning:`` line on stderr; others as usual."""
    if issubclass(category, DataWarning):
        if rank() == 0:
            click.echo(f"warning: {message}", err=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


def _out_of_memory(e: Exception) -> bool:
    """numpy's MemoryError, and torch's allocator failures (RuntimeError on CPU, OutOfMemoryError on GPU)."""
    text = str(e).lower()
    return isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and
                                          ("out of memory" in text or "can't allocate memory" in text))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="autolik")
def cli():
    """Choose the output likelihood of a VAE from the data, then train the VAE with it."""


def emit_json(obj) -> None:
    """Write exactly one JSON document to stdout."""
    click.echo(json.dumps(jsonable(obj), indent=2, allow_nan=False))

"""The ``autolik`` command line: a thin shell over the library.

Results go to stdout (``--json`` writes exactly one JSON document there); progress, logs and
``warning:`` lines (:class:`~autolik.errors.DataWarning`) go to stderr. Errors are one line:
bad data exits 1, bad usage exits 2, and no traceback is shown (set ``AUTOLIK_DEBUG=1`` to see
one); running out of memory is one line too.

Each subcommand lives in its own module and registers itself on :data:`cli`.
"""
from __future__ import annotations

import os
import sys

from autolik.cli.base import cli, emit_json  # noqa: F401  (imported from autolik.cli too)


def main() -> None:  # console-script entry point
    try:
        cli(prog_name="autolik")
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)


# Subcommands register themselves on `cli` when imported.
from autolik.cli import compare, fit, inspect  # noqa: E402,F401

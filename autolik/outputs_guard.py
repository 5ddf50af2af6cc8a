"""The one rule for output paths: refuse, before any work, what would overwrite without ``--force``.

Every command's output goes through :func:`check_target` before anything is loaded or trained, so a
refusal never costs the work: a ``-o`` file (``sample``, ``encode``, ``reconstruct``), a
``--plot`` or ``--log`` file, a ``compare --out`` report directory, a model directory
(``fit --out``, ``FittedVAE.save``). The checks, in this order, the first that applies being the
one-line error:

1. a file whose suffix the command cannot write (``UsageError``);
2. one of the command's inputs (``UsageError``: never written over, even with ``--force``);
3. the wrong kind: a directory where a file goes, a file where a directory goes;
4. something there already (a file; a directory that is not empty), without ``force``;
5. with ``force``, a model directory's target that is not an autolik model: never replaced;
6. a place that cannot be written: under a file, or in a directory without write permission.

Torch-free and below everything that writes (``persist``, ``report``, the CLI).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from autolik.errors import DataError, UsageError

#: kind of output -> (what the path must be, what is there already, what --force does)
KINDS = {
    "file": ("a file path", "{path} already exists", "overwrite it"),
    "directory": ("a directory for the results", "output directory {path} exists and is not empty", "write into it"),
    "model": ("a model directory to create", "model directory {path} already exists", "replace it"),
}


def check_target(path, force: bool = False, *, kind: str = "file", flag: str = "--out", inputs=(),
                 suffixes: tuple[str, ...] | None = None, is_model: Callable[[Path], bool] | None = None) -> Path:
    """``path`` as a Path when the command may write it (see the module doc for the rules).

    Args:
        path: the output path.
        force: replace what is there (``--force``): a file, or the files of a directory.
        kind: ``"file"``, ``"directory"`` (written into) or ``"model"`` (a model directory, replaced whole).
        flag: the option that named the path, for messages (``-o``, ``--plot``, ``--out``).
        inputs: the command's input paths (None entries are skipped).
        suffixes: the file suffixes the command can write (lower case), or None for any.
        is_model: for ``kind="model"``, whether a directory is an autolik model (only one is replaced).

    Raises:
        UsageError: a suffix the command cannot write, or one of its inputs.
        DataError: anything else in the list above.
    """
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} {path}: expected a file ending in {', '.join(suffixes)}; "
                         f"got {path.suffix or 'no suffix'}")
    if path.exists() and any(i is not None and Path(i).exists() and path.resolve() == Path(i).resolve()
                             for i in inputs):
        raise UsageError(f"{flag} {path} is the input file; choose another output path")
    expected, there, verb = KINDS[kind]
    if path.exists() and path.is_dir() != (kind != "file"):
        raise DataError(f"{flag} {path} is {'a directory' if path.is_dir() else 'a file'}, expected {expected}; "
                        "choose another path")
    if path.is_file() or (path.is_dir() and any(path.iterdir())):
        if not force:
            raise DataError(f"{there.format(path=path)}; pass --force (force=True) to {verb}, or choose another {flag}")
        if kind == "model" and not is_model(path):
            raise DataError(f"{path} exists and is not an autolik model directory; refusing to replace it "
                            f"even with --force; choose another {flag}")
    check_parent(path, flag)
    return path


def check_parent(path, flag: str = "--out") -> None:
    """The directory that will hold ``path`` can be created and written: its nearest existing
    ancestor is a writable directory (checked before any work, so no result is lost at the end)."""
    path = Path(path)
    ancestor = path.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise DataError(f"{flag} {path}: {ancestor} is a file, not a directory; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise DataError(f"{flag} {path}: no permission to write in {ancestor}; choose another path")

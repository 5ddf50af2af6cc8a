"""Output files of the commands: checked before any work, written atomically, never over an input.

``check_output`` is the one output guard (:func:`autolik.outputs_guard.check_target`) for a
command's output file: it refuses, before loading or training anything, a path that is an input
file, has a suffix the command cannot write, is a directory, lies under a file or an unwritable
directory, or exists without ``--force``. ``write_atomically`` writes beside the target
(``.NAME.tmp-PID-*``) and renames it into place, so an interrupted write leaves the old file (or
none), never half a file, and removes its temporary file.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from autolik.outputs_guard import check_target
from autolik.persist import umask


def check_output(out: str, force: bool, inputs=(), suffixes=(".npy", ".csv", ".tsv"), flag: str = "-o") -> Path:
    """Refuse an output file that is an input, has an unknown suffix, is a directory, or exists (without --force)."""
    return check_target(out, force, kind="file", flag=flag, inputs=inputs, suffixes=suffixes)


@contextlib.contextmanager
def write_atomically(path: Path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on any failure it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

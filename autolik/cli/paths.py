"""Output files of the commands: checked before any work, written atomically, never over an input.

``check_output`` refuses (before loading or training anything) an output path that is an
input file, has a suffix the command cannot write, is a directory, lies under a file or an
unwritable directory, or exists without ``--force``. ``write_atomically`` writes beside the
target (``.NAME.tmp-PID-*``) and renames it into place, so an interrupted write leaves the old
file (or none), never half a file, and removes its temporary file.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from autolik.errors import DataError, UsageError
from autolik.persist import check_parent, umask


def check_output(out: str, force: bool, inputs=(), suffixes=(".npy", ".csv", ".tsv"), flag: str = "-o") -> Path:
    """Refuse an output path that is an input, has an unknown suffix, is a directory, or exists (without --force)."""
    path = Path(out)
    if path.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} {out}: expected a file ending in {', '.join(suffixes)}; "
                         f"got {path.suffix or 'no suffix'}")
    for i in inputs:
        if i is not None and Path(i).exists() and path.exists() and path.resolve() == Path(i).resolve():
            raise UsageError(f"{flag} {out} is the input file; choose another output path")
    if path.is_dir():
        raise DataError(f"{flag} {out} is a directory, expected a file path; choose another {flag}")
    if path.exists() and not force:
        raise DataError(f"{out} already exists; pass --force to overwrite it, or choose another {flag}")
    check_parent(path, flag)
    return path


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

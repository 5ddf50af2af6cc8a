"""The one output guard: every kind of output refused by the same rules, in the same order."""
from __future__ import annotations

import pytest

from autolik.errors import DataError, UsageError
from autolik.outputs_guard import check_target


def _model(p):
    return (p / "autolik.json").is_file()


def test_files(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("a\n1\n")
    assert check_target(tmp_path / "new.npy", suffixes=(".npy",), flag="-o") == tmp_path / "new.npy"
    with pytest.raises(UsageError, match=r"-o .*out.txt: expected a file ending in \.npy"):
        check_target(tmp_path / "out.txt", suffixes=(".npy",), flag="-o")
    with pytest.raises(UsageError, match="is the input file"):
        check_target(src, True, inputs=[None, src], suffixes=(".csv",))  # even with force
    with pytest.raises(DataError, match="is a directory, expected a file path"):
        check_target(tmp_path, True)
    with pytest.raises(DataError, match=r"in.csv already exists; pass --force"):
        check_target(src, flag="-o")
    assert check_target(src, True) == src


def test_directories_and_models(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    (tmp_path / "empty").mkdir()
    assert check_target(tmp_path / "empty", kind="directory") == tmp_path / "empty"
    with pytest.raises(DataError, match="exists and is not empty; pass --force"):
        check_target(full, kind="directory")
    assert check_target(full, True, kind="directory") == full
    with pytest.raises(DataError, match="model directory .* already exists"):
        check_target(full, kind="model", is_model=_model)
    with pytest.raises(DataError, match="not an autolik model directory"):
        check_target(full, True, kind="model", is_model=_model)
    (full / "autolik.json").write_text("{}")
    assert check_target(full, True, kind="model", is_model=_model) == full
    with pytest.raises(DataError, match="keep.txt is a file, expected a model directory"):
        check_target(full / "keep.txt", True, kind="model", is_model=_model)


def test_unwritable_places(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for kind in ("file", "directory", "model"):
        with pytest.raises(DataError, match="is a file, not a directory"):
            check_target(blocker / "sub" / "out.npy", kind=kind)

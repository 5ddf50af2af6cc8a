"""Interrupted saves and writes leave the old result (or none) and clean up their temporary files."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

import autolik
from autolik import persist
from autolik.cli.paths import write_atomically

DEAD_PID = 2**22 + 12345  # above the usual pid_max: no such process


@pytest.fixture()
def model_dir(mixed_model, tmp_path):
    path = tmp_path / "m"
    shutil.copytree(mixed_model[0], path)
    return path


def _hidden(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))


def test_leftovers_of_dead_saves_are_removed_and_live_ones_kept(model_dir, tmp_path):
    dead_tmp = tmp_path / f".m.tmp-{DEAD_PID}-abc"
    old_style = tmp_path / ".m.old-xyz"  # names from before pids were recorded
    live = tmp_path / f".m.tmp-{os.getppid()}-def"  # a save still running in another process
    for d in (dead_tmp, old_style, live):
        d.mkdir()
        (d / "weights.safetensors").write_bytes(b"partial")
    autolik.load(model_dir)
    assert _hidden(tmp_path) == [live.name]


def test_an_interrupted_swap_is_restored_on_load(model_dir, tmp_path):
    moved = tmp_path / f".m.old-{DEAD_PID}-q1"
    os.replace(model_dir, moved)  # the save died after moving the old model aside
    model = autolik.load(model_dir)
    assert model_dir.is_dir() and not moved.exists()
    assert model.sample(2).shape == (2, 5)


def test_a_save_interrupted_while_writing_keeps_the_old_model(model_dir, tmp_path, monkeypatch):
    model = autolik.load(model_dir)
    before = {p.name: p.read_bytes() for p in model_dir.iterdir()}

    def interrupted(state, directory):
        raise KeyboardInterrupt

    monkeypatch.setattr(persist, "_save_weights", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.save(model_dir, force=True)
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == before
    assert _hidden(tmp_path) == []


def test_an_interrupted_output_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.npy"
    target.write_bytes(b"old result")
    with pytest.raises(KeyboardInterrupt):
        with write_atomically(target) as tmp:
            np.save(tmp, np.zeros(3))
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old result" and _hidden(tmp_path) == []
    with write_atomically(target) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.arange(3))
    assert np.load(target).tolist() == [0, 1, 2] and _hidden(tmp_path) == []
    assert target.stat().st_mode & 0o777 == 0o666 & ~persist.umask()  # not the 0600 of a temporary file

"""Model directories: save -> load gives identical outputs; loading never runs code from the files;
foreign, damaged and versioned directories fail clearly; nothing is overwritten silently."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

import autolik
from autolik import persist
from autolik.errors import DataError

TINY = dict(hidden=(16,), latent_dim=2, batch_size=64, k=3, quiet=True, epochs=1)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return np.column_stack([rng.poisson(3.0, (150, 3)), np.full(150, 2)]).astype(np.int64)


@pytest.fixture(scope="module")
def fitted(data):
    return autolik.fit(data, **TINY)


def _snapshot(path):
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_save_load_gives_identical_outputs(fitted, data, tmp_path):
    path = fitted.save(tmp_path / "m")
    loaded = autolik.load(path)
    assert np.array_equal(loaded.encode(data), fitted.encode(data))
    assert np.array_equal(loaded.reconstruct(data), fitted.reconstruct(data))
    assert np.array_equal(loaded.sample(9, seed=2), fitted.sample(9, seed=2))
    assert np.array_equal(loaded.score_samples(data), fitted.score_samples(data))
    assert loaded.evaluate(data, k=4) == fitted.evaluate(data, k=4)
    assert loaded.metrics == pytest.approx(fitted.metrics)
    assert loaded.history.val_loss == pytest.approx(fitted.history.val_loss)
    assert loaded.recommendation.likelihood == fitted.recommendation.likelihood
    for name in ("autolik.json", "recommendation.json", "preprocessor.json", "profile.json", "history.json"):
        json.loads((path / name).read_text())  # everything but the tensors is plain JSON
    manifest = json.loads((path / "autolik.json").read_text())
    assert manifest["format"] == persist.FORMAT_NAME and manifest["version"] == persist.FORMAT_VERSION


def test_existing_directory_is_not_overwritten(fitted, tmp_path):
    path = fitted.save(tmp_path / "m")
    before = _snapshot(path)
    with pytest.raises(DataError, match="already exists"):
        fitted.save(path)
    assert _snapshot(path) == before
    fitted.save(path, force=True)
    assert sorted(_snapshot(path)) == sorted(before)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temp dirs left behind"


def test_force_refuses_a_directory_that_is_not_a_model(fitted, tmp_path):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "keep.txt").write_text("precious")
    with pytest.raises(DataError, match="not an autolik model"):
        fitted.save(other, force=True)
    assert (other / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize("make, match", [
    (lambda p: None, "no model directory"),
    (lambda p: p.mkdir(), "not an autolik model"),
    (lambda p: (p.mkdir(), (p / "autolik.json").write_text('{"format": "keras"}')), "format 'keras'"),
    (lambda p: (p.mkdir(), (p / "autolik.json").write_text("{not json")), "not valid JSON"),
])
def test_bad_directories_fail_clearly(tmp_path, make, match):
    path = tmp_path / "m"
    make(path)
    with pytest.raises(DataError, match=match):
        autolik.load(path)


def test_other_format_version_and_damage(fitted, tmp_path):
    path = fitted.save(tmp_path / "m")
    manifest = json.loads((path / "autolik.json").read_text())
    (path / "autolik.json").write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(DataError, match="version 99"):
        autolik.load(path)
    (path / "autolik.json").write_text(json.dumps(manifest))
    (path / "history.json").unlink()
    with pytest.raises(DataError, match="history.json is missing"):
        autolik.load(path)


def test_torch_fallback_loads_weights_only(fitted, data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)  # as if safetensors were not installed
    path = fitted.save(tmp_path / "m")
    assert (path / "weights.pt").is_file()
    assert np.array_equal(autolik.load(path).reconstruct(data), fitted.reconstruct(data))


class _Payload:
    """Unpickling this would create a file: loading must refuse it."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_loading_never_executes_code(fitted, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    path = fitted.save(tmp_path / "m")
    target = tmp_path / "pwned"
    torch.save({"weights": _Payload(str(target))}, path / "weights.pt")
    with pytest.raises(DataError, match="weights.pt: its contents changed"):
        autolik.load(path)  # the manifest's digest catches the swapped file first
    manifest = json.loads((path / "autolik.json").read_text())
    del manifest["files"]  # an attacker who also edits the manifest: weights_only still refuses
    (path / "autolik.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="not a plain tensor file"):
        autolik.load(path)
    assert not target.exists()

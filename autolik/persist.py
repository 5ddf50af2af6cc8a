"""Save and load a fitted model directory without ever executing code from the files.

A model directory holds:

* ``autolik.json``: the manifest: format name and version, the architecture config, training
  options, output information (original dtype and shape, columns left out), metrics, the split;
* ``recommendation.json``, ``preprocessor.json``, ``profile.json``, ``history.json``;
* ``weights.safetensors`` (when the ``safetensors`` package is installed) or ``weights.pt``, a
  plain ``state_dict`` read back with ``torch.load(weights_only=True)``.

Everything but the tensors is JSON, so loading parses data and never unpickles objects. Writing
never silently replaces an existing directory: it is a :class:`~autolik.errors.DataError` unless
``force=True``, and then the new model is written to a temporary directory beside the target and
swapped in, so a crash leaves either the old model or the new one, never half of each.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from autolik.errors import DataError
from autolik.jsonable import jsonable

FORMAT_NAME = "autolik-model"
FORMAT_VERSION = 1
MANIFEST = "autolik.json"
_PARTS = ("recommendation", "preprocessor", "profile", "history")


# --------------------------------------------------------------------------- JSON helpers


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"model directory {path.parent} is incomplete: {path.name} is missing; "
                        "refit and save the model again") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not valid JSON ({e}); the model directory is damaged, refit it") from None


# --------------------------------------------------------------------------- tensors


def _save_weights(state: dict, directory: Path) -> str:
    state = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    try:
        from safetensors.torch import save_file
    except ImportError:
        import torch

        torch.save(state, directory / "weights.pt")
        return "weights.pt"
    save_file(state, str(directory / "weights.safetensors"))
    return "weights.safetensors"


def _load_weights(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"model directory {path.parent} is incomplete: {path.name} is missing; refit the model")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise DataError(f"{path} needs the 'safetensors' package to load; pip install safetensors") from None
        return load_file(str(path))
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses anything but tensors and plain containers
        raise DataError(f"{path} is not a plain tensor file ({type(e).__name__}); refit the model") from None


# --------------------------------------------------------------------------- directories


def is_model_dir(path) -> bool:
    """True when ``path`` is a directory with an autolik manifest."""
    return (Path(path) / MANIFEST).is_file()


def check_writable(path, force: bool = False) -> Path:
    """Refuse to overwrite: raise DataError unless ``path`` is absent, an empty dir, or (force) a model dir."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataError(f"--out {path} is an existing file, expected a directory to create; choose another path")
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise DataError(f"model directory {path} already exists; pass --force (force=True) to replace it, "
                            "or choose another --out")
        if not is_model_dir(path):
            raise DataError(f"{path} exists and is not an autolik model directory; refusing to replace it "
                            "even with --force; choose another --out")
    return path


def write_model_dir(path, manifest: dict, parts: dict, state_dict: dict, force: bool = False) -> Path:
    """Write a model directory atomically (temp dir beside it, then a rename).

    Args:
        path: target directory.
        manifest: JSON-able dict; ``format``/``version``/``weights`` are added here.
        parts: {"recommendation": dict, "preprocessor": dict, "profile": dict, "history": dict}.
        state_dict: the model's tensors.
        force: replace an existing autolik model directory.
    """
    path = check_writable(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        weights = _save_weights(state_dict, tmp)
        for name in _PARTS:
            _write_json(tmp / f"{name}.json", parts.get(name) or {})
        head = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "weights": weights}
        _write_json(tmp / MANIFEST, {**head, **manifest})
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _swap_in(tmp: Path, path: Path) -> None:
    if path.is_dir():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.rmdir(old)
        os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            os.replace(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def read_model_dir(path) -> tuple[dict, dict, dict]:
    """Read and validate a model directory: returns (manifest, parts, state_dict)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no model directory at {path}; pass the --out directory of `autolik fit`")
    if not path.is_dir() or not is_model_dir(path):
        raise DataError(f"{path} is not an autolik model directory (no {MANIFEST}); "
                        "pass a directory written by `autolik fit --out`")
    manifest = _read_json(path / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise DataError(f"{path} holds format {found!r}, expected {FORMAT_NAME!r}; "
                        "pass a directory written by `autolik fit --out`")
    if manifest.get("version") != FORMAT_VERSION:
        raise DataError(f"{path} was written in {FORMAT_NAME} version {manifest.get('version')!r}; this autolik reads "
                        f"version {FORMAT_VERSION}; refit the model with this version")
    parts = {name: _read_json(path / f"{name}.json") for name in _PARTS}
    weights = str(manifest.get("weights", ""))
    if weights not in ("weights.safetensors", "weights.pt"):
        raise DataError(f"{path}/{MANIFEST} names weights file {weights!r}; expected weights.safetensors or weights.pt")
    return manifest, parts, _load_weights(path / weights)


# --------------------------------------------------------------------------- FittedVAE


def save_fitted(fitted, path, force: bool = False) -> Path:
    """Write a :class:`autolik.api.FittedVAE` to the directory ``path``."""
    import autolik

    history = fitted.history.to_dict() if hasattr(fitted.history, "to_dict") else dict(fitted.history or {})
    split = {k: v for k, v in fitted.split.items() if not isinstance(v, np.ndarray)}
    manifest = {
        "autolik_version": autolik.__version__,
        "architecture": fitted.model.config(),
        "training": fitted.config,
        "output": fitted.output.to_dict(),
        "lattice": bool(fitted.lattice),
        "metrics": fitted.metrics,
        "split": split,
    }
    parts = {"recommendation": fitted.recommendation.to_dict(), "preprocessor": fitted.preprocessor.to_dict(),
             "profile": fitted.profile, "history": history}
    return write_model_dir(path, manifest, parts, fitted.model.state_dict(), force=force)


def _history(d: dict):
    from dataclasses import fields

    from autolik.train import History

    names = {f.name for f in fields(History)}
    try:
        return History(**{k: v for k, v in d.items() if k in names})
    except TypeError:  # a field missing: keep the plain dict rather than fail to load the weights
        return d


def load_fitted(path):
    """Rebuild a :class:`autolik.api.FittedVAE` from a model directory (JSON + tensors only)."""
    from autolik.analysis.recommend import Recommendation
    from autolik.api import FittedVAE
    from autolik.model import VAE
    from autolik.outputs import OutputSpec
    from autolik.transforms import Preprocessor

    manifest, parts, state = read_model_dir(path)
    try:
        rec = Recommendation.from_dict(parts["recommendation"])
        model = VAE.from_config(manifest["architecture"], rec.likelihood_module())
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise DataError(f"weights in {path} do not match the architecture (missing {list(missing)[:3]}, "
                            f"unexpected {list(unexpected)[:3]}); the directory is damaged, refit the model")
        output = OutputSpec.from_dict(manifest["output"])
        pre = Preprocessor.from_dict(parts["preprocessor"])
    except (KeyError, TypeError, RuntimeError) as e:
        raise DataError(f"{path} is a damaged autolik model directory ({type(e).__name__}: {e}); refit the model") from None
    model.eval()
    return FittedVAE(recommendation=rec, preprocessor=pre, model=model, history=_history(parts["history"]),
                     metrics=manifest.get("metrics") or {}, profile=parts["profile"], output=output,
                     lattice=bool(manifest.get("lattice")), config=manifest.get("training") or {},
                     split=manifest.get("split") or {})

"""Save and load a fitted model directory without ever executing code from the files.

A model directory holds:

* ``autolik.json``: the manifest: format name and version, the architecture config, training
  options, output information (original dtype and shape, columns left out), metrics, the split;
* ``recommendation.json``, ``preprocessor.json``, ``profile.json``, ``history.json``;
* ``weights.safetensors`` (when the ``safetensors`` package is installed) or ``weights.pt``, a
  plain ``state_dict`` read back with ``torch.load(weights_only=True)``.

Everything but the tensors is JSON, so loading parses data and never unpickles objects. Loading
checks every field against the schema of the format version (:mod:`autolik.schema`), the
files against the SHA-256 digests the manifest records, and the tensors' names, shapes and
finiteness against the rebuilt architecture; any damage is one :class:`~autolik.errors.DataError`
line naming the file and the field.

Writing never silently replaces an existing directory: it is a DataError unless ``force=True``,
and then the new model is written to a temporary directory beside the target
(``.NAME.tmp-PID-*``) and swapped in (the old one moved to ``.NAME.old-PID-*`` first), so a
crash leaves either the old model or the new one, never half of each. Leftovers of an
interrupted save (their process gone) are cleaned up, and an interrupted swap restored, the next
time that directory is saved or loaded.

A fit in progress keeps its checkpoint in ``DIR/checkpoint/`` (:mod:`autolik.checkpoint`), which
no model file refers to: a directory holding only a checkpoint is an unfinished fit (loading it
says so and how to finish it; a save may replace it), and a save normally replaces the checkpoint
with the rest of the directory (``keep_checkpoint``: a fit stopped by a signal keeps it).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from autolik import schema
from autolik.errors import DataError
from autolik.jsonable import jsonable
from autolik.outputs_guard import check_target

FORMAT_NAME = "autolik-model"
FORMAT_VERSION = 1
MANIFEST = "autolik.json"
_PARTS = ("recommendation", "preprocessor", "profile", "history")
WEIGHT_FILES = ("weights.safetensors", "weights.pt")


# --------------------------------------------------------------------------- JSON helpers


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"model directory {path.parent} is incomplete: {path.name} is missing; "
                        "refit and save the model again") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise schema.damaged(path.parent, path.name, "", f"not valid JSON ({e})") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        try:
            state = load_file(str(path))
        except Exception as e:  # safetensors raises its own error type for truncated or garbled files
            raise schema.damaged(path.parent, path.name, "", f"not a readable safetensors file ({e})") from None
    else:
        import torch

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # weights_only refuses anything but tensors and plain containers
            raise DataError(f"{path} is not a plain tensor file ({type(e).__name__}); refit the model") from None
    import torch

    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise schema.damaged(path.parent, path.name, "", "expected a mapping of tensor names to tensors")
    return state


# --------------------------------------------------------------------------- directories


def is_model_dir(path) -> bool:
    """True when ``path`` is a directory with an autolik manifest."""
    return (Path(path) / MANIFEST).is_file()


def check_writable(path, force: bool = False) -> Path:
    """Refuse to overwrite (:func:`autolik.outputs_guard.check_target`): ``path`` must be absent, an empty
    directory, or (with ``force``) an autolik model directory or an unfinished fit's checkpoint
    (:mod:`autolik.checkpoint`), in a place that can be written. Without ``force`` a checkpoint is
    named, with the ``--resume`` that finishes it."""
    from autolik import checkpoint

    path = Path(path)
    if not force and path.is_dir() and checkpoint.exists(path):
        if checkpoint.only_checkpoint(path):
            raise DataError(f"{path} holds {checkpoint.describe(path)}; pass --resume to finish it, "
                            "or --force to start over")
        raise DataError(f"model directory {path} already exists with {checkpoint.describe(path)} "
                        "(--resume --force finishes that fit); pass --force (force=True) to replace it, "
                        "or choose another --out")
    return check_target(path, force, kind="model",
                        is_model=lambda p: is_model_dir(p) or checkpoint.only_checkpoint(p))


def umask() -> int:
    """The process's file-creation mask (temporary files and directories are private; results get the usual mode)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _leftovers(path: Path) -> list[Path]:
    """Temporary directories of saves of ``path`` whose process is gone (or unknown: older names)."""
    out = []
    for kind in ("tmp", "old"):
        for p in path.parent.glob(f".{path.name}.{kind}-*"):
            pid = p.name[len(f".{path.name}.{kind}-"):].split("-", 1)[0]
            if p.is_dir() and not (pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid))):
                out.append(p)
    return out


def clean_leftovers(path) -> None:
    """Finish what an interrupted save of ``path`` left behind.

    A swap interrupted after the old model was moved aside leaves no ``path`` and an
    ``.NAME.old-*`` model: it is moved back. Every other leftover temporary directory is removed.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return
    try:
        stale = _leftovers(path)
        if not path.exists():
            olds = sorted((p for p in stale if ".old-" in p.name and (is_model_dir(p) or _checkpoint_exists(p))),
                          key=lambda p: p.stat().st_mtime)
            if olds:
                os.replace(olds[-1], path)
                stale.remove(olds[-1])
    except OSError:  # best effort: a read-only place (shared models) is loaded as it is
        return
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)


def _checkpoint_exists(path: Path) -> bool:
    from autolik import checkpoint

    return checkpoint.exists(path)


def _only_checkpoint(path: Path) -> bool:
    from autolik import checkpoint

    return checkpoint.only_checkpoint(path)


def _temp_dir(path: Path, kind: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f".{path.name}.{kind}-{os.getpid()}-", dir=path.parent))


def write_model_dir(path, manifest: dict, parts: dict, state_dict: dict, force: bool = False,
                    carry: tuple = ()) -> Path:
    """Write a model directory atomically (temp dir beside it, then a rename).

    Args:
        path: target directory.
        manifest: JSON-able dict; ``format``/``version``/``weights`` are added here.
        parts: {"recommendation": dict, "preprocessor": dict, "profile": dict, "history": dict}.
        state_dict: the model's tensors.
        force: replace an existing autolik model directory.
        carry: subdirectories of the existing ``path`` copied into the new one (the checkpoint a fit
            stopped by a signal keeps; copied, not moved, so a crash mid-save loses nothing).
    """
    path = check_writable(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(path)
    tmp = _temp_dir(path, "tmp")
    try:
        for name in carry:
            if (path / name).is_dir():
                shutil.copytree(path / name, tmp / name)
        weights = _save_weights(state_dict, tmp)
        for name in _PARTS:
            _write_json(tmp / f"{name}.json", parts.get(name) or {})
        files = {name: _sha256(tmp / name) for name in (weights, *(f"{p}.json" for p in _PARTS))}
        head = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "weights": weights}
        _write_json(tmp / MANIFEST, {**head, **manifest, "files": files})
        os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes it private; a model directory gets the usual mode
        for f in tmp.iterdir():
            os.chmod(f, 0o666 & ~umask())
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _swap_in(tmp: Path, path: Path) -> None:
    if not path.is_dir():
        os.replace(tmp, path)
        return
    old = _temp_dir(path, "old")
    os.rmdir(old)
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(old, path)
        raise
    finally:
        if path.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def read_model_dir(path) -> tuple[dict, dict, dict]:
    """Read and validate a model directory: returns (manifest, parts, state_dict).

    Checks, in order: the manifest's format and version, every JSON file against the schema of
    that version, the fields' relations, the files against the manifest's SHA-256 digests.
    """
    path = Path(path)
    clean_leftovers(path)
    if not path.exists():
        raise DataError(f"no model directory at {path}; pass the --out directory of `autolik fit`")
    if path.is_dir() and not is_model_dir(path) and (_checkpoint_exists(path) or _only_checkpoint(path)):
        from autolik.checkpoint import unfinished

        raise DataError(unfinished(path))
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
    schema.check_files(path, {MANIFEST: manifest, **{f"{k}.json": v for k, v in parts.items()}},
                       FORMAT_VERSION, WEIGHT_FILES)
    schema.check_relations(path, manifest, parts)
    weights = manifest["weights"]
    _check_digests(path, manifest.get("files"), weights)
    return manifest, parts, _load_weights(path / weights)


def _check_digests(path: Path, digests: dict | None, weights: str) -> None:
    """Every file the manifest lists must be there and unchanged (models saved before digests skip this)."""
    if digests is None:
        return
    for name in (weights, *(f"{p}.json" for p in _PARTS)):
        if name not in digests:
            raise schema.damaged(path, MANIFEST, f"files.{name}", "is missing")
        if not (path / name).is_file():
            raise DataError(f"model directory {path} is incomplete: {name} is missing; refit the model")
        if _sha256(path / name) != digests[name]:
            raise schema.damaged(path, name, "", "its contents changed after the model was saved (the SHA-256 "
                                 f"digest differs from the one {MANIFEST} records)")


# --------------------------------------------------------------------------- FittedVAE


def save_fitted(fitted, path, force: bool = False, keep_checkpoint: bool = False) -> Path:
    """Write a :class:`autolik.fitted.FittedVAE` to the directory ``path`` (``keep_checkpoint``: with the
    checkpoint already there, which a save otherwise replaces with the rest of the directory)."""
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
    from autolik.checkpoint import CHECKPOINT_DIR

    return write_model_dir(path, manifest, parts, fitted.model.state_dict(), force=force,
                           carry=(CHECKPOINT_DIR,) if keep_checkpoint else ())


def _history(d: dict):
    from dataclasses import fields

    from autolik.train import History

    names = {f.name for f in fields(History)}
    try:
        return History(**{k: v for k, v in d.items() if k in names})
    except TypeError:  # a field missing: keep the plain dict rather than fail to load the weights
        return d


def read_fitted(path) -> dict:
    """The constructor arguments of a :class:`autolik.fitted.FittedVAE`, read from a model directory
    (JSON + tensors only); :func:`autolik.fitted.load_fitted` builds it from them."""
    manifest, parts, state = read_model_dir(path)
    rec, model, output, pre = _rebuild(Path(path), manifest, parts)
    schema.check_weights(path, manifest["weights"], state, model.state_dict())
    model.load_state_dict(state)
    model.eval()
    return dict(recommendation=rec, preprocessor=pre, model=model, history=_history(parts["history"]),
                metrics=manifest.get("metrics") or {}, profile=parts["profile"], output=output,
                lattice=bool(manifest.get("lattice")), config=manifest.get("training") or {},
                split=manifest.get("split") or {})


def _rebuild(path: Path, manifest: dict, parts: dict):
    """The Recommendation, the (untrained) VAE, the OutputSpec and the Preprocessor the files describe."""
    from autolik.analysis.recommendation.recommend import Recommendation
    from autolik.model import VAE
    from autolik.outputs import OutputSpec
    from autolik.transforms import Preprocessor

    try:
        rec = Recommendation.from_dict(parts["recommendation"])
        likelihood = rec.likelihood_module()
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # options a likelihood refuses
        raise schema.damaged(path, "recommendation.json", "features", f"the likelihood cannot be built from it "
                             f"({type(e).__name__}: {e})") from None
    arch = manifest["architecture"]
    for key, have in (("n_inputs", getattr(likelihood, "n_columns", likelihood.n_features)),
                      ("n_raw", likelihood.n_raw)):
        if arch[key] != have:
            raise schema.damaged(path, MANIFEST, f"architecture.{key}", f"expected {have} (what the likelihood in "
                                 f"recommendation.json needs), found {arch[key]}")
    try:
        model = VAE.from_config(arch, likelihood)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # e.g. 'conv' without a matching image shape
        raise schema.damaged(path, MANIFEST, "architecture", f"the network cannot be built from it ({e})") from None
    return rec, model, OutputSpec.from_dict(manifest["output"]), Preprocessor.from_dict(parts["preprocessor"])

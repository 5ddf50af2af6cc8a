"""Checkpoints of a fit in progress, so ``autolik fit --out DIR`` survives being killed (``--resume``).

The checkpoint lives in ``DIR/checkpoint/``, beside (or before) the model files, and is never read
as a model: ``sample``, ``evaluate`` and ``load`` on a directory that holds only a checkpoint say it
is an unfinished fit and how to finish it. It holds

* ``checkpoint.json``: format and version, the epoch, the name and SHA-256 of the tensor file,
  the data file's SHA-256, the fit's settings, the recommendation, the architecture, the split,
  and the loop's counters (best validation loss and epoch, epochs without improvement, steps,
  the losses so far, seconds trained);
* ``state-<epoch>.safetensors`` (or ``.pt``, plain tensors read with ``weights_only=True``): the
  weights (``model.*``), the best weights so far (``best.*``), Adam's moments (``optim.*``) and the
  random streams (``rng.torch``, ``rng.shuffle``; ``rng.cuda`` on a GPU), so a resumed run draws
  the same batches, noise and posterior samples as an uninterrupted one and ends with the same weights.

Writing is atomic without a directory swap: the tensor file under its own name (temporary file,
then ``os.replace``), then ``checkpoint.json`` naming it (the commit point, written the same way),
then older tensor files are removed; a crash at any moment leaves a ``checkpoint.json`` whose tensor
file is complete. Nothing is pickled: everything but the tensors is JSON.

A checkpoint is written at the end of an epoch at most every ``AUTOLIK_CHECKPOINT_SECONDS``
(default 30) and at least ``WRITE_SHARE`` times the last write's duration apart, so neither short
epochs nor a large model's slow writes cost more than a few percent (0: every epoch, whatever
it costs); a stop signal writes the last completed epoch. The first comes that long after
training starts, so fits shorter than that write none.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from autolik import schema
from autolik.environment import env_number
from autolik.errors import DataError, UsageError
from autolik.jsonable import jsonable

CHECKPOINT_DIR = "checkpoint"
MANIFEST = "checkpoint.json"
FORMAT_NAME = "autolik-checkpoint"
FORMAT_VERSION = 1
DEFAULT_SECONDS = 30.0
WRITE_SHARE = 20  # the time between writes is at least this many times the last write's duration


def interval_seconds() -> float:
    """Seconds between checkpoints: ``$AUTOLIK_CHECKPOINT_SECONDS`` (0: every epoch), default 30."""
    return env_number("AUTOLIK_CHECKPOINT_SECONDS", DEFAULT_SECONDS, "seconds")


def location(out) -> Path:
    """The checkpoint directory of the model directory ``out``."""
    return Path(out) / CHECKPOINT_DIR


def exists(out) -> bool:
    """True when ``out`` holds a checkpoint (finished model or not)."""
    return (location(out) / MANIFEST).is_file()


def only_checkpoint(out) -> bool:
    """True when ``out`` is a directory whose only entry is a checkpoint directory: an unfinished first fit
    (complete or not: a run killed during its first write leaves no checkpoint.json, and --force must still
    be able to start over)."""
    out = Path(out)
    return out.is_dir() and location(out).is_dir() and [p.name for p in out.iterdir()] == [CHECKPOINT_DIR]


def summary(out) -> dict:
    """What the checkpoint's JSON says about itself (epoch, epochs, data file), for messages; {} if unreadable."""
    try:
        saved = json.loads((location(out) / MANIFEST).read_text(encoding="utf-8"))
        return {"epoch": int(saved["epoch"]), "epochs": int(saved["settings"]["epochs"]),
                "data": str(saved["data"]["path"])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def describe(out) -> str:
    """``the checkpoint of an unfinished fit (after epoch 6 of 40)``, for messages."""
    if not exists(out):
        return "the incomplete checkpoint of a fit killed while writing its first one"
    info = summary(out)
    when = f" (after epoch {info['epoch']} of {info['epochs']})" if info else ""
    return f"the checkpoint of an unfinished fit{when}"


def unfinished(out) -> str:
    """The one-line error for reading ``out`` as a model while it holds only a checkpoint: what it is and
    how to finish it."""
    if not exists(out):
        return f"{out} holds {describe(out)}, not a model; start over with `autolik fit FILE --out {out} --force`"
    data = summary(out).get("data", "FILE")
    return (f"{out} holds {describe(out)}, not a model yet; run `autolik fit {data} --out {out} --resume` "
            "to finish it")


def file_digest(path) -> str:
    """SHA-256 of a file's bytes, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def damaged(out, where: str, problem: str) -> DataError:
    """The one-line error for a checkpoint that cannot be read."""
    field = f" field {where}" if where else ""
    return DataError(f"the checkpoint in {location(out)} is damaged: {MANIFEST}{field}: {problem}; start over "
                     f"with `autolik fit FILE --out {out} --force`")


def _spec() -> schema.Record:
    S = schema
    train = S.Record({"epoch": S.Int(1), "best_val": S.Num(), "best_epoch": S.Int(1), "wait": S.Int(0),
                      "step": S.Int(0), "samples": S.Int(0), "step_seconds": S.Num(lo=0), "seconds": S.Num(lo=0),
                      "train_loss": S.List(S.Num(), min_len=1), "val_loss": S.List(S.Num(), min_len=1)})
    return S.Record({
        "format": S.Choice((FORMAT_NAME,)), "version": S.Choice((FORMAT_VERSION,)), "epoch": S.Int(1),
        "state": S.Record({"file": S.Str(nonempty=True), "sha256": S.Str(nonempty=True)}),
        "data": S.Record({"path": S.Str(), "sha256": S.Str(nonempty=True)}), "settings": S.Map(),
        "recommendation": S._recommendation(), "architecture": S._architecture(),
        "split": S.Record({"seed": S.Int(0), "n_samples": S.Int(1)}), "train": train, "log": S.Maybe(S.Str()),
    })


# --------------------------------------------------------------------------- files


@contextlib.contextmanager
def _atomic(path: Path, mode: int | None = None):
    """Yield a temporary path beside ``path``; it replaces ``path`` (given ``mode``, else private) on success
    and is removed on failure."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _save_tensors(tensors: dict, directory: Path, epoch: int) -> str:
    """Write the tensors to ``state-<epoch>`` (safetensors when installed, else plain torch.save); its name."""
    import torch

    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    seen = set()
    for k, v in tensors.items():  # the best weights are often this epoch's: safetensors stores no shared memory
        if v.numel() and v.data_ptr() in seen:
            tensors[k] = v.clone()
        seen.add(v.data_ptr())
    try:
        from safetensors.torch import save_file
    except ImportError:
        name = f"state-{epoch:06d}.pt"
        with _atomic(directory / name) as tmp:
            torch.save(tensors, tmp)
        return name
    name = f"state-{epoch:06d}.safetensors"
    with _atomic(directory / name) as tmp:
        save_file(tensors, str(tmp))
    return name


def _load_tensors(out, path: Path) -> dict:
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except ImportError:
        raise DataError(f"{path} needs the 'safetensors' package to load; pip install safetensors") from None
    except Exception as e:  # truncated or garbled files; weights_only refuses anything but plain tensors
        raise damaged(out, "state.file", f"{path.name} is not a readable tensor file ({type(e).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise damaged(out, "state.file", f"{path.name} is not a mapping of tensor names to tensors")
    return state


def load(out) -> dict:
    """Read and check the checkpoint in ``out``: its JSON (with ``"tensors"`` added, the tensor file's contents).

    DataError (one line) when it is missing a file, fails its schema, or the tensor file's digest differs.
    """
    directory = location(out)
    try:
        saved = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--resume: {out} holds no checkpoint of an unfinished fit; run without --resume "
                         "to start one") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise damaged(out, "", f"not valid JSON ({e})") from None
    try:
        _spec().check(saved, "")
    except schema.Invalid as e:
        raise damaged(out, e.where, e.problem) from None
    state = directory / saved["state"]["file"]
    if Path(saved["state"]["file"]).name != saved["state"]["file"] or not state.is_file():
        raise damaged(out, "state.file", f"{saved['state']['file']!r} is not a file in {directory}")
    if file_digest(state) != saved["state"]["sha256"]:
        raise damaged(out, "state.sha256", f"{state.name} changed after the checkpoint was written")
    tensors = _load_tensors(out, state)
    missing = [k for k in ("rng.torch", "rng.shuffle") if k not in tensors]
    if missing or not any(k.startswith("model.") for k in tensors):
        raise damaged(out, "state.file", f"{state.name} lacks {missing[0] if missing else 'the model weights'}")
    return {**saved, "tensors": tensors}


# --------------------------------------------------------------------------- the writer


class Checkpointer:
    """Writes the checkpoints of one fit into ``out/checkpoint/``; :func:`autolik.train.train` calls it.

    Args:
        out: the model directory the fit will save to.
        data: the data file (its SHA-256 ties the checkpoint to it).
        settings: the fit's options that shape the model and its training (JSON-able), checked on resume.
        resume: continue the checkpoint in ``out`` (read and checked here) instead of starting over.
        log: the ``--log`` file, recorded so that a resumed run may continue it.
        interval: seconds between checkpoints (default :func:`interval_seconds`).
        writer: False for the processes of a data-parallel run other than rank 0: they read and check a
            checkpoint to resume from, and never write or remove one.

    The training loop calls :meth:`epoch_end` with the state after every epoch that training goes on
    from, and :meth:`stopped` when a signal stops it; :attr:`resume_state` is the state to start from.
    """

    def __init__(self, out, data, settings: dict, resume: bool = False, log: str | None = None,
                 interval: float | None = None, writer: bool = True):
        self.out, self.dir, self.data, self.writer = Path(out), location(out), Path(data), bool(writer)
        self.settings, self.log = jsonable(settings), (str(Path(log).resolve()) if log else None)
        self.interval = interval_seconds() if interval is None else float(interval)
        self.saved = load(out) if resume else None
        self.resume_state = ({"meta": self.saved["train"], "tensors": self.saved["tensors"]}
                             if self.saved else None)
        self._digest = None
        self._context: dict | None = None
        self._held, self._written = None, 0
        self._last_write, self._write_cost = time.monotonic(), 0.0
        self.writes, self.write_seconds = 0, 0.0

    @property
    def resuming(self) -> bool:
        return self.saved is not None

    def data_digest(self) -> str:
        """The data file's SHA-256 (read once, when first needed)."""
        if self._digest is None:
            self._digest = file_digest(self.data)
        return self._digest

    def check_data(self) -> None:
        """DataError unless the data file is the one the checkpoint was trained on."""
        if self.saved and self.data_digest() != self.saved["data"]["sha256"]:
            raise DataError(f"{self.data} is not the data the checkpoint in {self.out} was trained on "
                            f"({self.saved['data']['path']}, whose SHA-256 differs); resume with that file, "
                            "or start over with --force and without --resume")

    def recommendation(self):
        """The Recommendation the checkpointed fit was built from (a resumed fit does not choose again)."""
        from autolik.analysis.recommendation.recommend import Recommendation

        try:
            return Recommendation.from_dict(self.saved["recommendation"])
        except (KeyError, TypeError, ValueError) as e:
            raise damaged(self.out, "recommendation", f"cannot be read ({e})") from None

    def bind(self, recommendation, model, split: dict) -> None:
        """``split``: ``{"seed", "n_samples"}``. Record what rebuilds the model (a fresh fit: and remove a replaced run's checkpoint); a resumed
        fit: check that the model built now is the checkpoint's, tensor for tensor."""
        self._context = {"recommendation": recommendation.to_dict(), "architecture": model.config(),
                         "split": dict(split)}
        if not self.saved:
            if self.writer:
                shutil.rmtree(self.dir, ignore_errors=True)  # --force: the old run's checkpoint goes with it
            return
        if self._context["architecture"] != self.saved["architecture"]:
            raise damaged(self.out, "architecture", "does not match the network these settings build")
        if jsonable(self._context["split"]) != self.saved["split"]:
            raise damaged(self.out, "split", f"expected {self._context['split']}, found {self.saved['split']}")
        expected = model.state_dict()
        for prefix in ("model.", "best."):
            got = {k[len(prefix):]: v for k, v in self.saved["tensors"].items() if k.startswith(prefix)}
            schema.check_weights(self.dir, self.saved["state"]["file"], got, expected)

    def epoch_end(self, state: dict) -> None:
        """Hold the state after an epoch; write it when the interval (and the write-cost share) has passed."""
        if not self.writer:
            return
        self._held = state
        gap = max(self.interval, WRITE_SHARE * self._write_cost) if self.interval > 0 else 0.0
        if time.monotonic() - self._last_write >= gap:
            self.write()

    def stopped(self) -> None:
        """A stop signal: write the last completed epoch's state if it is newer than the last written."""
        if self.writer and self._held is not None and self._held["meta"]["epoch"] > self._written:
            self.write()

    def write(self) -> None:
        """Write the held state: tensor file, then checkpoint.json (the commit point), then remove older files."""
        t0 = time.monotonic()
        meta, epoch = self._held["meta"], int(self._held["meta"]["epoch"])
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            name = _save_tensors(self._held["tensors"], self.dir, epoch)
            record = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "epoch": epoch,
                      "state": {"file": name, "sha256": file_digest(self.dir / name)},
                      "data": {"path": str(self.data), "sha256": self.data_digest()}, "settings": self.settings,
                      **self._context, "train": meta, "log": self.log}
            with _atomic(self.dir / MANIFEST) as tmp:
                tmp.write_text(json.dumps(jsonable(record), indent=1, allow_nan=False) + "\n", encoding="utf-8")
        except OSError as e:
            raise DataError(f"could not write the checkpoint to {self.dir} ({e.strerror or e}); free some space "
                            "or choose another --out") from None
        for old in self.dir.glob("state-*"):
            if old.name != name:
                with contextlib.suppress(OSError):
                    old.unlink()
        self._written = epoch
        self._last_write = time.monotonic()
        self._write_cost = self._last_write - t0
        self.writes += 1
        self.write_seconds += self._write_cost


def trim_log(path, epoch: int) -> None:
    """Keep the lines of a ``--log`` file up to ``epoch`` (a resumed run continues it from there), atomically."""
    path = Path(path)
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if int(json.loads(line)["epoch"]) <= epoch:
                keep.append(line)
        except (ValueError, KeyError, TypeError):
            break
    with _atomic(path, mode=path.stat().st_mode & 0o777) as tmp:
        tmp.write_text("".join(f"{line}\n" for line in keep), encoding="utf-8")

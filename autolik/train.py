"""The training loop: Adam on mini-batches of the negative ELBO, early stopping, KL warm-up, NaN guard.

Data arrive in ORIGINAL units; every batch is mapped to model space by the preprocessor with
fresh dequantisation noise (so a continuous likelihood on lattice data is trained on the
dequantised density, Theis et al., 2016). The validation split is dequantised once with a fixed
seed and scored with fixed posterior noise, so its loss moves only when the weights do.

With a :class:`autolik.checkpoint.Checkpointer` the loop hands over its whole state after an epoch
(weights, Adam's moments, best weights, counters, random streams) and can start from one, so a
resumed run continues exactly where an uninterrupted one would be.

The loop is kept lean (one float64 tensor of the training data made once, no per-batch host
syncs beyond the finiteness check on CPU) so its throughput stays close to a bare PyTorch loop.
Where the batches come from is outside the loop's step: the training rows it indexes may instead be
a :class:`autolik.batches.RowSource` (a memory-mapped file read a block-shuffled group at a time,
never copied whole) or one process's share of a data-parallel run (:mod:`autolik.distributed`,
which also wraps the model in DDP); the loop asks :func:`autolik.batches.epoch_order` for each
epoch's order and calls ``x[idx]`` either way.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from autolik import interrupt
from autolik.batches import ModelSpaceRows, RowSource, ValidationRows, epoch_order
from autolik.errors import DataError, UsageError
from autolik.progress import Progress
from autolik.transforms import Preprocessor

CUDA_CHECK_EVERY = 50  # on a GPU, test the loss for NaN every this many batches (avoids syncs)


SMALL_STEP = 2e7  # weights x batch rows below which one thread trains faster than several


def cpu_threads(work: float | None = None) -> int:
    """Torch threads for training on the CPU: ``$AUTOLIK_THREADS`` if set; else one thread for a small
    network (``work`` = weights x batch rows below ``SMALL_STEP``: a table MLP, whose matrix products
    are too small to split, and whose threads only contend), else every core we may use (divided
    among the processes of a data-parallel run on this machine)."""
    env = os.environ.get("AUTOLIK_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise UsageError(f"AUTOLIK_THREADS must be a whole number >= 1, got {env!r}; unset it to use every core")
        return int(env)
    if work is not None and work < SMALL_STEP:
        return 1
    from autolik.distributed import per_process_threads

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return per_process_threads(cores)  # torchrun's processes on this machine share its cores


LIKELIHOOD_LR_FACTOR = 10.0
INIT_ROWS = 256  # rows used to start the decoder's output at the data's marginal


def make_adam(groups: list[dict], lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam with its fused kernel where torch has one (CPU and CUDA, floating parameters): one pass
    over all parameters instead of a Python loop over tensors, which on a table MLP costs more than
    the forward and backward passes together (benchmarks/bench_train.py). Same update rule; the
    for-loop implementation elsewhere."""
    params = [p for g in groups for p in g["params"]]
    if device.type in ("cpu", "cuda") and all(p.is_floating_point() for p in params):
        try:
            return torch.optim.Adam(groups, lr=lr, fused=True)
        except (RuntimeError, ValueError):  # a build or dtype without the fused kernel
            pass
    return torch.optim.Adam(groups, lr=lr)


def _param_groups(model, lr: float) -> list[dict]:
    """Adam groups: the likelihood's own learned parameters (a shared or per-feature scale,
    dispersion, degrees of freedom) move LIKELIHOOD_LR_FACTOR times faster than the networks.

    Adam moves each raw parameter by about ``lr`` per step whatever its gradient, so a scale that
    starts at 1 (the whole range of [0,1] data) and belongs at 0.05 would need thousands of steps
    at the networks' learning rate; the network weights need the small rate, these few numbers do not.
    """
    own = [p for p in getattr(model, "likelihood", torch.nn.Module()).parameters() if p.requires_grad]
    own_ids = {id(p) for p in own}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in own_ids]
    groups = [{"params": rest, "lr": lr}]
    if own:
        groups.append({"params": own, "lr": lr * LIKELIHOOD_LR_FACTOR})
    return groups


@dataclass
class TrainConfig:
    """Options of :func:`train`.

    Attributes:
        epochs: maximum passes over the training data.
        batch_size: samples per mini-batch.
        lr: Adam learning rate.
        patience: stop after this many epochs without a better validation loss (0: never).
        min_steps: early stopping counts only after this many optimisation steps, so that small
            data (a few batches per epoch, a noisy validation loss) is not stopped near its start.
        kl_warmup_epochs: the KL weight rises linearly from 0 to 1 over this many epochs
            (Bowman et al., 2016; Sønderby et al., 2016); 0 disables warm-up.
        clip_grad_norm: clip the global gradient norm to this value (None: no clipping).
        seed: seeds shuffling, dequantisation noise and posterior samples.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        max_seconds: wall-clock budget; training stops (keeping the best weights) when exceeded.
        quiet: no progress line on stderr.
        init_output_bias: first fit the decoder's output bias to the data's marginal
            (:meth:`autolik.model.VAE.fit_output_bias`), so every family starts where it belongs.
        log: a file that receives one JSON line per completed epoch (``epoch``, ``train_loss``,
            ``val_loss``, ``best_epoch``, ``seconds``), written as training goes, for plotting.
    """

    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    patience: int = 10
    min_steps: int = 1000
    kl_warmup_epochs: int = 0
    clip_grad_norm: float | None = 100.0
    seed: int = 0
    device: str = "auto"
    max_seconds: float | None = None
    quiet: bool = False
    init_output_bias: bool = True
    log: str | None = None


@dataclass
class History:
    """What happened during training.

    Attributes:
        train_loss: per epoch, mean negative ELBO (with the warm-up KL weight) over training batches.
        val_loss: per epoch, mean negative ELBO on the validation split (model-space nats per sample).
        best_epoch: 1-based epoch whose weights the model holds after training (0: none).
        epochs_run: epochs started.
        stopped_reason: why training stopped, one sentence.
        train_seconds: wall-clock seconds of the whole call.
        samples_per_second: training samples processed per second of optimisation steps.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    epochs_run: int = 0
    stopped_reason: str = ""
    train_seconds: float = 0.0
    samples_per_second: float = 0.0
    interrupted: str | None = None  # "SIGINT" / "SIGTERM" when a signal stopped the run (autolik.interrupt)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU. An unknown or unavailable device is a UsageError."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise UsageError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {name!r} was asked for but no CUDA GPU is available; use --device cpu or auto")
    return dev


def as_data_tensor(x: np.ndarray, n_columns: int, what: str) -> torch.Tensor:
    """(n, n_columns) float64 CPU tensor of x, checked: 2-D, right width, no infinities.

    A scipy.sparse x gives a :class:`autolik.io.sparse.SparseRows` instead: indexed by rows it
    returns dense float64 tensors, so only a mini-batch is ever dense; a
    :class:`autolik.batches.RowSource` (rows read from the file) is checked for its width and
    passed as it is (its batches are checked for infinities as they are read)."""
    if isinstance(x, RowSource):
        if x.shape[1] != n_columns:
            raise DataError(f"{what} must have {n_columns} columns, got {x.shape[1]}; pass only the columns the model uses")
        return x
    if type(x).__module__.startswith("scipy.sparse"):
        from autolik.io.sparse import check_rows

        return check_rows(x, n_columns, what)
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != n_columns:
        raise DataError(f"{what} must have shape (n_samples, {n_columns}), got {arr.shape}; "
                        "pass only the columns the model uses")
    if np.isinf(arr).any():
        raise DataError(f"{what} holds infinite values; replace them with NaN (missing) or finite numbers")
    return torch.from_numpy(np.ascontiguousarray(arr))


def validation_rows(pre: Preprocessor, x_val, x_train, n_columns: int, seed: int, device, dtype):
    """The validation rows in model space, dequantised with ``seed``: a tensor made once (in-memory and
    sparse data), or, when the training rows are read from the file, a
    :class:`autolik.batches.ValidationRows` that reads and dequantises them a unit at a time."""
    xv = as_data_tensor(x_val, n_columns, "x_val") if x_val is not None else x_train[:0]
    if isinstance(xv, RowSource):
        return ValidationRows(xv, pre, seed, device, dtype)
    xv = xv.dense() if hasattr(xv, "dense") else xv  # sparse: the validation rows, made dense once
    return pre.forward(xv, dequantize=True, generator=torch.Generator().manual_seed(seed)).to(device, dtype)


def _validation(loop, model, seed: int) -> float:
    """The validation loss of the loop's validation rows: a tensor's by :func:`validation_loss`, rows read
    from a file (or one process's share of them) by their own ``validation_loss``."""
    own = getattr(loop.y_val, "validation_loss", None)
    return own(model, 4 * loop.bs, seed) if own is not None else validation_loss(model, loop.y_val, 4 * loop.bs, seed)


def _data_parallel(loop, world, deadline):
    """Where the loop's batches come from, once it is set up: rows read from a file are mapped (by the
    reading thread, a group at a time) and dequantised as the in-memory rows are
    (:class:`autolik.batches.ModelSpaceRows`: the same numbers);
    under data-parallel training the loop becomes this process's share of the run
    (:meth:`autolik.distributed.World.attach`: its rows of each global batch, DDP). Returns what the
    epoch compares the clock with (under DDP, the processes' agreed answer; else the deadline)."""
    if isinstance(loop.x, RowSource):
        loop.x.model_space(loop.pre)  # its reading thread maps each group: a batch is then a gather, as in memory
        loop.pre = ModelSpaceRows(loop.pre, mapped=True)
    return deadline if world is None else world.attach(loop, deadline)


def _release(loop, world) -> None:
    """Undo :func:`_data_parallel` and stop the file readers' threads."""
    if world is not None:
        world.detach(loop)
    loop.pre = getattr(loop.pre, "pre", loop.pre)
    for rows in (loop.x, getattr(loop.y_val, "source", None)):
        close = getattr(rows, "close", None)
        if close is not None:
            close()


def _snapshot(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _fork_rng(device: torch.device):
    devices = [device.index or 0] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


@torch.no_grad()
def validation_loss(model, y_val: torch.Tensor, batch_size: int, seed: int) -> float:
    """Mean negative ELBO (beta = 1) per sample of model-space ``y_val``, with fixed posterior noise."""
    if len(y_val) == 0:
        return float("nan")
    was_training = model.training
    model.eval()
    total = 0.0
    with _fork_rng(y_val.device):
        torch.manual_seed(seed)
        for start in range(0, len(y_val), batch_size):
            t = model.loss(y_val[start:start + batch_size], beta=1.0)
            total += float((t.nll + t.kl).sum())
    model.train(was_training)
    return total / len(y_val)


class _NonFinite(Exception):
    """Raised inside the loop when the loss or the gradient norm stops being finite."""


def _likely_cause(model) -> str:
    name = getattr(model.likelihood, "name", type(model.likelihood).__name__)
    return (f"the data probably lie outside the support of the {name!r} likelihood or have extreme "
            "magnitudes after preprocessing; check the data, or choose another likelihood or preprocessing")


class _Loop:
    """State of one training run (kept in an object so each step is a small method)."""

    def __init__(self, model, pre: Preprocessor, x_train, x_val, config: TrainConfig):
        self.model, self.pre, self.cfg = model, pre, config
        n_cols = int(model.n_inputs)
        if pre.n_features != n_cols:
            raise UsageError(f"the preprocessor has {pre.n_features} features but the model takes {n_cols} columns")
        self.device = resolve_device(config.device)
        if self.device.type == "cpu":
            weights = sum(p.numel() for p in model.parameters())
            torch.set_num_threads(cpu_threads(weights * max(1, int(config.batch_size))))
        self.x = as_data_tensor(x_train, n_cols, "x_train")
        if len(self.x) == 0:
            raise DataError("x_train has no rows; training needs at least one sample")
        self.dtype = next(model.parameters()).dtype  # float32 normally; float64 models train too
        self.y_val = validation_rows(pre, x_val, self.x, n_cols, config.seed + 1, self.device, self.dtype)
        self.gen = torch.Generator().manual_seed(config.seed)
        self.bs = max(1, int(config.batch_size))
        self.n_batches = math.ceil(len(self.x) / self.bs)
        self.y0, self.jitter = self._model_space(pre)
        self.check_every = 1 if self.device.type == "cpu" else CUDA_CHECK_EVERY
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt = make_adam(_param_groups(model, config.lr), config.lr, self.device)
        self.step = 0
        self.step_seconds = 0.0
        self.samples = 0

    def beta(self) -> float:
        warm = self.cfg.kl_warmup_epochs * self.n_batches
        return 1.0 if warm <= 0 else min(1.0, (self.step + 1) / warm)

    def _model_space(self, pre: Preprocessor):
        """The training rows mapped to model space once (float32, as the model reads them), and per
        column the width of the dequantisation noise there (``step * scale``; None: no lattice
        column): a batch is then a row gather plus one noise draw, not the affine map again on
        float64 rows. Sparse data stay sparse (mapped per batch)."""
        if not isinstance(self.x, torch.Tensor):
            return None, None
        y0 = pre.forward(self.x, dequantize=False)
        width = (pre.step * pre.scale).to(torch.float32)
        return y0, (width if bool((pre.step > 0).any()) else None)

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        """Model-space rows ``idx``, dequantised with fresh noise from the loop's generator."""
        if self.y0 is None:
            return self.pre.forward(self.x[idx], dequantize=True, generator=self.gen)
        y = self.y0[idx]
        if self.jitter is not None:
            y = y + torch.rand(y.shape, generator=self.gen) * self.jitter
        return y

    def batch(self, idx: torch.Tensor, check: bool) -> torch.Tensor:
        y = self.rows(idx).to(self.device, self.dtype, non_blocking=True)
        loss = self.model.loss(y, beta=self.beta()).loss
        if check and not bool(torch.isfinite(loss)):
            raise _NonFinite
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.clip_grad_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.params, self.cfg.clip_grad_norm, foreach=True)
            if check and not bool(torch.isfinite(norm)):
                raise _NonFinite
        self.opt.step()
        self.step += 1
        return loss.detach() * len(idx)

    def epoch(self, epoch: int, progress: Progress, last_val, deadline: float | None) -> tuple[float, bool]:
        """One pass; returns (mean train loss, whether it ended early: the time budget ran out or a
        stop signal came, see :mod:`autolik.interrupt`)."""
        self.model.train()
        perm = epoch_order(self.x, self.gen)
        total = torch.zeros((), device=self.device)
        seen, out_of_time, t0 = 0, False, time.perf_counter()
        for b in range(self.n_batches):
            idx = perm[b * self.bs:(b + 1) * self.bs]
            total = total + self.batch(idx, check=(b % self.check_every == 0) or b == self.n_batches - 1)
            seen += len(idx)
            if progress.due():
                progress.update(epoch, b + 1, float(total) / seen, last_val)
            if (deadline is not None and time.perf_counter() > deadline) or interrupt.requested():
                out_of_time = True
                break
        mean = float(total) / seen
        if not math.isfinite(mean):
            raise _NonFinite
        self.step_seconds += time.perf_counter() - t0
        self.samples += seen
        return mean, out_of_time


def train(model, pre: Preprocessor, x_train: np.ndarray, x_val: np.ndarray, config: TrainConfig,
          checkpoint=None, world=None) -> History:
    """Fit ``model`` by maximising the ELBO; returns the :class:`History`.

    Args:
        model: a :class:`autolik.model.VAE` (moved to the chosen device).
        pre: preprocessor from original units to model space, one transform per model column.
        x_train: array of shape (n_train, n_columns) in ORIGINAL units, float64, NaN = missing.
        x_val: array of shape (n_val, n_columns), same units; may have no rows (then the
            training loss decides early stopping).
        config: the :class:`TrainConfig`.
        checkpoint: an :class:`autolik.checkpoint.Checkpointer` (or None): training starts from its
            ``resume_state`` when it has one, hands it the state after every epoch that training goes on
            from (:func:`training_state`), and tells it when a stop signal ends the run.
        world: an :class:`autolik.distributed.World`: train this process's share of a data-parallel run
            (every process calls ``train`` with the same arguments; see :mod:`autolik.distributed`).

    x_train and x_val may be :class:`autolik.batches.RowSource` s (rows read from the file a group at a time).

    Early stopping restores the weights of the epoch with the best validation loss. If the loss
    or the gradient becomes NaN/inf, training stops and the weights of the last completed
    epoch are kept (the reason says which); if that happens before one epoch completed, a
    ``DataError`` names the likely cause.
    """
    t_start = time.perf_counter()
    torch.manual_seed(config.seed)
    loop = _Loop(model, pre, x_train, x_val, config)
    model.to(loop.device)
    resume = getattr(checkpoint, "resume_state", None)
    if config.init_output_bias and resume is None:
        rows = torch.randperm(len(loop.x), generator=torch.Generator().manual_seed(config.seed + 3))[:INIT_ROWS]
        y0 = pre.forward(loop.x[rows], dequantize=True, generator=torch.Generator().manual_seed(config.seed + 4))
        model.fit_output_bias(y0.to(loop.device, loop.dtype))
    hist = History()
    best, best_state, last_good, wait, last_val = math.inf, _snapshot(model), None, 0, None
    first, earlier = 1, 0.0  # a resumed run: the first epoch it trains, the seconds trained before
    if resume is not None:
        best, best_state, wait, last_good = _restore(loop, hist, resume)
        first, earlier, last_val = last_good[0] + 1, float(resume["meta"]["seconds"]), hist.val_loss[-1]
        t_start -= earlier
    deadline = t_start + config.max_seconds if config.max_seconds else None
    progress = Progress(config.epochs, loop.n_batches, quiet=config.quiet, early_stopping=config.patience > 0,
                        max_seconds=deadline - time.perf_counter() if deadline else None, first_epoch=first)
    step_deadline = _data_parallel(loop, world, deadline)
    with interrupt.stop_on_signals(), _epoch_log(config.log, t_start, append=resume is not None) as log:
        try:
            for epoch in range(first, int(config.epochs) + 1):
                hist.epochs_run = epoch
                try:
                    train_loss, out_of_time = loop.epoch(epoch, progress, last_val, step_deadline)
                    val = _validation(loop, model, config.seed + 2) if len(loop.y_val) else train_loss
                    if not math.isfinite(val):
                        raise _NonFinite
                except _NonFinite:
                    _stop_non_finite(model, hist, epoch, last_good, first_batch=loop.step == 0)
                    break
                hist.train_loss.append(train_loss)
                hist.val_loss.append(val)
                last_val, last_good = val, (epoch, _snapshot(model))
                progress.epoch_done()
                progress.update(epoch, loop.n_batches, train_loss, val, force=True)
                if val < best:
                    best, best_state, hist.best_epoch, wait = val, last_good[1], epoch, 0
                else:
                    wait += 1
                log(epoch=epoch, train_loss=train_loss, val_loss=val, best_epoch=hist.best_epoch)
                if out_of_time and interrupt.requested():
                    if checkpoint is not None:
                        checkpoint.stopped()  # the last completed epoch, which this partial one does not change
                    hist.interrupted = interrupt.requested()
                    hist.stopped_reason = (f"stopped by {hist.interrupted} in epoch {epoch}; kept the best weights "
                                           f"(epoch {hist.best_epoch})")
                    break
                if out_of_time:
                    hist.stopped_reason = f"time limit of {config.max_seconds:g} s reached in epoch {epoch}"
                    break
                if (config.patience and wait >= config.patience and epoch > config.kl_warmup_epochs
                        and loop.step >= config.min_steps):
                    hist.stopped_reason = (f"early stopping: no better validation loss for {config.patience} epochs "
                                           f"(best at epoch {hist.best_epoch})")
                    break
                if checkpoint is not None and epoch < config.epochs:  # training goes on from here
                    checkpoint.epoch_end(training_state(loop, hist, best, best_state, wait, last_good,
                                                        time.perf_counter() - t_start))
            else:
                hist.stopped_reason = f"completed {hist.epochs_run} epochs"
            if not hist.stopped_reason.startswith("non-finite"):
                model.load_state_dict(best_state)
        finally:
            progress.close()
            _release(loop, world)
    if hist.stopped_reason.startswith("non-finite"):
        progress.message(hist.stopped_reason)
    hist.train_seconds = time.perf_counter() - t_start
    hist.samples_per_second = loop.samples / loop.step_seconds if loop.step_seconds > 0 else 0.0
    return hist


def training_state(loop: _Loop, hist: History, best: float, best_state: dict, wait: int, last_good: tuple,
                   seconds: float) -> dict:
    """Everything the loop needs to go on after epoch ``last_good[0]`` as it would have: ``{"meta": JSON-able
    counters, "tensors": {name: tensor}}`` (weights, best weights, Adam's moments, the random streams).

    Cheap: the weights are the epoch's snapshot already taken, only Adam's moments are copied."""
    epoch, weights = last_good
    tensors = {**{f"model.{k}": v for k, v in weights.items()}, **{f"best.{k}": v for k, v in best_state.items()}}
    for index, moments in loop.opt.state_dict()["state"].items():
        for key, value in moments.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().clone()
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.shuffle"] = loop.gen.get_state()
    if loop.device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(loop.device)
    meta = {"epoch": epoch, "best_val": best, "best_epoch": hist.best_epoch, "wait": wait, "step": loop.step,
            "samples": loop.samples, "step_seconds": loop.step_seconds, "seconds": seconds,
            "train_loss": list(hist.train_loss), "val_loss": list(hist.val_loss)}
    return {"meta": meta, "tensors": tensors}


def _restore(loop: _Loop, hist: History, state: dict) -> tuple:
    """Put the loop back where :func:`training_state` took it; returns (best, best_state, wait, last_good)."""
    meta, tensors = state["meta"], state["tensors"]

    def part(prefix: str) -> dict:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    loop.model.load_state_dict(part("model."))
    opt = loop.opt.state_dict()  # the groups (learning rates) come from the settings, the moments from the file
    opt["state"] = {}
    for name, value in part("optim.").items():
        index, key = name.split(".", 1)
        opt["state"].setdefault(int(index), {})[key] = value
    loop.opt.load_state_dict(opt)
    torch.set_rng_state(tensors["rng.torch"])
    loop.gen.set_state(tensors["rng.shuffle"])
    if loop.device.type == "cuda" and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], loop.device)
    loop.step, loop.samples, loop.step_seconds = int(meta["step"]), int(meta["samples"]), float(meta["step_seconds"])
    hist.train_loss, hist.val_loss = [float(v) for v in meta["train_loss"]], [float(v) for v in meta["val_loss"]]
    hist.best_epoch = int(meta["best_epoch"])
    hist.epochs_run = int(meta["epoch"])
    best_state = {k: v.to(loop.device) for k, v in part("best.").items()}
    return float(meta["best_val"]), best_state, int(meta["wait"]), (int(meta["epoch"]), _snapshot(loop.model))


@contextlib.contextmanager
def _epoch_log(path: str | None, t_start: float, append: bool = False):
    """A function writing one JSON line per epoch to ``path`` (flushed at once), or one doing nothing.
    ``append``: a resumed run continues the file (:func:`autolik.checkpoint.trim_log` cut it at the checkpoint)."""
    if not path:
        yield lambda **fields: None
        return
    with open(path, "a" if append else "w", encoding="utf-8") as fh:
        def write(**fields):
            fh.write(json.dumps({**fields, "seconds": round(time.perf_counter() - t_start, 3)}) + "\n")
            fh.flush()

        yield write


def _stop_non_finite(model, hist: History, epoch: int, last_good, first_batch: bool) -> None:
    """Restore the last completed epoch's weights and say so; DataError when there is none."""
    if last_good is None:
        cause = "on the very first batch" if first_batch else f"in epoch {epoch}"
        raise DataError(f"the training loss became NaN or infinite {cause}, before any epoch completed: "
                        f"{_likely_cause(model)}")
    good_epoch, state = last_good
    model.load_state_dict(state)
    hist.best_epoch = good_epoch
    hist.stopped_reason = f"non-finite loss at epoch {epoch}: kept the weights of epoch {good_epoch}"

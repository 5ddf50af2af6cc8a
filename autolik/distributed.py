"""Data-parallel training over several processes (torch.distributed DistributedDataParallel), launched by torchrun.

``torchrun --nproc-per-node N -m autolik fit FILE --out DIR`` starts N processes with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` set; :func:`current` sees them and joins the process group
(gloo on CPUs; nccl on GPUs, one GPU per process, ``cuda:LOCAL_RANK``). ``WORLD_SIZE=1`` is an
ordinary single-process run. What the processes share and what each does:

* **the data and the recommendation**: every process loads the file and profiles it itself (a
  memory-mapped ``.npy`` is shared through the page cache; the profile is deterministic), and
  rank 0 alone chooses the likelihood and broadcasts the recommendation's dict form
  (:meth:`World.agree`), so every process builds the same network even where a quick scipy fit
  could come out differently on another machine. A choice that fails on rank 0 fails everywhere;
* **the batches**: ``--batch-size`` is the *global* batch. Every process draws the same epoch order
  from the same seed (a permutation, or the block-shuffled order of a file), cuts it into batches
  of that size, and takes rows ``rank, rank + N, ...`` of each (DistributedSampler's split, per
  batch); from a file it reads only those rows;
* **the step**: a process's loss is its rows' sum times ``N / rows in the global batch``, so DDP's
  average of the N gradients is the gradient of the mean over the global batch, the step a single
  process takes on the same batch;
* **the random numbers**: each process draws the dequantisation noise and the posterior noise of the
  *whole* global batch from the single-process streams and keeps its rows' share, so the run
  follows the single-process run with the same seed and batch size to rounding (gradients summed
  in another order): ``tests/test_ddp.py`` holds the weights equal to 1e-5;
* **agreement**: once per step the processes all-reduce one small tensor, the batch's loss sum
  (so the loss that is reported and checked for NaN is the global batch's) and two stop flags
  (the time limit passed, a stop signal arrived: :mod:`autolik.interrupt`), so every process stops
  after the same batch; validation and the held-out IWAE are split into units of rows, each process
  scores its units and the sums and counts are all-reduced, so early stopping reads the same
  numbers everywhere;
* **output**: rank 0 alone prints, writes the ``--log``, the checkpoints and the model.
"""
from __future__ import annotations

import atexit
import inspect
import os
import time
from dataclasses import dataclass

import numpy as np

from autolik import interrupt
from autolik.errors import AutolikError, DataError, UsageError

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
CUDA_SYNC_EVERY = 50  # on GPUs, read the agreed stop flags every this many steps (a host sync each time)


def launched() -> dict | None:
    """``{"rank", "size", "local_rank", "local_size"}`` from torchrun's environment, or None outside it.
    UsageError for a malformed one (not whole numbers, rank outside the world)."""
    if not all(os.environ.get(v, "").strip() for v in ENV):
        return None
    try:
        rank, size, local = (int(os.environ[v]) for v in ENV)
        local_size = int(os.environ.get("LOCAL_WORLD_SIZE", "") or size)
    except ValueError:
        shown = ", ".join(f"{v}={os.environ.get(v)!r}" for v in ENV)
        raise UsageError(f"torchrun's environment is malformed ({shown}); launch with torchrun, "
                         "or unset RANK, WORLD_SIZE and LOCAL_RANK for one process") from None
    if size < 1 or not 0 <= rank < size or not 0 <= local < max(1, local_size):
        raise UsageError(f"torchrun's environment is inconsistent (RANK={rank}, WORLD_SIZE={size}, "
                         f"LOCAL_RANK={local}); launch with torchrun")
    return {"rank": rank, "size": size, "local_rank": local, "local_size": max(1, local_size)}


def rank() -> int:
    """This process's rank under torchrun (0 outside it): only rank 0 prints."""
    try:
        env = launched()
    except UsageError:
        return 0
    return env["rank"] if env else 0


_WORLD = None


@dataclass
class World:
    """The processes of one data-parallel run (see the module docstring)."""

    rank: int
    size: int
    local_rank: int
    local_size: int
    backend: str

    @property
    def main(self) -> bool:
        return self.rank == 0

    def device(self, name: str | None) -> str | None:
        """The device of this process: with nccl, ``cuda:LOCAL_RANK`` for ``auto`` and ``cuda``."""
        if self.backend == "nccl" and (name or "auto") in ("auto", "cuda"):
            return f"cuda:{self.local_rank}"
        return name

    def _tensor(self, values):
        import torch

        device = f"cuda:{self.local_rank}" if self.backend == "nccl" else "cpu"
        return torch.as_tensor(np.asarray(values, dtype=np.float64), device=device)

    def sum(self, values) -> np.ndarray:
        """Element-wise sum over the processes of a few float64 numbers (identical in every process)."""
        import torch.distributed as dist

        t = self._tensor(values)
        dist.all_reduce(t)
        dist.broadcast(t, 0)  # every process holds rank 0's bits, whatever the reduction's order
        return t.cpu().numpy()

    def agree(self, choose, encode, decode):
        """``choose()`` on rank 0, its result broadcast (``encode``d to plain data, ``decode``d elsewhere).

        An autolik error on rank 0 is raised in every process (its message printed by rank 0 alone);
        any other failure there stops the others with a one-line error naming rank 0."""
        import torch.distributed as dist

        box, error = [None], None
        if self.main:
            try:
                value = choose()
                box = [("ok", encode(value))]
            except AutolikError as e:
                error, box = e, [("error", isinstance(e, UsageError), str(e))]
            except BaseException as e:  # noqa: BLE001  (the others must not wait for a rank that died)
                error, box = e, [("failed", False, f"{type(e).__name__}: {e}")]
        dist.broadcast_object_list(box, src=0)
        if error is not None:
            raise error
        kind, *rest = box[0]
        if kind == "ok":
            return value if self.main else decode(rest[0])
        usage, text = rest
        if kind == "failed":
            raise DataError(f"rank 0 failed while choosing the likelihood ({text})")
        raise (UsageError if usage else DataError)(text)

    # -- the training loop's view -------------------------------------------------------------
    def attach(self, loop, deadline):
        """Make the loop this process's share of a data-parallel run: its data (this process's rows of each
        global batch), preprocessor (the global batch's noise), model (DDP, the loss scaled to the global mean)
        and validation rows (this process's units, reduced). Returns what the epoch compares the clock with.
        :meth:`detach` undoes it."""
        share = _Share(loop.x, self, loop.bs)
        flags = _Flags(self, deadline, 1 if loop.device.type == "cpu" else CUDA_SYNC_EVERY, loop.device)
        loop._serial = (loop.x, loop.pre, loop.model, loop.y_val, loop.y0)
        loop.y0 = None  # the model-space copy of every row: this process maps its share of each batch instead
        loop.x, loop.pre = share, _SharePre(loop.pre, share)
        loop.model = _Step(loop.model, self, share, flags, loop.device)
        loop.y_val = _ShareVal(loop.y_val, self)
        interrupt.share(True)
        return _AgreedDeadline(flags) if deadline is not None else None

    def detach(self, loop) -> None:
        serial = getattr(loop, "_serial", None)
        if serial is not None:
            step = loop.model
            loop.x, loop.pre, loop.model, loop.y_val, loop.y0 = serial
            loop._serial = None
            step.flags.out = step.flags.pending = None  # the last loss and its graph
            step.ddp = None
        interrupt.share(False)


def current(device: str | None = "auto") -> World | None:
    """The data-parallel run this process belongs to (joining its process group on the first call), or
    None: not launched by torchrun, or a world of one process.

    ``device``: the ``--device`` asked for; nccl is used when it allows a GPU and CUDA is available."""
    global _WORLD
    if _WORLD is not None:
        return _WORLD
    env = launched()
    if env is None or env["size"] == 1:
        return None
    import torch
    import torch.distributed as dist

    cuda = (device or "auto") != "cpu" and torch.cuda.is_available()
    backend = "nccl" if cuda else "gloo"
    if cuda:
        torch.cuda.set_device(env["local_rank"] % torch.cuda.device_count())
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend)
        except (RuntimeError, ValueError) as e:
            raise UsageError(f"could not join torchrun's process group ({type(e).__name__}: {e}); "
                             "launch with `torchrun --nproc-per-node N -m autolik fit ...`") from None
        atexit.register(_shutdown)
    _WORLD = World(env["rank"], env["size"], env["local_rank"], env["local_size"], backend)
    return _WORLD


def _shutdown() -> None:
    """Close the process group (at exit, or after :func:`finish`'s barrier). DDP's reducer and the futures of
    its all-reduces are collected first, while the group and the interpreter are alive: left to the
    interpreter's teardown they sometimes aborted the process after its work was done ("terminate called
    without an active exception", about one run in ten here)."""
    import gc

    import torch.distributed as dist

    gc.collect()
    if dist.is_initialized():
        dist.destroy_process_group()


def finish() -> None:
    """Leave the run together: wait for every process (rank 0 saving the model), then close the process group."""
    global _WORLD
    if _WORLD is None:
        return
    import torch.distributed as dist

    try:
        if dist.is_initialized():
            dist.barrier()
    finally:
        _shutdown()
        _WORLD = None


def check(world: World | None, n_train: int | None, batch_size: int) -> None:
    """One-line errors for a run its processes cannot share: fewer training rows (None: not known yet), or a
    smaller global batch, than processes."""
    if world is None:
        return
    if n_train is not None and n_train < world.size:
        raise DataError(f"{n_train} training rows cannot be shared by {world.size} processes (each needs at least "
                        f"one); run at most {n_train} (torchrun --nproc-per-node), or pass more rows")
    if batch_size < world.size:
        raise UsageError(f"--batch-size {batch_size} is the global batch, shared by the {world.size} processes: it must "
                         f"be at least {world.size}")


# --------------------------------------------------------------------------- the loop's objects


class _Share:
    """The loop's training rows as this process sees them: indexed by a global batch's positions, the rows
    ``rank, rank + N, ...`` of it (a file reads only those); remembers the global batch's size and which
    of its rows were taken, for the noise (:class:`_SharePre`, :class:`_Step`)."""

    def __init__(self, x, world: World, batch_size: int):
        self.x, self.world, self.bs = x, world, int(batch_size)
        self.shape = getattr(x, "shape", (len(x),))
        self.last = (0, None)

    def __len__(self) -> int:
        return len(self.x)

    def order(self, generator):
        import torch

        order = getattr(self.x, "order", None)
        if order is not None:
            return order(generator, shard=(self.world.rank, self.world.size, self.bs))
        return torch.randperm(len(self.x), generator=generator)

    def __getitem__(self, idx):
        import torch

        n = len(idx)
        pos = torch.arange(self.world.rank, n, self.world.size)
        self.last = (n, pos)
        return self.x[idx[pos]]


class _SharePre:
    """The preprocessor, drawing the dequantisation noise of the whole global batch (as one process does)
    and adding this process's rows of it: for dense rows (in memory, or read from a file) in model space
    and float32, as the loop's in-memory path draws it (:class:`autolik.batches.ModelSpaceRows`); for
    sparse rows, which the loop maps a batch at a time, in original units and float64, as it does."""

    def __init__(self, pre, share: _Share):
        from autolik.batches import ModelSpaceRows
        from autolik.io.sparse import SparseRows

        self.pre, self.share = getattr(pre, "pre", pre), share
        mapped = getattr(share.x, "transform", None) is not None  # a file's rows, mapped as they are read
        self.dense = None if isinstance(share.x, SparseRows) else ModelSpaceRows(self.pre, mapped)

    def __getattr__(self, name):
        return getattr(self.pre, name)

    def forward(self, x, dequantize: bool = True, generator=None):
        import torch

        if self.dense is not None:
            return self.dense.forward(x, dequantize, generator, share=self.share.last)
        if dequantize and bool((self.pre.step > 0).any()):
            n, pos = self.share.last
            u = torch.rand((n, x.shape[1]), generator=generator, dtype=torch.float64, device="cpu")[pos].to(x.device)
            x = x.to(torch.float64) + self.pre.step.to(x.device) * u
        return self.pre.forward(x, dequantize=False)


def _loss_module(vae):
    import torch

    class LossSum(torch.nn.Module):
        """The VAE's negative ELBO summed over this process's rows: what DDP wraps (its forward is what
        DDP synchronises)."""

        def __init__(self, model):
            super().__init__()
            self.vae = model

        def forward(self, y, beta, eps):
            t = self.vae.loss(y, beta=beta, eps=eps)
            return (t.nll + beta * t.kl).sum(), t.nll, t.kl

    return LossSum(vae)


def _reported():
    import torch

    class Reported(torch.autograd.Function):
        """The global batch's mean loss as the value, this process's scaled loss for the gradient."""

        @staticmethod
        def forward(ctx, local, value):
            return value.detach().clone()

        @staticmethod
        def backward(ctx, grad):
            return grad, None

    return Reported


class _Step:
    """What the loop calls its model under data-parallel training: ``loss`` runs through DDP, the rest is the VAE's."""

    def __init__(self, vae, world: World, share: _Share, flags, device):
        from torch.nn.parallel import DistributedDataParallel

        self.vae, self.world, self.share, self.flags = vae, world, share, flags
        ids = [device.index or 0] if device.type == "cuda" else None
        # buffers (the encoder's input scaling, a count's unit) are set before training and never change:
        # DDP's constructor copies rank 0's once, and broadcasting them every step would only cost time
        sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                else {"broadcast_buffers": False})  # the newer name (torch >= 2.13), else the older
        self.ddp = DistributedDataParallel(_loss_module(vae), device_ids=ids, **sync)
        self.ddp.register_comm_hook(flags, _packed_allreduce)
        self.reported = _reported()

    def __getattr__(self, name):
        return getattr(self.vae, name)

    def loss(self, y, beta: float = 1.0):
        """This process's rows of the global batch through DDP. The returned loss is this process's share
        scaled to the global mean (for the gradient); its value is a local estimate until the backward pass
        has summed the processes' loss sums with the gradients (:func:`_packed_allreduce`), and then the
        global batch's mean loss, written in place: the loop reads it (``loss.detach() * rows``) after its
        step. A local value that is not finite is reported as 0 before the backward pass (so no process
        stops alone); the summed gradients are then NaN in every process, whose gradient-norm check stops
        them all after the same batch."""
        import torch
        from torch.distributions.utils import _standard_normal

        from autolik.model.vae import LossTerms

        n, pos = self.share.last
        p = next(self.vae.parameters())
        eps = _standard_normal((n, int(self.vae.latent_dim)), dtype=p.dtype, device=p.device)[pos.to(p.device)]
        total, nll, kl = self.ddp(y, beta, eps)
        local = total * (self.world.size / n)
        estimate = torch.nan_to_num(local.detach(), nan=0.0, posinf=0.0, neginf=0.0)
        reported = self.reported.apply(local, estimate)
        self.flags.send(total.detach(), n, reported)
        return LossTerms(loss=reported, nll=nll, kl=kl)


def _packed_allreduce(flags, bucket):
    """DDP's gradient all-reduce (the mean over the processes) with the step's :class:`_Flags` numbers appended
    to the first bucket: the loss sums and the stop flags travel with the gradients, so a step costs one
    collective per bucket and no more."""
    import torch
    import torch.distributed as dist

    buf = bucket.buffer()
    size = dist.get_world_size()
    if bucket.index() != 0 or flags.pending is None:
        buf.div_(size)
        return dist.all_reduce(buf, async_op=True).get_future().then(lambda fut: fut.value()[0])
    n_grads = buf.numel()
    packed = torch.cat([buf.div_(size), flags.pending.to(buf.device, buf.dtype)])
    flags.pending = None

    def done(fut):
        out = fut.value()[0]
        buf.copy_(out[:n_grads])
        flags.receive(out[n_grads:])
        return buf

    return dist.all_reduce(packed, async_op=True).get_future().then(done)


class _Flags:
    """The numbers each step sends with its gradients: this process's loss sum and whether it passed its
    deadline or got a stop signal; summed, they give the global batch's loss and the agreed stop (read on
    the host every ``every`` steps: GPUs are not synchronised at every step)."""

    def __init__(self, world: World, deadline, every: int, device):
        self.world, self.deadline, self.every, self.device = world, deadline, max(1, int(every)), device
        self.steps = 0
        self.over = False
        self.pending = self.out = None
        self.n = 1

    def send(self, loss_sum, n: int, out) -> None:
        import torch

        got = interrupt.local()
        late = self.deadline is not None and time.perf_counter() > self.deadline
        flags = torch.tensor([float(late), float(got == "SIGINT"), float(got == "SIGTERM")],
                             dtype=loss_sum.dtype, device=loss_sum.device)
        self.pending = torch.cat([loss_sum.reshape(1), flags])
        self.out, self.n = out, n

    def receive(self, summed) -> None:
        import torch

        with torch.no_grad():
            self.out.copy_((summed[0] / self.n).to(self.out.dtype))
        self.steps += 1
        if self.steps % self.every == 0:
            late_any, sigint, sigterm = summed[1:].tolist()
            self.over = self.over or late_any > 0
            interrupt.agree("SIGTERM" if sigterm > 0 else "SIGINT" if sigint > 0 else None)


class _AgreedDeadline:
    """What the epoch compares the clock with under data-parallel training.

    The epoch stops when ``time.perf_counter() > deadline`` after a batch; each process's clock would
    say so after a different batch, and a process that stops alone leaves the others waiting in their
    next all-reduce. So the comparison answers what the processes agreed on in the step's all-reduce:
    whether any of them had passed its deadline."""

    def __init__(self, flags: _Flags):
        self.flags = flags

    def __lt__(self, now) -> bool:  # `now > deadline`
        return self.flags.over

    def __gt__(self, now) -> bool:  # `now < deadline`
        return not self.flags.over


class _ShareVal:
    """The validation rows: this process scores units ``rank, rank + N, ...`` of them; the sums are reduced."""

    def __init__(self, y_val, world: World):
        self.y_val, self.world = y_val, world

    def __len__(self) -> int:
        return len(self.y_val)

    def validation_loss(self, model, batch_size: int, seed: int) -> float:
        from autolik.batches import tensor_units, unit_loss_sums

        keep = self.keep
        units = (self.y_val.units(batch_size, keep) if hasattr(self.y_val, "units")
                 else tensor_units(self.y_val, batch_size, keep))
        total, count = self.world.sum(unit_loss_sums(model, units, seed))
        return float(total / count) if count else float("nan")

    def keep(self, unit: int) -> bool:
        return unit % self.world.size == self.world.rank


def units_of(world: World | None):
    """The ``keep(unit)`` of this process's units of a split (None: every unit, one process)."""
    if world is None:
        return None
    return lambda unit: unit % world.size == world.rank


def per_process_threads(cores: int) -> int:
    """Torch threads per process: the cores shared by the processes of this machine (torchrun's
    LOCAL_WORLD_SIZE), at least one."""
    env = launched()
    return max(1, cores // env["local_size"]) if env else cores

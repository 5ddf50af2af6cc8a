"""The one way from data to a trained model: load -> profile -> recommend -> build -> train -> evaluate.

``autolik.fit``, ``autolik.compare`` (and so ``fit --select empirical``), ``AutoVAE`` and the CLI
all run their steps through here, so a command loads and profiles its data once, however many
models it trains: :func:`prepare` returns a :class:`Data` (the Dataset and its typed Profile) that
the recommendation and every candidate read. The profile becomes a dict only for the model
directory (:attr:`Data.profile_dict`, converted once).

Below ``api``, ``compare``, ``estimator`` and ``cli``, which call it; it imports none of them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Sequence

import numpy as np

from autolik.errors import DataError, UsageError


@dataclass
class Data:
    """A data set loaded and profiled once: what every later step reads.

    Attributes:
        dataset: the loaded :class:`~autolik.io.dataset.Dataset`.
        profile: its :class:`~autolik.analysis.profiling.profile.Profile`, supports assigned.
    """

    dataset: object
    profile: object

    @property
    def n_samples(self) -> int:
        return int(self.dataset.data.shape[0])

    @cached_property
    def profile_dict(self) -> dict:
        """The profile as saved in a model directory (plain data, without the row sample)."""
        return self.profile.to_dict()

    def rows(self, idx: np.ndarray) -> "Data":
        """The rows ``idx`` (in the data's original shape and dtype; sparse rows densified), with the
        whole data's profile: what a comparison on a row sample trains on."""
        from autolik.io.sparse import is_sparse, rows as dense_rows

        ds = self.dataset
        picked = dense_rows(ds.data, idx) if is_sparse(ds.data) else np.asarray(ds.data[idx])
        return Data(replace(ds, data=picked, shape=(len(idx),) + tuple(ds.shape[1:]), notes=list(ds.notes)),
                    self.profile)


def prepare(X, key: str | None = None, profile=None, *, quiet: bool = True, **profile_options) -> Data:
    """Load ``X`` and profile it, once (a :class:`Data` is returned as it is).

    Args:
        X: array-like, DataFrame, sparse matrix, file path, Dataset or Data.
        key: array name inside an ``.npz`` file (layer of an ``.h5ad`` file).
        profile: X's Profile, already computed (not computed again).
        quiet: no progress bar (it is drawn only for data over 256 MB).
        **profile_options: passed to :func:`autolik.analysis.profiling.profile.profile` (``sample_rows``, ...).
    """
    if isinstance(X, Data):
        return X
    from autolik.outputs import load_dataset

    dataset = load_dataset(X, key)
    return Data(dataset, profile if profile is not None else _profile(dataset, quiet, profile_options))


def _profile(dataset, quiet: bool, options: dict):
    """:func:`autolik.analysis.profiling.profile.inspect` with a progress bar on stderr for big data."""
    from autolik.analysis.profiling.profile import CHUNK_BYTES, inspect
    from autolik.progress import Meter
    from autolik.io.sparse import nbytes

    size = nbytes(dataset.data)
    meter = Meter(size, "profiling", 1e9, "GB", quiet=quiet or size <= 4 * CHUNK_BYTES)  # a bar only for big files
    try:
        return inspect(dataset, progress=lambda done, n: meter.update(size * done / n), **options)
    finally:
        meter.close()


def recommend(data: Data, **choice):
    """The analyser's Recommendation for the prepared data (``choice``: as for :func:`autolik.recommend`)."""
    from autolik.analysis.recommendation.recommend import recommend as analyse

    return analyse(data.profile, **choice)


def refuse_infinite(data: Data) -> None:
    """DataError naming the first infinite cells, found from the profile's counts (no scan otherwise)."""
    from autolik.outputs import refuse_infinite as refuse
    from autolik.io.sparse import columns, is_sparse

    ds = data.dataset
    bad = [j for j, f in enumerate(data.profile.features) if f.n_posinf or f.n_neginf]
    if bad:
        block = columns(ds.data, bad)
        refuse(block.toarray() if is_sparse(block) else block, [f"column {ds.names[j]!r}" for j in bad], str(ds.source))


def split_indices(n: int, seed: int = 0, test_fraction: float = 0.1, val_fraction: float = 0.1) -> dict:
    """Row indices of the train/val/test splits; they depend only on (n, seed, fractions).

    Returns:
        dict with sorted int arrays ``"train"``, ``"val"``, ``"test"`` (test may be empty when
        ``test_fraction == 0``).
    """
    check_fractions(test_fraction, val_fraction)
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    n_val = max(1, round(n * val_fraction))
    if n - n_test - n_val < 1:
        raise DataError(f"{n} rows are too few to split into train, validation and test sets; "
                        "pass more rows or smaller --test-fraction")
    return {"test": np.sort(perm[:n_test]), "val": np.sort(perm[n_test:n_test + n_val]),
            "train": np.sort(perm[n_test + n_val:])}


def check_fractions(test_fraction: float, val_fraction: float) -> None:
    """UsageError unless 0 <= test_fraction < 1, 0 < val_fraction < 1 and their sum < 1."""
    if not (0 <= test_fraction < 1 and 0 < val_fraction < 1 and test_fraction + val_fraction < 1):
        raise UsageError(f"need 0 <= test_fraction < 1, 0 < val_fraction < 1 and their sum < 1, "
                         f"got test_fraction={test_fraction}, val_fraction={val_fraction}")


#: the training loop's options that fit takes (:class:`autolik.train.TrainConfig` holds their defaults)
LOOP_OPTIONS = ("epochs", "batch_size", "lr", "patience", "min_steps", "kl_warmup_epochs", "device", "max_seconds",
                "log")


@dataclass(frozen=True)
class Training:
    """How one model is built, trained and evaluated: the options of ``autolik.fit`` (see its doc).

    The loop's own options (:data:`LOOP_OPTIONS`) left None take :class:`autolik.train.TrainConfig`'s
    defaults, so that they are declared once.
    """

    latent_dim: int | None = None
    hidden: Sequence[int] | None = None
    architecture: str = "auto"
    seed: int = 0
    test_fraction: float = 0.1
    val_fraction: float = 0.1
    k: int = 100
    quiet: bool = True
    select: str = "analyser"  # how the likelihood was chosen, recorded with the model
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    patience: int | None = None
    min_steps: int | None = None
    kl_warmup_epochs: int | None = None
    device: str | None = None
    max_seconds: float | None = None
    log: str | None = None

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    def loop_options(self) -> dict:
        """The training loop's options (:class:`autolik.train.TrainConfig`), as saved with the model."""
        from autolik.train import TrainConfig

        c = TrainConfig(**{n: getattr(self, n) for n in LOOP_OPTIONS if getattr(self, n) is not None})
        return dict(epochs=int(c.epochs), batch_size=int(c.batch_size), lr=float(c.lr), patience=int(c.patience),
                    min_steps=int(c.min_steps), kl_warmup_epochs=int(c.kl_warmup_epochs), seed=int(self.seed),
                    device=c.device, max_seconds=c.max_seconds, quiet=bool(self.quiet), log=c.log)

    def check(self) -> None:
        """UsageError for a bad device, k, epochs, batch size, learning rate or fractions: before any work."""
        from autolik.train import resolve_device

        loop = self.loop_options()
        resolve_device(loop["device"])
        if int(self.k) < 1 or loop["epochs"] < 1 or loop["batch_size"] < 1 or not loop["lr"] > 0:
            raise UsageError(f"need k >= 1, epochs >= 1, batch_size >= 1 and lr > 0; got k={self.k}, "
                             f"epochs={loop['epochs']}, batch_size={loop['batch_size']}, lr={loop['lr']}")
        check_fractions(self.test_fraction, self.val_fraction)

    def split(self, n: int) -> dict:
        return split_indices(n, self.seed, self.test_fraction, self.val_fraction)


def train(data: Data, rec, training: Training, checkpoint=None, world=None):
    """Build the VAE for ``rec``, train it on the training rows, evaluate it on the test rows.

    ``checkpoint``: an :class:`autolik.checkpoint.Checkpointer` that saves (and on ``--resume``
    restores) the loop's state at the end of epochs.
    ``world``: an :class:`autolik.distributed.World`: this process's share of a data-parallel run
    (rank 0 alone draws progress and writes the log; the held-out figures are reduced over the processes).

    Dense data that are memory-mapped (an ``.npy`` file) or larger than ``AUTOLIK_IN_MEMORY_MB`` are
    read a batch at a time (:mod:`autolik.batches`) instead of being copied into one float64 array;
    smaller data keep that copy, and the results they always gave.

    Returns:
        a :class:`~autolik.fitted.FittedVAE` whose ``metrics`` are the held-out figures (empty when
        there are no test rows or a stop signal ended training).
    """
    import torch

    from autolik.fitted import FittedVAE
    from autolik.model import VAE
    from autolik.outputs import OutputSpec
    from autolik.distributed import check
    from autolik.train import TrainConfig, train as train_loop

    used = rec.used_columns
    if not used:
        raise DataError(_nothing_to_model(rec, data.profile))
    split = training.split(data.n_samples)
    options = training.loop_options()
    check(world, len(split["train"]), options["batch_size"])
    part, missing = _rows(data, used, split)
    torch.manual_seed(training.seed)
    model = VAE(rec.likelihood_module(), latent_dim=training.latent_dim, hidden=training.hidden,
                architecture=training.architecture, image_shape=_image_shape(rec, data.profile, len(used)),
                missing=missing)
    pre = rec.preprocessor()
    if checkpoint is not None:
        checkpoint.bind(rec, model, {"seed": int(training.seed), "n_samples": data.n_samples})
    loop_options = dict(options, **({} if world is None or world.main else {"quiet": True, "log": None}))
    history = train_loop(model, pre, part("train"), part("val"), TrainConfig(**loop_options),
                         checkpoint=checkpoint, world=world)
    fitted = FittedVAE(recommendation=rec, preprocessor=pre, model=model, history=history, metrics={},
                       profile=data.profile_dict, output=OutputSpec.build(data.dataset, data.profile_dict, rec),
                       lattice=_is_lattice(data.profile, used),
                       config={"training": options, "test_fraction": training.test_fraction,
                               "val_fraction": training.val_fraction, "k": int(training.k), "select": training.select},
                       split={"seed": int(training.seed), "n_samples": data.n_samples, **split})
    if len(split["test"]) and not history.interrupted:  # a stop signal asks for the weights, not for more work
        test = part("test")
        try:
            fitted.metrics = fitted._evaluate_used(test, k=int(training.k), world=world, rows=True)
            fitted.test_nll = fitted.metrics.pop("nll_iwae_rows", None)
        finally:
            if hasattr(test, "close"):
                test.close()  # a RowSource's reading thread
    return fitted


def _rows(data: Data, used, split: dict):
    """``(part, missing)``: ``part(name)`` gives the used columns of a split's rows in float64 (sparse: CSR), or
    a :class:`autolik.batches.RowSource` reading them from the data when they stream
    (:func:`autolik.batches.streams`); ``missing``: whether any used value is NaN (from the profile's counts
    when streaming, so nothing scans the file again)."""
    from autolik.batches import RowSource, streams
    from autolik.io.sparse import columns, has_nan, rows

    ds = data.dataset
    if streams(ds.data, len(split["train"]), len(used)):
        feats = data.profile.features
        return (lambda name: RowSource(ds.data, split[name], used, what=f"the {name} rows")), \
            any(feats[c].n_missing for c in used)
    x = columns(ds.data, used)  # float64; sparse data stay sparse (dense mini-batches in train)
    return (lambda name: rows(x, split[name]) if name == "test" else x[split[name]]), has_nan(x)


def _is_lattice(profile, columns: Sequence[int]) -> bool:
    feats = profile.features
    return bool(columns) and all(feats[c].is_integer or feats[c].grid_step for c in columns)


def _image_shape(rec, profile, n_used: int):
    shape = rec.image_shape or profile.image_shape
    return tuple(shape) if shape is not None and math.prod(shape) == n_used else None


def _nothing_to_model(rec, profile) -> str:
    """Why every feature was left out, e.g. 'every value is missing' or '2 identifier, 1 constant'."""
    feats = getattr(profile, "features", [])
    if feats and all(getattr(f, "count", 1) == 0 for f in feats):
        return "every value is missing (all cells empty or NaN); nothing to model"
    kinds = {}
    for f in rec.features:
        kinds[f.support] = kinds.get(f.support, 0) + 1
    listed = ", ".join(f"{n} {k}" for k, n in kinds.items())
    return f"every feature was left out ({listed}); nothing to model"

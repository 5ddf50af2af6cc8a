"""The library entry points: ``fit(X, **options) -> FittedVAE`` and ``load(path) -> FittedVAE``.

``fit`` chooses the likelihood (the analyser's recommendation, a forced family, an empirical
selection or a given Recommendation) and runs the steps of :mod:`autolik.pipeline`: the data is
loaded and profiled once, rows are split into train/validation/test by seed, the likelihood and
the VAE are built and trained, and the model is evaluated on the held-out test rows in the units
of the original data. ``FittedVAE`` (:mod:`autolik.fitted`, imported from here too) encodes,
decodes, samples and reconstructs in the original data's units, dtype and shape, scores rows,
and saves itself (see :mod:`autolik.persist`).
"""
from __future__ import annotations

from typing import Sequence

from autolik.distributed import check as check_world, current
from autolik.errors import DataError, UsageError
from autolik.fitted import (  # noqa: F401  (FittedVAE and its constants: imported from autolik.api too)
    SAMPLE_CHUNK_ROWS,
    SAMPLE_CHUNK_VALUES,
    SCORE_SAMPLES,
    FittedVAE,
    load_fitted,
)
from autolik.pipeline import Training, prepare, refuse_infinite, split_indices  # noqa: F401  (split_indices too)
from autolik.pipeline import recommend as analyse
from autolik.pipeline import train as train_model

SELECTORS = ("analyser", "empirical")


def _choose(data, *, likelihood, mode, preprocessing, recommendation, select, seed, quiet, key, model_options):
    """The Recommendation to build the model from."""
    if select not in SELECTORS:
        raise UsageError(f"select must be one of {SELECTORS}, got {select!r}")
    forced = any(v is not None for v in (likelihood, mode, preprocessing))
    if recommendation is not None:
        if forced or select != "analyser":
            raise UsageError("pass either recommendation= or likelihood/mode/preprocessing/select, not both")
        if int(recommendation.n_columns) != int(data.dataset.data.shape[1]):
            raise DataError(f"the recommendation is for {recommendation.n_columns} columns but the data has "
                            f"{data.dataset.data.shape[1]}; recommend() on this data")
        return recommendation
    if select == "empirical":
        if forced:
            raise UsageError("select='empirical' picks the likelihood itself; drop likelihood/mode/preprocessing")
        from autolik.compare import select_empirical

        return select_empirical(data, seed=seed, quiet=quiet, key=key, **model_options)
    return analyse(data, likelihood=likelihood, mode=mode, preprocessing=preprocessing)


def fit(X, *, likelihood: str | None = None, mode: str | None = None, preprocessing: str | None = None,
        recommendation=None, key: str | None = None,
        latent_dim: int | None = None, hidden: Sequence[int] | None = None, architecture: str = "auto",
        epochs: int = 100, batch_size: int = 128, lr: float = 1e-3, patience: int = 10, min_steps: int = 1000,
        kl_warmup_epochs: int = 0,
        seed: int = 0, test_fraction: float = 0.1, val_fraction: float = 0.1, device: str = "auto",
        max_seconds: float | None = None, k: int = 100, quiet: bool = True, select: str = "analyser",
        profile=None, on_recommendation=None, log: str | None = None, checkpoint=None) -> "FittedVAE":
    """Choose the likelihood for X, train a VAE with it, and evaluate it on held-out rows.

    Args:
        X: array-like of shape (n_samples, n_features) or images (n_samples, H, W) / (n_samples, C, H, W),
            a pandas DataFrame, a file path (.npy, .npz, .csv, .tsv, .parquet), a loaded Dataset, or a
            :class:`autolik.pipeline.Data` (loaded and profiled already).
        likelihood, mode, preprocessing: force the family, its scale/shape mode, the preprocessing.
        recommendation: build from this Recommendation instead of asking the analyser.
        key: array name inside an .npz file.
        latent_dim, hidden, architecture: the VAE (defaults scale with the number of features).
        epochs, batch_size, lr, patience, min_steps, kl_warmup_epochs, device, max_seconds: training
            (early stopping after ``patience`` epochs without progress, once ``min_steps`` steps ran).
        log: a file for one JSON line per epoch (loss, validation loss, best epoch, seconds).
        seed: seeds the split, the initial weights, batching and dequantisation noise.
        test_fraction, val_fraction: held-out fractions of rows (test may be 0: no test metrics).
        k: importance samples for the IWAE bound on the test split.
        quiet: no progress bar on stderr.
        select: ``"analyser"`` (default) or ``"empirical"`` (short trial fits, :mod:`autolik.compare`).
        profile: a Profile of X already computed (skips profiling again).
        on_recommendation: called with the Recommendation before training (the CLI prints it).
        checkpoint: an :class:`autolik.checkpoint.Checkpointer` (``autolik fit --out``): training writes
            checkpoints to it, and a resuming one gives the recommendation and the state to start from.

    Launched by torchrun (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` set, more than one process), every
    process calls ``fit`` with the same arguments and trains its share of a data-parallel run
    (:mod:`autolik.distributed`): rank 0 chooses the likelihood and broadcasts it, ``batch_size`` is the
    global batch, only rank 0 draws progress, writes ``log`` and calls ``on_recommendation``; every
    process returns the same model.

    Returns:
        FittedVAE, with ``metrics`` from :func:`autolik.evaluate.evaluate` on the test rows.
    """
    world = current(device)
    if world is not None:  # this process's share of a data-parallel run
        device, quiet, log = world.device(device), quiet or not world.main, log if world.main else None
    training = Training(latent_dim=latent_dim, hidden=hidden, architecture=architecture, epochs=epochs,
                        batch_size=batch_size, lr=lr, patience=patience, min_steps=min_steps,
                        kl_warmup_epochs=kl_warmup_epochs, seed=seed, test_fraction=test_fraction,
                        val_fraction=val_fraction, device=device, max_seconds=max_seconds, k=k, quiet=quiet, log=log,
                        select=select)
    training.check()  # a bad --device, k or fraction fails before any loading or profiling
    check_world(world, None, training.loop_options()["batch_size"])
    data = prepare(X, key, profile, quiet=quiet)
    split = training.split(data.n_samples)  # too few rows fail before the recommendation is printed
    check_world(world, len(split["train"]), training.loop_options()["batch_size"])
    refuse_infinite(data)  # so do infinite values
    if checkpoint is not None and checkpoint.resuming:  # the choice is the checkpoint's (no trial fits again)
        rec = checkpoint.recommendation()
    else:
        def choose():
            return _choose(data, likelihood=likelihood, mode=mode, preprocessing=preprocessing,
                           recommendation=recommendation, select=select, seed=seed, quiet=quiet, key=key,
                           model_options=dict(latent_dim=latent_dim, hidden=hidden, architecture=architecture,
                                              batch_size=batch_size, lr=lr, device=device))

        rec = choose() if world is None else world.agree(choose, lambda r: r.to_dict(), _recommendation)
    if on_recommendation is not None and (world is None or world.main):
        on_recommendation(rec)
    return train_model(data, rec, training, checkpoint=checkpoint, world=world)


def _recommendation(d: dict):
    """A Recommendation from its dict form (how rank 0's choice reaches the other processes)."""
    from autolik.analysis.recommendation.recommend import Recommendation

    return Recommendation.from_dict(d)


def load(path) -> FittedVAE:
    """Load a model directory written by :meth:`FittedVAE.save` (or ``autolik fit --out``)."""
    return load_fitted(path)

"""The library entry points: ``fit(X, **options) -> FittedVAE`` and ``load(path) -> FittedVAE``.

``fit`` loads the data, profiles it, takes the analyser's recommendation (or a forced family, an
empirical selection, or a given Recommendation), splits rows into train/validation/test by seed,
builds the likelihood and the VAE, trains, and evaluates on the held-out test rows in the units
of the original data. ``FittedVAE`` (:mod:`autolik.fitted`, imported from here too) encodes,
decodes, samples and reconstructs in the original data's units, dtype and shape, scores rows,
and saves itself (see :mod:`autolik.persist`).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from autolik.errors import DataError, UsageError
from autolik.fitted import (  # noqa: F401  (FittedVAE and its constants: imported from autolik.api too)
    SAMPLE_CHUNK_ROWS,
    SAMPLE_CHUNK_VALUES,
    SCORE_SAMPLES,
    FittedVAE,
    load_fitted,
)
from autolik.outputs import OutputSpec, load_dataset

SELECTORS = ("analyser", "empirical")


def split_indices(n: int, seed: int = 0, test_fraction: float = 0.1, val_fraction: float = 0.1) -> dict:
    """Row indices of the train/val/test splits; they depend only on (n, seed, fractions).

    Returns:
        dict with sorted int arrays ``"train"``, ``"val"``, ``"test"`` (test may be empty when
        ``test_fraction == 0``).
    """
    if not (0 <= test_fraction < 1 and 0 < val_fraction < 1 and test_fraction + val_fraction < 1):
        raise UsageError(f"need 0 <= test_fraction < 1, 0 < val_fraction < 1 and their sum < 1, "
                         f"got test_fraction={test_fraction}, val_fraction={val_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    n_val = max(1, round(n * val_fraction))
    if n - n_test - n_val < 1:
        raise DataError(f"{n} rows are too few to split into train, validation and test sets; "
                        "pass more rows or smaller --test-fraction")
    return {"test": np.sort(perm[:n_test]), "val": np.sort(perm[n_test:n_test + n_val]),
            "train": np.sort(perm[n_test + n_val:])}


def _choose(dataset, profile, *, likelihood, mode, preprocessing, recommendation, select, seed, quiet, X, key,
            model_options=None):
    """The Recommendation to build the model from."""
    if select not in SELECTORS:
        raise UsageError(f"select must be one of {SELECTORS}, got {select!r}")
    forced = any(v is not None for v in (likelihood, mode, preprocessing))
    if recommendation is not None:
        if forced or select != "analyser":
            raise UsageError("pass either recommendation= or likelihood/mode/preprocessing/select, not both")
        if int(recommendation.n_columns) != int(dataset.data.shape[1]):
            raise DataError(f"the recommendation is for {recommendation.n_columns} columns but the data has "
                            f"{dataset.data.shape[1]}; recommend() on this data")
        return recommendation
    if select == "empirical":
        if forced:
            raise UsageError("select='empirical' picks the likelihood itself; drop likelihood/mode/preprocessing")
        from autolik.compare import select_empirical

        return select_empirical(X, seed=seed, quiet=quiet, key=key, **(model_options or {}))
    from autolik.analysis.recommend import recommend

    return recommend(profile, likelihood=likelihood, mode=mode, preprocessing=preprocessing)


def _is_lattice(profile: dict, columns: Sequence[int]) -> bool:
    feats = profile["features"]
    return bool(columns) and all(feats[c].get("is_integer") or feats[c].get("grid_step") for c in columns)


def _image_shape(rec, profile: dict, n_used: int):
    shape = rec.image_shape or profile.get("image_shape")
    return tuple(shape) if shape is not None and math.prod(shape) == n_used else None


def _refuse_infinite(dataset, profile) -> None:
    """DataError naming the first infinite cells, found from the profile's counts (no scan otherwise)."""
    from autolik.outputs import refuse_infinite
    from autolik.sparse import columns, is_sparse

    bad = [j for j, f in enumerate(profile.features) if getattr(f, "n_posinf", 0) or getattr(f, "n_neginf", 0)]
    if bad:
        block = columns(dataset.data, bad)
        refuse_infinite(block.toarray() if is_sparse(block) else block, [f"column {dataset.names[j]!r}" for j in bad],
                        str(dataset.source))


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
            a pandas DataFrame, a file path (.npy, .npz, .csv, .tsv, .parquet) or a loaded Dataset.
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

    Returns:
        FittedVAE, with ``metrics`` from :func:`autolik.evaluate.evaluate` on the test rows.
    """
    import torch

    from autolik.model import VAE
    from autolik.train import TrainConfig, resolve_device, train

    resolve_device(device)  # a bad --device fails before any profiling or training
    if int(k) < 1 or int(epochs) < 1 or int(batch_size) < 1 or not lr > 0 or int(min_steps) < 0:
        raise UsageError(f"need k >= 1, epochs >= 1, batch_size >= 1, lr > 0 and min_steps >= 0; got k={k}, "
                         f"epochs={epochs}, batch_size={batch_size}, lr={lr}, min_steps={min_steps}")
    dataset = load_dataset(X, key)
    split = split_indices(dataset.n_samples, seed, test_fraction, val_fraction)  # bad fractions fail early
    if profile is None:
        from autolik.analysis.profile import inspect

        profile = inspect(dataset)
    _refuse_infinite(dataset, profile)  # before the recommendation is printed, not after it
    if checkpoint is not None and checkpoint.resuming:  # the choice is the checkpoint's (no trial fits again)
        rec = checkpoint.recommendation()
    else:
        rec = _choose(dataset, profile, likelihood=likelihood, mode=mode, preprocessing=preprocessing,
                      recommendation=recommendation, select=select, seed=seed, quiet=quiet, X=X, key=key,
                      model_options=dict(latent_dim=latent_dim, hidden=hidden, architecture=architecture,
                                         batch_size=batch_size, lr=lr, device=device))
    if on_recommendation is not None:
        on_recommendation(rec)
    prof_d = profile.to_dict() if hasattr(profile, "to_dict") else dict(profile)
    used = rec.used_columns
    if not used:
        raise DataError(_nothing_to_model(rec, profile))
    from autolik.sparse import columns, has_nan, rows

    x = columns(dataset.data, used)  # float64; sparse data stay sparse (dense mini-batches in train)
    torch.manual_seed(seed)
    model = VAE(rec.likelihood_module(), latent_dim=latent_dim, hidden=hidden, architecture=architecture,
                image_shape=_image_shape(rec, prof_d, len(used)), missing=has_nan(x))
    pre = rec.preprocessor()
    options = dict(epochs=int(epochs), batch_size=int(batch_size), lr=float(lr), patience=int(patience),
                   min_steps=int(min_steps), kl_warmup_epochs=int(kl_warmup_epochs), seed=int(seed), device=device,
                   max_seconds=max_seconds, quiet=bool(quiet), log=log)
    if checkpoint is not None:
        checkpoint.bind(rec, model, {"seed": int(seed), "n_samples": dataset.n_samples})
    history = train(model, pre, x[split["train"]], x[split["val"]], TrainConfig(**options), checkpoint=checkpoint)
    lattice = _is_lattice(prof_d, used)
    fitted = FittedVAE(recommendation=rec, preprocessor=pre, model=model, history=history, metrics={},
                       profile=prof_d, output=OutputSpec.build(dataset, prof_d, rec), lattice=lattice,
                       config={"training": options, "test_fraction": test_fraction, "val_fraction": val_fraction,
                               "k": int(k), "select": select},
                       split={"seed": int(seed), "n_samples": dataset.n_samples, **split})
    if len(split["test"]) and not history.interrupted:  # a stop signal asks for the weights, not for more work
        fitted.metrics = fitted._evaluate_used(rows(x, split["test"]), k=int(k))
    return fitted


def load(path) -> FittedVAE:
    """Load a model directory written by :meth:`FittedVAE.save` (or ``autolik fit --out``)."""
    return load_fitted(path)

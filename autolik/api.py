"""The library entry points: ``fit(X, **options) -> FittedVAE`` and ``load(path) -> FittedVAE``.

``fit`` loads the data, profiles it, takes the analyser's recommendation (or a forced family, an
empirical selection, or a given Recommendation), splits rows into train/validation/test by seed,
builds the likelihood and the VAE, trains, and evaluates on the held-out test rows in the units
of the original data. A ``FittedVAE`` encodes, decodes, samples and reconstructs in the original
data's units, dtype and shape, scores rows, and saves itself (see :mod:`autolik.persist`).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from autolik.errors import DataError, UsageError
from autolik.outputs import OutputSpec, load_dataset

SELECTORS = ("analyser", "empirical")
SCORE_SAMPLES = 10  # posterior draws averaged by FittedVAE.score_samples


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
        try:
            from autolik.compare import select_empirical
        except ImportError:
            raise UsageError("select='empirical' needs autolik.compare.select_empirical, which is not available; "
                             "use select='analyser'") from None
        return select_empirical(X, seed=seed, quiet=quiet, key=key, **(model_options or {}))
    from autolik.analysis.recommend import recommend

    return recommend(profile, likelihood=likelihood, mode=mode, preprocessing=preprocessing)


def _is_lattice(profile: dict, columns: Sequence[int]) -> bool:
    feats = profile["features"]
    return bool(columns) and all(feats[c].get("is_integer") or feats[c].get("grid_step") for c in columns)


def _image_shape(rec, profile: dict, n_used: int):
    shape = rec.image_shape or profile.get("image_shape")
    return tuple(shape) if shape is not None and math.prod(shape) == n_used else None


def fit(X, *, likelihood: str | None = None, mode: str | None = None, preprocessing: str | None = None,
        recommendation=None, key: str | None = None,
        latent_dim: int | None = None, hidden: Sequence[int] | None = None, architecture: str = "auto",
        epochs: int = 100, batch_size: int = 128, lr: float = 1e-3, patience: int = 10, kl_warmup_epochs: int = 0,
        seed: int = 0, test_fraction: float = 0.1, val_fraction: float = 0.1, device: str = "auto",
        max_seconds: float | None = None, k: int = 100, quiet: bool = True, select: str = "analyser",
        profile=None, on_recommendation=None) -> "FittedVAE":
    """Choose the likelihood for X, train a VAE with it, and evaluate it on held-out rows.

    Args:
        X: array-like of shape (n_samples, n_features) or images (n_samples, H, W) / (n_samples, C, H, W),
            a pandas DataFrame, a file path (.npy, .npz, .csv, .tsv, .parquet) or a loaded Dataset.
        likelihood, mode, preprocessing: force the family, its scale/shape mode, the preprocessing.
        recommendation: build from this Recommendation instead of asking the analyser.
        key: array name inside an .npz file.
        latent_dim, hidden, architecture: the VAE (defaults scale with the number of features).
        epochs, batch_size, lr, patience, kl_warmup_epochs, device, max_seconds: training.
        seed: seeds the split, the initial weights, batching and dequantisation noise.
        test_fraction, val_fraction: held-out fractions of rows (test may be 0: no test metrics).
        k: importance samples for the IWAE bound on the test split.
        quiet: no progress bar on stderr.
        select: ``"analyser"`` (default) or ``"empirical"`` (short trial fits, :mod:`autolik.compare`).
        profile: a Profile of X already computed (skips profiling again).
        on_recommendation: called with the Recommendation before training (the CLI prints it).

    Returns:
        FittedVAE, with ``metrics`` from :func:`autolik.evaluate.evaluate` on the test rows.
    """
    import torch

    from autolik.model import VAE
    from autolik.train import TrainConfig, resolve_device, train

    resolve_device(device)  # a bad --device fails before any profiling or training
    if int(k) < 1 or int(epochs) < 1 or int(batch_size) < 1 or not lr > 0:
        raise UsageError(f"need k >= 1, epochs >= 1, batch_size >= 1 and lr > 0; got k={k}, epochs={epochs}, "
                         f"batch_size={batch_size}, lr={lr}")
    dataset = load_dataset(X, key)
    split = split_indices(dataset.n_samples, seed, test_fraction, val_fraction)  # bad fractions fail early
    if profile is None:
        from autolik.analysis.profile import inspect

        profile = inspect(dataset)
    rec = _choose(dataset, profile, likelihood=likelihood, mode=mode, preprocessing=preprocessing,
                  recommendation=recommendation, select=select, seed=seed, quiet=quiet, X=X, key=key,
                  model_options=dict(latent_dim=latent_dim, hidden=hidden, architecture=architecture,
                                     batch_size=batch_size, lr=lr, device=device))
    if on_recommendation is not None:
        on_recommendation(rec)
    prof_d = profile.to_dict() if hasattr(profile, "to_dict") else dict(profile)
    used = rec.used_columns
    if not used:
        raise DataError("every feature was left out (constant, identifier or date); nothing to model")
    from autolik.sparse import columns, has_nan, rows

    x = columns(dataset.data, used)  # float64; sparse data stay sparse (dense mini-batches in train)
    torch.manual_seed(seed)
    model = VAE(rec.likelihood_module(), latent_dim=latent_dim, hidden=hidden, architecture=architecture,
                image_shape=_image_shape(rec, prof_d, len(used)), missing=has_nan(x))
    pre = rec.preprocessor()
    options = dict(epochs=int(epochs), batch_size=int(batch_size), lr=float(lr), patience=int(patience),
                   kl_warmup_epochs=int(kl_warmup_epochs), seed=int(seed), device=device,
                   max_seconds=max_seconds, quiet=bool(quiet))
    history = train(model, pre, x[split["train"]], x[split["val"]], TrainConfig(**options))
    lattice = _is_lattice(prof_d, used)
    fitted = FittedVAE(recommendation=rec, preprocessor=pre, model=model, history=history, metrics={},
                       profile=prof_d, output=OutputSpec.build(dataset, prof_d, rec), lattice=lattice,
                       config={"training": options, "test_fraction": test_fraction, "val_fraction": val_fraction,
                               "k": int(k), "select": select},
                       split={"seed": int(seed), "n_samples": dataset.n_samples, **split})
    if len(split["test"]):
        fitted.metrics = fitted._evaluate_used(rows(x, split["test"]), k=int(k))
    return fitted


class FittedVAE:
    """A trained VAE with everything needed to use it in the original data's units.

    Attributes:
        recommendation: the Recommendation the model was built from.
        preprocessor: the Preprocessor of the used columns.
        model: the trained :class:`autolik.model.VAE`.
        history: the training History.
        metrics: held-out figures on the test split (the :func:`autolik.evaluate.evaluate` dict).
        profile: the data profile (dict).
        output: :class:`autolik.outputs.OutputSpec` (columns, dtype, shape, levels of the source).
        lattice: True when every used feature is integer or on a grid (bits per dim are reported).
        config: training options; split: seed, n_samples (and index arrays after ``fit``).
    """

    def __init__(self, recommendation, preprocessor, model, history, metrics: dict, profile: dict,
                 output: OutputSpec, lattice: bool, config: dict, split: dict):
        self.recommendation, self.preprocessor, self.model = recommendation, preprocessor, model
        self.history, self.metrics, self.profile, self.output = history, metrics, profile, output
        self.lattice, self.config, self.split = lattice, config, split

    # -- plumbing ----------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return int(self.split.get("seed", 0))

    @property
    def source_shape(self) -> tuple:
        """Per-sample shape of the training data: ``()``, ``(d,)``, ``(H, W)`` or ``(C, H, W)``."""
        return tuple(self.output.sample_shape)

    @property
    def latent_dim(self) -> int:
        return int(self.model.latent_dim)

    def _device(self):
        return next(self.model.parameters()).device

    def _batches(self, x: np.ndarray, batch_size: int = 1024):
        for i in range(0, len(x), batch_size):
            yield x[i:i + batch_size]

    def _check_missing(self, x: np.ndarray) -> None:
        if not self.model.missing and np.isnan(x).any():
            raise DataError("the data has missing values (NaN) but the model was trained without any; "
                            "fill them in, or refit on data with missing values")

    def _model_space(self, x: np.ndarray):
        """Original units -> model space at the centre of each dequantisation cell (float32 tensor)."""
        import torch

        t = torch.from_numpy(x) + 0.5 * self.preprocessor.step
        return self.preprocessor.forward(t, dequantize=False).to(self._device())

    def _to_original(self, y) -> np.ndarray:
        """Model-space values (tensor (n, d)) -> the source's units, dtype and shape."""
        x = self.preprocessor.inverse(y.detach().cpu()) - 0.5 * self.preprocessor.step
        return self.output.finish(x.numpy())

    def _point(self, raw):
        """The decoder's point estimate in model space: the mean, or the mode where the mean is undefined."""
        lik = self.model.likelihood
        point = getattr(lik, "point", None)
        return point(raw) if callable(point) else lik.mean(raw)

    # -- the public methods ------------------------------------------------------------------
    def encode(self, X) -> np.ndarray:
        """Latent means of q(z | x), array of shape (n_samples, latent_dim)."""
        import torch

        x = self.output.read(X)
        self._check_missing(x)
        self.model.eval()
        with torch.no_grad():
            out = [self.model.encode(self._model_space(b)).loc.cpu() for b in self._batches(x)]
        return torch.cat(out).numpy().astype(np.float64) if out else np.zeros((0, self.latent_dim))

    def decode(self, z) -> np.ndarray:
        """Mean of p(x | z) in the original units, dtype and shape; z: array of shape (n, latent_dim)."""
        import torch

        z = np.asarray(z, dtype=np.float32).reshape(-1, self.latent_dim)
        self.model.eval()
        with torch.no_grad():
            ys = [self._point(self.model.decode(torch.from_numpy(b).to(self._device()))) for b in self._batches(z)]
        return self._to_original(torch.cat(ys)) if ys else self.output.finish(np.zeros((0, len(self.output.used_columns))))

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` draws x ~ p(x | z), z ~ N(0, I), in the original units, dtype and shape."""
        import torch

        if int(n) < 1:
            raise UsageError(f"n must be >= 1, got {n}")
        self.model.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed if seed is None else int(seed))
            z = torch.randn(int(n), self.latent_dim).to(self._device())
            y = self.model.likelihood.sample(self.model.decode(z))
        return self._to_original(y)

    def reconstruct(self, X) -> np.ndarray:
        """decode(encode(X)): the decoder's mean at the latent means, in X's units, dtype and shape."""
        return self.decode(self.encode(X))

    def _evaluate_used(self, x: np.ndarray, k: int) -> dict:
        from autolik.evaluate import evaluate

        self._check_missing(x)
        self.model.eval()
        return evaluate(self.model, self.preprocessor, x, k=k, seed=self.seed, lattice=self.lattice)

    def evaluate(self, X, k: int = 100) -> dict:
        """Negative ELBO and IWAE NLL of X (nats per sample and per dim; bits per dim on lattice data)."""
        return self._evaluate_used(self.output.read(X), k=int(k))

    def score_samples(self, X) -> np.ndarray:
        """ELBO of each row in nats, in the original data's units (higher is better); shape (n_samples,).

        The ELBO is averaged over ``SCORE_SAMPLES`` posterior draws with the model's seed, so it is
        deterministic and agrees with ``-evaluate(X, k=SCORE_SAMPLES)["neg_elbo_nats_per_sample"]``.
        """
        from autolik.evaluate import per_sample

        x = self.output.read(X)
        self._check_missing(x)
        return per_sample(self.model, self.preprocessor, x, k=SCORE_SAMPLES, seed=self.seed)["elbo"]

    def score(self, X) -> float:
        """Mean ELBO per row in nats (higher is better)."""
        return float(np.mean(self.score_samples(X)))

    def save(self, path, force: bool = False) -> Path:
        """Write the model directory (see :mod:`autolik.persist`); refuses to overwrite unless ``force``."""
        from autolik.persist import save_fitted

        return save_fitted(self, path, force=force)

    def __repr__(self) -> str:
        return (f"FittedVAE(likelihood={self.recommendation.likelihood!r}, latent_dim={self.latent_dim}, "
                f"epochs_run={getattr(self.history, 'epochs_run', None)})")


def load(path) -> FittedVAE:
    """Load a model directory written by :meth:`FittedVAE.save` (or ``autolik fit --out``)."""
    from autolik.persist import load_fitted

    return load_fitted(path)

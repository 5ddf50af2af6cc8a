"""The library entry points: ``fit(X, **options) -> FittedVAE`` and ``load(path) -> FittedVAE``.

``fit`` loads the data, profiles it, takes the analyser's recommendation (or a forced family, an
empirical selection, or a given Recommendation), splits rows into train/validation/test by seed,
builds the likelihood and the VAE, trains, and evaluates on the held-out test rows in the units
of the original data. A ``FittedVAE`` encodes, decodes, samples and reconstructs in the original
data's units, dtype and shape, scores rows, and saves itself (see :mod:`autolik.persist`).
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from autolik.errors import DataError, DataWarning, UsageError
from autolik.outputs import OutputSpec, load_dataset

SELECTORS = ("analyser", "empirical")
SCORE_SAMPLES = 10  # posterior draws averaged by FittedVAE.score_samples
SAMPLE_CHUNK_VALUES = 1 << 22  # values per layer in one chunk of FittedVAE.sample_chunks (16 MB as float32)
SAMPLE_CHUNK_ROWS = 1 << 16


def _count(value, name: str, minimum: int = 1) -> int:
    """A whole number >= minimum (3 and 3.0 pass; 2.5, True, "3" and 0 are UsageErrors)."""
    ok = isinstance(value, (int, np.integer, float, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not ok or not math.isfinite(value) or value != int(value) or value < minimum:
        raise UsageError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


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


def _refuse_infinite(dataset, profile) -> None:
    """DataError naming the first infinite cells, found from the profile's counts (no scan otherwise)."""
    from autolik.outputs import cells_text
    from autolik.sparse import columns, is_sparse

    bad = [j for j, f in enumerate(profile.features) if getattr(f, "n_posinf", 0) or getattr(f, "n_neginf", 0)]
    if bad:
        block = columns(dataset.data, bad)
        block = block.toarray() if is_sparse(block) else block
        rows, cols = np.nonzero(np.isinf(block))
        where = cells_text(rows, cols, [f"column {dataset.names[j]!r}" for j in bad], block)
        raise DataError(f"{dataset.source}: infinite values at {where}; replace them with finite numbers, or leave "
                        "the cells empty to mark them missing")


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
        profile=None, on_recommendation=None) -> "FittedVAE":
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
    _refuse_infinite(dataset, profile)  # before the recommendation is printed, not after it
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

    def _check_missing(self, x: np.ndarray, source: str = "the data") -> None:
        if not self.model.missing and np.isnan(x).any():
            from autolik.outputs import cells_text

            rows, cols = np.nonzero(np.isnan(x))
            names = self.output.used_labels()
            raise DataError(f"{source} has missing values (NaN or empty cells) at {cells_text(rows, cols, names)} but "
                            "the model was trained without any; fill them in, or refit on data with missing values")

    def _supports(self) -> list:
        """Per used column, the values the likelihood can score, in data units (computed once)."""
        if getattr(self, "_support_cache", None) is None:
            from autolik.model_support import column_supports

            families = [f.likelihood for f in self.recommendation.used for _ in f.columns]
            self._support_cache = column_supports(self.model.likelihood, self.preprocessor, families)
        return self._support_cache

    def _read(self, X, strict: bool) -> np.ndarray:
        """X's model columns (by name where X has names), checked: no +-inf, no unexpected NaN, in the support.

        Values outside the likelihood's support have no likelihood: ``strict`` (scoring) refuses
        them, naming rows, columns and the support; otherwise (encode, reconstruct) a
        :class:`~autolik.errors.DataWarning` says the results for those rows extrapolate.
        """
        from autolik.model_support import outside
        from autolik.outputs import cells_text

        x, source = self.output.read_source(X)
        self._check_missing(x, source)
        supports = self._supports()
        bad = outside(x, supports)
        if bad.any():
            rows, cols = np.nonzero(bad)
            names = self.output.used_labels()
            allowed = "; ".join(f"{names[j]} ({supports[j].family}): {supports[j].describe()}"
                                for j in sorted(set(cols.tolist()))[:3])
            text = (f"{source}: {len(set(rows.tolist()))} of {len(x)} rows hold values outside the model's support, "
                    f"at {cells_text(rows, cols, names, x)} (allowed: {allowed})")
            if strict:
                raise DataError(f"{text}; the model has no likelihood for them: fix or drop those rows")
            warnings.warn(f"{text}; their results extrapolate", DataWarning, stacklevel=3)
        return x

    def _model_space(self, x: np.ndarray):
        """Original units -> model space at the centre of each dequantisation cell (float32 tensor)."""
        import torch

        t = torch.from_numpy(x) + 0.5 * self.preprocessor.step
        return self.preprocessor.forward(t, dequantize=False).to(self._device())

    def _to_original(self, y, first_row: int = 0) -> np.ndarray:
        """Model-space values (tensor (n, d)) -> the source's units, dtype and shape."""
        x = self.preprocessor.inverse(y.detach().cpu()) - 0.5 * self.preprocessor.step
        x = x.numpy()
        if not np.isfinite(x).all():
            raise DataError("the model produced non-finite values: its weights or preprocessor.json are damaged "
                            "(or training diverged); refit the model")
        return self.output.finish(x, first_row)

    def _point(self, raw):
        """The decoder's point estimate in model space: the mean, or the mode where the mean is undefined."""
        lik = self.model.likelihood
        point = getattr(lik, "point", None)
        return point(raw) if callable(point) else lik.mean(raw)

    def _finite(self, values: np.ndarray, what: str) -> np.ndarray:
        """Scores must be finite: a NaN or infinity here means a damaged model, not a result."""
        values = np.asarray(values)
        if values.size and not np.isfinite(values).all():
            raise DataError(f"the model gave non-finite {what}; its files are damaged or training diverged: refit it")
        return values

    # -- the public methods ------------------------------------------------------------------
    def encode(self, X) -> np.ndarray:
        """Latent means of q(z | x), array of shape (n_samples, latent_dim).

        Rows with values outside the model's support are encoded with a
        :class:`~autolik.errors.DataWarning` (their encodings extrapolate).
        """
        return self._encode(self._read(X, strict=False))

    def _encode(self, x: np.ndarray) -> np.ndarray:
        import torch

        self.model.eval()
        with torch.no_grad():
            out = [self.model.encode(self._model_space(b)).loc.cpu() for b in self._batches(x)]
        z = torch.cat(out).numpy().astype(np.float64) if out else np.zeros((0, self.latent_dim))
        return self._finite(z, "latent means")

    def decode(self, z) -> np.ndarray:
        """Mean of p(x | z) in the original units, dtype and shape.

        Args:
            z: array of shape (n, latent_dim) (one row may be given as shape (latent_dim,)).
        """
        import torch

        z = np.asarray(z)
        if z.dtype.kind not in "biuf":
            raise DataError(f"decode expects numbers, got an array of dtype {z.dtype}; pass latent vectors "
                            f"of shape (n, {self.latent_dim})")
        if z.ndim == 1 and len(z) == self.latent_dim:
            z = z.reshape(1, -1)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise DataError(f"decode expects latent vectors of shape (n, {self.latent_dim}), got shape {z.shape}; "
                            "pass encode()'s output or rows of that width")
        if not np.isfinite(z).all():
            raise DataError("decode got NaN or infinite latent values; pass finite numbers")
        z = z.astype(np.float32)
        self.model.eval()
        with torch.no_grad():
            ys = [self._point(self.model.decode(torch.from_numpy(b).to(self._device()))) for b in self._batches(z)]
        return self._to_original(torch.cat(ys)) if ys else self.output.finish(np.zeros((0, len(self.output.used_columns))))

    def sample_chunks(self, n: int, seed: int | None = None):
        """``sample(n, seed)`` in consecutive chunks of at most :meth:`chunk_rows` samples (the same draws).

        Streams any number of samples in bounded memory: the random stream is carried from one
        chunk to the next, and the caller's own use of torch's generator between chunks changes nothing.
        """
        import torch

        n = _count(n, "n")
        seed = self.seed if seed is None else _count(seed, "seed", minimum=0)
        rows, state = self.chunk_rows(), None
        self.model.eval()
        for start in range(0, n, rows):
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                if state is None:
                    torch.manual_seed(seed)
                else:
                    torch.set_rng_state(state)
                z = torch.randn(min(rows, n - start), self.latent_dim).to(self._device())
                y = self.model.likelihood.sample(self.model.decode(z))
                state = torch.get_rng_state()
            yield self._to_original(y, first_row=start)

    def chunk_rows(self) -> int:
        """Samples drawn at once by :meth:`sample_chunks`: about ``SAMPLE_CHUNK_VALUES`` values in the widest
        layer (hidden, raw outputs or data columns), at most ``SAMPLE_CHUNK_ROWS``."""
        widest = max(int(self.model.likelihood.n_raw), int(self.output.n_columns), *self.model.hidden)
        return max(1, min(SAMPLE_CHUNK_ROWS, SAMPLE_CHUNK_VALUES // widest))

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` draws x ~ p(x | z), z ~ N(0, I), in the original units, dtype and shape."""
        return np.concatenate(list(self.sample_chunks(n, seed)))

    def reconstruct(self, X) -> np.ndarray:
        """decode(encode(X)): the decoder's mean at the latent means, in X's units, dtype and shape."""
        return self.decode(self.encode(X))

    def _evaluate_used(self, x: np.ndarray, k: int) -> dict:
        from autolik.evaluate import evaluate

        self._check_missing(x)
        self.model.eval()
        metrics = evaluate(self.model, self.preprocessor, x, k=k, seed=self.seed, lattice=self.lattice)
        self._finite([metrics["neg_elbo_nats_per_sample"], metrics["nll_iwae_nats_per_sample"]], "log-likelihoods")
        return metrics

    def evaluate(self, X, k: int = 100) -> dict:
        """Negative ELBO and IWAE NLL of X (nats per sample and per dim; bits per dim on lattice data).

        Raises DataError for rows with values outside the model's support (no likelihood exists for them).
        """
        return self._evaluate_used(self._read(X, strict=True), k=_count(k, "k"))

    def score_samples(self, X) -> np.ndarray:
        """ELBO of each row in nats, in the original data's units (higher is better); shape (n_samples,).

        The ELBO is averaged over ``SCORE_SAMPLES`` posterior draws with the model's seed, so it is
        deterministic and agrees with ``-evaluate(X, k=SCORE_SAMPLES)["neg_elbo_nats_per_sample"]``.
        Raises DataError for rows with values outside the model's support.
        """
        from autolik.evaluate import per_sample

        x = self._read(X, strict=True)
        elbo = per_sample(self.model, self.preprocessor, x, k=SCORE_SAMPLES, seed=self.seed)["elbo"]
        return self._finite(elbo, "log-likelihoods")

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

"""``FittedVAE``: a trained VAE used in the original data's units, and its loading from a model directory.

A ``FittedVAE`` encodes, decodes, samples and reconstructs in the original data's units, dtype and
shape, scores rows, and saves itself (see :mod:`autolik.persist`). :func:`autolik.pipeline.train`
makes one (for ``autolik.fit`` and every ``compare`` candidate); :func:`load_fitted` (``autolik.load``)
rebuilds one from the files. It lives below ``pipeline``, ``api`` and ``compare`` so that ``persist``
can build it without importing them.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from autolik.errors import DataError, DataWarning, UsageError
from autolik.outputs import OutputSpec

SCORE_SAMPLES = 10  # posterior draws averaged by FittedVAE.score_samples
SAMPLE_CHUNK_VALUES = 1 << 22  # values per layer in one chunk of FittedVAE.sample_chunks (16 MB as float32)
SAMPLE_CHUNK_ROWS = 1 << 16


def _count(value, name: str, minimum: int = 1) -> int:
    """A whole number >= minimum (3 and 3.0 pass; 2.5, True, "3" and 0 are UsageErrors)."""
    ok = isinstance(value, (int, np.integer, float, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not ok or not math.isfinite(value) or value != int(value) or value < minimum:
        raise UsageError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


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
        test_nll: IWAE negative log-likelihood of each test row (nats, in the split's order) or None; kept for
            paired comparisons in this process, not saved with the model.
    """

    def __init__(self, recommendation, preprocessor, model, history, metrics: dict, profile: dict,
                 output: OutputSpec, lattice: bool, config: dict, split: dict):
        self.recommendation, self.preprocessor, self.model = recommendation, preprocessor, model
        self.history, self.metrics, self.profile, self.output = history, metrics, profile, output
        self.lattice, self.config, self.split = lattice, config, split
        self.test_nll = None

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

    def _check_missing(self, x: np.ndarray, source: str = "the data", first_row: int = 0) -> None:
        if not self.model.missing and np.isnan(x).any():
            from autolik.outputs import cells_text

            rows, cols = np.nonzero(np.isnan(x))
            names = self.output.used_labels()
            raise DataError(f"{source} has missing values (NaN or empty cells) at "
                            f"{cells_text(rows, cols, names, first_row=first_row)} but "
                            "the model was trained without any; fill them in, or refit on data with missing values")

    def _supports(self) -> list:
        """Per used column, the values the likelihood can score, in data units (computed once)."""
        if getattr(self, "_support_cache", None) is None:
            from autolik.model_support import column_supports

            families = [f.likelihood for f in self.recommendation.used for _ in f.columns]
            self._support_cache = column_supports(self.model.likelihood, self.preprocessor, families)
        return self._support_cache

    def _read(self, X, strict: bool, first_row: int = 0) -> np.ndarray:
        """X's model columns (by name where X has names), checked: no +-inf, no unexpected NaN, in the support.

        Values outside the likelihood's support have no likelihood: ``strict`` (scoring) refuses
        them, naming rows, columns and the support; otherwise (encode, reconstruct) a
        :class:`~autolik.errors.DataWarning` says the results for those rows extrapolate.
        """
        from autolik.model_support import outside
        from autolik.outputs import cells_text

        x, source = self.output.read_source(X, first_row=first_row)
        self._check_missing(x, source, first_row)
        supports = self._supports()
        bad = outside(x, supports)
        if bad.any():
            rows, cols = np.nonzero(bad)
            names = self.output.used_labels()
            allowed = "; ".join(f"{names[j]} ({supports[j].family}): {supports[j].describe()}"
                                for j in sorted(set(cols.tolist()))[:3])
            count = f"{len(set(rows.tolist()))} of {len(x)} rows" if not first_row else \
                f"{len(set(rows.tolist()))} rows from data row {first_row + 1}"
            text = (f"{source}: {count} hold values outside the model's support, "
                    f"at {cells_text(rows, cols, names, x, first_row)} (allowed: {allowed})")
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

    def _evaluate_used(self, x, k: int, world=None, rows: bool = False) -> dict:
        """Held-out figures of x, the model's columns in original units: an array, or rows read a unit at a
        time (:class:`autolik.batches.RowSource`: the fit's own test rows, whose missing values the model's
        ``missing`` flag was set from, or :class:`_CheckedRows`, checked as they are read). ``world``: a
        data-parallel run's processes score a share each (:func:`autolik.evaluate.evaluate`)."""
        from autolik.evaluate import evaluate

        if isinstance(x, np.ndarray):
            self._check_missing(x)
        self.model.eval()
        metrics = evaluate(self.model, self.preprocessor, x, k=k, seed=self.seed, lattice=self.lattice, world=world,
                           rows=rows)
        self._finite([metrics["neg_elbo_nats_per_sample"], metrics["nll_iwae_nats_per_sample"]], "log-likelihoods")
        return metrics

    def evaluate(self, X, k: int = 100) -> dict:
        """Negative ELBO and IWAE NLL of X (nats per sample and per dim; bits per dim on lattice data).

        Raises DataError for rows with values outside the model's support (no likelihood exists for them).
        A memory-mapped ``.npy`` (or data larger than ``AUTOLIK_IN_MEMORY_MB``) is read, checked and scored a
        few thousand rows at a time, to the same figures.
        """
        k = _count(k, "k")
        X = _CheckedRows.loaded(X)
        rows = _CheckedRows.of(self, X)
        return self._evaluate_used(rows if rows is not None else self._read(X, strict=True), k=k)

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


class _CheckedRows:
    """New data for :meth:`FittedVAE.evaluate` that is not copied whole: read ``READ_BYTES`` of rows at a time,
    each block checked as :meth:`FittedVAE._read` checks it (rows named from the start of the file), and
    handed to the evaluation a unit at a time (:func:`autolik.evaluate.per_sample`)."""

    def __init__(self, fitted: FittedVAE, ds):
        self.fitted, self.ds = fitted, ds
        self.shape = (ds.n_samples, len(fitted.output.used_columns))

    @staticmethod
    def loaded(X):
        """A path loaded as a Dataset (once: the reading below takes it as it is); anything else as it is."""
        import os

        from autolik.outputs import load_dataset

        return load_dataset(X, min_rows=1) if isinstance(X, (str, os.PathLike)) else X

    @classmethod
    def of(cls, fitted: FittedVAE, ds):
        """The rows of a loaded Dataset to stream (see :func:`autolik.batches.streams`), or None to read it whole."""
        from autolik.batches import streams

        if not (hasattr(ds, "data") and hasattr(ds, "names") and hasattr(ds, "n_samples")):
            return None
        if not streams(ds.data, ds.n_samples, len(fitted.output.used_columns)):
            return None
        return cls(fitted, ds)

    def __len__(self) -> int:
        return self.shape[0]

    def units(self, size: int, keep=None):
        from dataclasses import replace

        from autolik.batches import READ_BYTES
        from autolik.io import release_rows

        data, n = self.ds.data, self.shape[0]
        per = max(size, (READ_BYTES // max(1, data.shape[1] * data.itemsize)) // size * size)
        unit = 0
        for a in range(0, n, per):
            b = min(n, a + per)
            view = replace(self.ds, data=data[a:b], shape=(b - a,) + tuple(self.ds.shape[1:]), notes=[])
            x = self.fitted._read(view, strict=True, first_row=a)
            release_rows(data, a, b)
            for start in range(0, b - a, size):
                part = x[start:start + size]
                yield unit, len(part), part if keep is None or keep(unit) else None
                unit += 1


def load_fitted(path) -> FittedVAE:
    """Rebuild a :class:`FittedVAE` from a model directory (JSON + tensors only; see :mod:`autolik.persist`)."""
    from autolik.persist import read_fitted

    return FittedVAE(**read_fitted(path))

"""``AutoVAE``: the fit API as a scikit-learn estimator (a transformer to latent means).

Follows the scikit-learn contract (``sklearn/base.py``, ``doc/developers/develop.rst``):
``__init__`` only stores its arguments, ``fit`` returns ``self``, learned state ends in ``_``,
``score`` is higher-is-better (the mean ELBO in nats, like PCA's mean log-likelihood) and
``score_samples`` gives it per row, so ``clone``, ``get_params``/``set_params``, pipelines and
grid search work.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


class AutoVAE(TransformerMixin, BaseEstimator):
    """A VAE whose output likelihood is chosen from the data (or forced with ``likelihood``).

    Args:
        likelihood: force this registered family; None lets the analyser choose.
        latent_dim: size of the latent space (default scales with the number of features).
        hidden: hidden layer widths, e.g. ``(512, 256)`` (default scales with the number of features).
        epochs, batch_size, lr, patience, kl_warmup_epochs: training.
        seed: seeds the split, initial weights, batching and noise.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        mode: scale/shape parameter mode of the family (``fixed | shared | feature | sample``).
        preprocessing: force ``"minmax"``, ``"standardize"`` or ``"none"``.
        architecture: ``"auto"``, ``"mlp"`` or ``"conv"``.
        val_fraction: rows held out for early stopping.
        test_fraction: rows held out for ``fitted_.metrics`` (default 0: train on everything).
        k: importance samples for the test metrics.
        max_seconds: training time budget.
        quiet: no progress bar.

    Attributes:
        fitted_: the :class:`autolik.api.FittedVAE`.
        recommendation_: the Recommendation the model was built from.
        n_features_in_: number of features of X (columns of its (n_samples, n_features) view).
        history_: the training History.
        metrics_: held-out figures when ``test_fraction > 0``, else ``{}``.
    """

    def __init__(self, likelihood=None, latent_dim=None, hidden=None, epochs=100, batch_size=128, lr=1e-3,
                 seed=0, device="auto", mode=None, preprocessing=None, architecture="auto", patience=10,
                 kl_warmup_epochs=0, val_fraction=0.1, test_fraction=0.0, k=100, max_seconds=None, quiet=True):
        self.likelihood = likelihood
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device
        self.mode = mode
        self.preprocessing = preprocessing
        self.architecture = architecture
        self.patience = patience
        self.kl_warmup_epochs = kl_warmup_epochs
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.k = k
        self.max_seconds = max_seconds
        self.quiet = quiet

    def fit(self, X, y=None):
        """Choose the likelihood and train the VAE on X (array-like of shape (n_samples, n_features) or images).

        Returns:
            self
        """
        from autolik.api import fit

        params = self.get_params()
        hidden = params.pop("hidden")
        self.fitted_ = fit(X, hidden=tuple(hidden) if hidden is not None else None, **params)
        self.recommendation_ = self.fitted_.recommendation
        self.n_features_in_ = int(self.fitted_.output.n_columns)
        self.history_ = self.fitted_.history
        self.metrics_ = self.fitted_.metrics
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        return self

    def transform(self, X) -> np.ndarray:
        """Latent means, array of shape (n_samples, latent_dim)."""
        check_is_fitted(self, "fitted_")
        return self.fitted_.encode(X)

    def inverse_transform(self, Z) -> np.ndarray:
        """Mean of p(x | z) in X's units, dtype and shape; Z: array of shape (n_samples, latent_dim)."""
        check_is_fitted(self, "fitted_")
        return self.fitted_.decode(Z)

    def score_samples(self, X) -> np.ndarray:
        """ELBO of each row in nats (original data units), array of shape (n_samples,)."""
        check_is_fitted(self, "fitted_")
        return self.fitted_.score_samples(X)

    def score(self, X, y=None) -> float:
        """Mean ELBO per row in nats; higher is better."""
        check_is_fitted(self, "fitted_")
        return self.fitted_.score(X)

    def sample(self, n_samples=1, random_state=None) -> np.ndarray:
        """Draws from the model, in X's units, dtype and shape."""
        check_is_fitted(self, "fitted_")
        return self.fitted_.sample(n_samples, seed=random_state)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the latent dimensions: ``autovae0``, ``autovae1``, ..."""
        check_is_fitted(self, "fitted_")
        return np.asarray([f"autovae{i}" for i in range(self.fitted_.latent_dim)], dtype=object)

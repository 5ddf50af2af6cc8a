"""autolik: choose the right output likelihood for a VAE from the data, then train the VAE with it.

Public API::

    autolik.inspect(X)            -> Profile           (X: array, DataFrame or path)
    autolik.recommend(X)          -> Recommendation    (X: array, DataFrame, path or Profile)
    autolik.fit(X, **options)     -> FittedVAE
    autolik.load(path)            -> FittedVAE
    autolik.AutoVAE(...)          scikit-learn style estimator
    autolik.available_likelihoods(), autolik.get_likelihood(name, n_features, **options)
    autolik.DataError, autolik.UsageError, autolik.DataWarning   what autolik raises and warns
"""
from __future__ import annotations

from autolik.errors import AutolikError, DataError, DataWarning, UsageError

__version__ = "0.1.0"

_LAZY = {
    "inspect": ("autolik.analysis.profiling.profile", "inspect"),
    "recommend": ("autolik.analysis.recommendation.recommend", "recommend"),
    "load_data": ("autolik.io", "load"),
    "Profile": ("autolik.analysis.profiling.profile", "Profile"),
    "Recommendation": ("autolik.analysis.recommendation.recommend", "Recommendation"),
    "available_likelihoods": ("autolik.likelihoods", "available_likelihoods"),
    "get_likelihood": ("autolik.likelihoods", "get_likelihood"),
    "fit": ("autolik.api", "fit"),
    "load": ("autolik.api", "load"),
    "FittedVAE": ("autolik.api", "FittedVAE"),
    "AutoVAE": ("autolik.estimator", "AutoVAE"),
    "compare": ("autolik.compare", "compare"),
}

__all__ = sorted([*_LAZY, "AutolikError", "DataError", "DataWarning", "UsageError"])


def __getattr__(name):  # lazy: `import autolik` stays fast and torch loads only when needed
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'autolik' has no attribute {name!r}")

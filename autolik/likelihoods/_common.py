"""Helpers shared by several heads: option checks and numerical floors."""
from __future__ import annotations

import torch

from autolik.errors import UsageError

# Floors that keep parameters away from the edges where log-densities explode.
SCALE_FLOOR = 1e-3  # scales of location-scale families (model units)
RATE_FLOOR = 1e-6  # Poisson/exponential rates, means of count and positive families
CONC_FLOOR = 1e-3  # concentrations, shapes, dispersions, degrees of freedom
# Concentrations learned on the log scale (Beta, Gamma) are capped here: beyond it float32 lgamma
# differences lose more than ~0.1 nats, and no feature's spread given z needs more (a Beta's sd at
# mean 1/2 is 0.0016 at 1e5).
CONC_CEIL = 1e5
UNIT_EPS = 1e-6  # x in [0,1] is clamped to [UNIT_EPS, 1 - UNIT_EPS] for Beta / continuous Bernoulli
PROB_EPS = 1e-6  # means in (0,1) are clamped to [PROB_EPS, 1 - PROB_EPS]


def total_count_tensor(name: str, value, n_features: int) -> torch.Tensor:
    """Validate a ``total_count`` option (an int, or one int per feature) -> float tensor (n_features,).

    Raises:
        UsageError: when missing, not a positive integer, or a list of the wrong length.
    """
    if value is None:
        raise UsageError(f"{name!r} needs total_count (the largest value, data are integers 0..total_count); "
                         f"got none. Pass total_count=N, or one N per feature")
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n_features
    if len(values) != n_features:
        raise UsageError(f"{name!r}: total_count has {len(values)} entries for {n_features} features; "
                         "pass one int, or one per feature")
    try:
        ints = [int(v) for v in values]
    except (TypeError, ValueError):
        raise UsageError(f"{name!r}: total_count must be integers >= 1, got {value!r}") from None
    if any(i != v or i < 1 for i, v in zip(ints, values)):
        raise UsageError(f"{name!r}: total_count must be integers >= 1, got {value!r}")
    return torch.tensor(ints, dtype=torch.float32)


def clamp_unit(x: torch.Tensor, eps: float = UNIT_EPS) -> torch.Tensor:
    """Clamp x into [eps, 1 - eps] (NaN stays NaN, so masking still sees it)."""
    return x.clamp(eps, 1.0 - eps)

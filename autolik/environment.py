"""Numbers autolik reads from environment variables, checked once in one place.

``AUTOLIK_IN_MEMORY_MB`` (:mod:`autolik.batches`) and ``AUTOLIK_CHECKPOINT_SECONDS``
(:mod:`autolik.checkpoint`) are non-negative numbers; a bad value is a one-line usage error that
names the variable, what it must be and how to get the default back.
"""
from __future__ import annotations

import os

from autolik.errors import UsageError


def env_number(name: str, default: float, unit: str) -> float:
    """``$name`` as a number >= 0 (``unit`` names it in the error), or ``default`` when unset or empty."""
    env = os.environ.get(name, "").strip()
    if not env:
        return default
    try:
        value = float(env)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise UsageError(f"{name} must be a number of {unit} >= 0, got {env!r}; unset it for the default ({default:g})")
    return value

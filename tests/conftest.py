"""Shared fixtures: small models trained once per session (each fit profiles, recommends and trains)."""
from __future__ import annotations

import numpy as np
import pytest

TINY = dict(hidden=(8,), latent_dim=2, batch_size=64, k=2, quiet=True, epochs=1)


def mixed_frame(n=120, seed=0):
    """Counts, [0,1] fractions, colour names, an identifier and a constant: every kind of column."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({"count": rng.poisson(3, n), "frac": rng.random(n), "colour": rng.choice(["r", "g", "b"], n),
                         "id": np.arange(n), "const": np.ones(n)})


@pytest.fixture(scope="session")
def mixed_model(tmp_path_factory):
    """(model directory, training DataFrame) of a mixed-table model: poisson, continuous Bernoulli, categorical."""
    pytest.importorskip("pandas")
    import autolik

    frame = mixed_frame()
    path = tmp_path_factory.mktemp("mixed") / "model"
    autolik.fit(frame, **TINY).save(path)
    return path, frame

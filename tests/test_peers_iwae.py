"""benchmarks/peers.py: the one IWAE function every peer's held-out NLL goes through is exact when
q is the true posterior, and a bound that tightens with k otherwise."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import torch

spec = importlib.util.spec_from_file_location("peers", Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py")
peers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peers)


def _log_px(z, x):  # x | z ~ N(z, 1), one dimension
    return torch.distributions.Normal(z, 1.0).log_prob(x).sum(-1)


def test_iwae_is_exact_with_the_true_posterior_and_a_bound_otherwise():
    x = torch.linspace(-3, 3, 7, dtype=torch.float64).reshape(-1, 1)
    exact = -(-0.5 * x.ravel() ** 2 / 2 - 0.5 * math.log(2 * math.pi * 2)).numpy()  # p(x) = N(0, 2)
    posterior = lambda xb: (xb / 2, torch.full_like(xb, math.sqrt(0.5)))  # noqa: E731
    np.testing.assert_allclose(peers.iwae_nll(posterior, _log_px, x, k=3), exact, rtol=1e-12)
    wide = lambda xb: (torch.zeros_like(xb), torch.full_like(xb, 2.0))  # noqa: E731
    k1, k500 = peers.iwae_nll(wide, _log_px, x, k=1, seed=1), peers.iwae_nll(wide, _log_px, x, k=500, seed=1)
    assert np.all(np.abs(k500 - exact) < 0.1) and k1.mean() > k500.mean() > exact.mean() - 0.02

"""The judge is honest: on discrete data of known entropy, no comparable candidate scores below it.

The cross-entropy of any probability model of discrete data is at least the data's entropy. A
candidate that beats the entropy is being scored as a density at lattice points (or over fewer
columns) instead of as a mass: exactly the failure of issue 10, where identity + MSE on
standardised binary columns was scored at -0.36 nats/dim against an entropy of 0.135. Each case
here draws independent columns from known distributions, so the entropy of a row is the sum of
the columns' entropies; the check is made against the true distribution's mean negative
log-probability on the same held-out rows, with three standard errors of slack.
"""
from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from scipy import stats

from autolik.compare import compare

N = 1500
FAST = dict(epochs=3, k=8, latent_dim=2, hidden=[32], batch_size=128, seed=0)
# continuous families beside the automatic candidates (pick, alternatives, naive BCE and MSE)
DENSITIES = ["gaussian:shared", "laplace", "student_t"]


def _binary(rng, p, d):
    p = np.asarray(p, dtype=float) * np.ones(d)
    x = (rng.random((N, d)) < p).astype(float)
    return x, stats.bernoulli.logpmf(x, p).sum(1)


def _onehot(rng, probs, blocks):
    cols, logp = [], np.zeros(N)
    for _ in range(blocks):
        k = rng.choice(len(probs), size=N, p=probs)
        cols.append(np.eye(len(probs))[k])
        logp += np.log(np.asarray(probs))[k]
    return np.hstack(cols), logp


def _poisson(rng, rates):
    x = rng.poisson(rates, size=(N, len(rates))).astype(float)
    return x, stats.poisson.logpmf(x, rates).sum(1)


def _binomial(rng, n, p, d):
    x = rng.binomial(n, p, size=(N, d)).astype(float)
    return x, stats.binom.logpmf(x, n, p).sum(1)


CASES = {
    "binary p=0.5": lambda rng: _binary(rng, 0.5, 8),
    "rare binary p=0.03": lambda rng: _binary(rng, 0.03, 20),
    "binary -1/+1 mixed p": lambda rng: (lambda x, lp: (2 * x - 1, lp))(*_binary(rng, np.linspace(0.1, 0.6, 6), 6)),
    "one-hot blocks": lambda rng: _onehot(rng, [0.6, 0.25, 0.1, 0.05], 3),
    "poisson": lambda rng: _poisson(rng, [0.5, 2.0, 6.0, 15.0]),
    "binomial n=10": lambda rng: _binomial(rng, 10, 0.3, 5),
}


def _check(comp, logp_true: np.ndarray):
    idx = next(iter(comp.fitted.values())).split["test"]
    nll_true = -logp_true[idx]
    slack = 3 * nll_true.std() / math.sqrt(len(idx)) + 1e-6
    scored = [r for r in comp.leaderboard if r["comparable"] and r["nll_iwae_nats_per_sample"] is not None]
    assert len(scored) >= 3, comp.leaderboard
    for r in scored:
        assert r["nll_iwae_nats_per_sample"] >= nll_true.mean() - slack, (r["candidate"], r["nll_iwae_nats_per_sample"],
                                                                           nll_true.mean())
        assert r["nll_iwae_nats_per_dim"] == pytest.approx(r["nll_iwae_nats_per_sample"] / comp.settings["n_dims"])
    dims = {r["nll_iwae_nats_per_sample"] / r["nll_iwae_nats_per_dim"] for r in scored}
    assert len({round(d, 9) for d in dims}) == 1  # one denominator for every candidate


@pytest.mark.parametrize("case", list(CASES))
def test_no_candidate_beats_the_entropy_of_discrete_data(case):
    x, logp = CASES[case](np.random.default_rng(zlib.crc32(case.encode())))
    comp = compare(x, candidates=["pick", "naive-bce", "naive-mse", *DENSITIES], **FAST)
    _check(comp, logp)


def test_no_candidate_beats_the_entropy_of_a_mixed_csv(tmp_path):
    """String levels, a count and a yes/no flag in one CSV (the table a user downloads)."""
    rng = np.random.default_rng(7)
    levels, probs = np.array(["red", "green", "blue"]), np.array([0.5, 0.3, 0.2])
    k = rng.choice(3, size=N, p=probs)
    counts = rng.poisson(2.5, size=N)
    flag = rng.random(N) < 0.2
    logp = np.log(probs[k]) + stats.poisson.logpmf(counts, 2.5) + np.where(flag, np.log(0.2), np.log(0.8))
    path = tmp_path / "mixed.csv"
    rows = ["colour,visits,member"] + [f"{levels[a]},{b},{'yes' if c else 'no'}" for a, b, c in zip(k, counts, flag)]
    path.write_text("\n".join(rows) + "\n")
    comp = compare(str(path), candidates=["pick", "naive-mse", *DENSITIES], **FAST)
    assert comp.settings["n_dims"] == pytest.approx(3.0)  # a string column is one of the data's columns
    _check(comp, logp)

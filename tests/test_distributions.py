"""The distributions torch lacks, checked against scipy.stats twins and float64 references."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import expit, logsumexp

from autolik.distributions import (BetaBinomial, DiscretizedLogistic, DiscretizedLogisticMixture, ZeroInflated,
                                   ZeroInflatedNegativeBinomial, ZeroInflatedPoisson)
from autolik.errors import UsageError

RTOL = 1e-5
D = torch.float64


def t(a, dtype=D, grad=False):
    return torch.tensor(a, dtype=dtype, requires_grad=grad)


def assert_close(actual: torch.Tensor, expected: np.ndarray, rtol=RTOL):
    np.testing.assert_allclose(actual.detach().numpy(), expected, rtol=rtol, atol=0)


def assert_finite_grads(*tensors):
    for x in tensors:
        assert x.grad is not None and torch.isfinite(x.grad).all(), x.grad


def zi_reference(x, gate, base_pmf):
    """log of the zero-inflated mixture written from its definition with scipy pmfs."""
    return np.log(np.where(x == 0, gate, 0.0) + (1 - gate) * base_pmf)


# --------------------------------------------------------------------------- zero-inflated

X_COUNTS = np.array([0, 0, 1, 3, 7, 20, 0, 150])
GATE_LOGITS = np.array([-3.0, 2.0, 0.0, -1.0, 1.5, 0.3, -8.0, -0.5])


def test_zip_log_prob_matches_scipy_mixture():
    rate = np.array([0.1, 2.0, 3.5, 1.0, 5.0, 12.0, 0.7, 140.0])
    d = ZeroInflatedPoisson(t(rate), gate_logits=t(GATE_LOGITS))
    ref = zi_reference(X_COUNTS, expit(GATE_LOGITS), stats.poisson(rate).pmf(X_COUNTS))
    assert_close(d.log_prob(t(X_COUNTS)), ref)


def test_zinb_log_prob_matches_scipy_mixture():
    r = np.array([0.5, 2.0, 10.0, 1.0, 3.0, 0.2, 5.0, 50.0])
    p = np.array([0.3, 0.9, 0.1, 0.5, 0.7, 0.95, 0.2, 0.75])  # torch: success probability
    d = ZeroInflatedNegativeBinomial(t(r), probs=t(p), gate_logits=t(GATE_LOGITS))
    ref = zi_reference(X_COUNTS, expit(GATE_LOGITS), stats.nbinom(n=r, p=1 - p).pmf(X_COUNTS))
    assert_close(d.log_prob(t(X_COUNTS)), ref)
    by_logits = ZeroInflatedNegativeBinomial(t(r), logits=t(np.log(p / (1 - p))), gate=t(expit(GATE_LOGITS)))
    assert_close(by_logits.log_prob(t(X_COUNTS)), ref)


@pytest.mark.parametrize("closed", [float("-inf"), -1e4])
def test_closed_gate_reduces_to_base(closed):
    x = t(X_COUNTS)
    rate = t(np.linspace(0.2, 30.0, len(X_COUNTS)))
    zip_ = ZeroInflatedPoisson(rate, gate_logits=t(np.full(len(X_COUNTS), closed)))
    assert torch.equal(zip_.log_prob(x), torch.distributions.Poisson(rate).log_prob(x))
    base = torch.distributions.Binomial(t(200.0), probs=t(0.3))
    wrapped = ZeroInflated(base, gate=t(0.0))
    assert torch.allclose(wrapped.log_prob(x), base.log_prob(x), rtol=1e-12)
    assert torch.allclose(wrapped.mean, base.mean) and torch.allclose(wrapped.variance, base.variance)


def test_zero_inflated_moments_match_pmf_sums():
    k = np.arange(0, 400)
    d = ZeroInflatedNegativeBinomial(t([2.0, 0.7]), logits=t([1.0, 0.5]), gate_logits=t([-0.5, 1.0]))
    pmf = d.log_prob(t(k)[:, None]).exp().numpy()
    np.testing.assert_allclose(pmf.sum(0), 1.0, rtol=1e-9)
    mean = (k[:, None] * pmf).sum(0)
    assert_close(d.mean, mean, rtol=1e-8)
    assert_close(d.variance, (k[:, None] ** 2 * pmf).sum(0) - mean**2, rtol=1e-8)


def test_zero_inflated_samples_in_support_with_right_mean():
    torch.manual_seed(0)
    d = ZeroInflatedPoisson(t([0.5, 4.0, 30.0]), gate_logits=t([-1.0, 0.0, 1.0]))
    s = d.sample((20000,))
    assert s.shape == (20000, 3) and bool(d.support.check(s).all())
    se = (d.variance / 20000).sqrt()
    assert ((s.mean(0) - d.mean).abs() < 5 * se).all()
    assert (s == 0).double().mean(0)[2] > 0.7  # gate 0.73 dominates the zeros of a Poisson(30)


def test_zero_inflated_gradients_finite_at_edges():
    rate = t([1e-6, 1.0, 1e6, 1e6, 3.0, 3.0], grad=True)
    gl = t([0.0, 50.0, -50.0, 50.0, -50.0, 50.0], grad=True)
    x = t([0.0, 0.0, 1e6, 0.0, 0.0, 7.0])
    lp = ZeroInflatedPoisson(rate, gate_logits=gl).log_prob(x)
    assert torch.isfinite(lp).all()
    lp.sum().backward()
    assert_finite_grads(rate, gl)
    r, logits = t([1e-3, 1e4, 2.0], grad=True), t([-50.0, 50.0, 0.0], grad=True)
    g = t([50.0, -50.0, -50.0], grad=True)
    lp = ZeroInflatedNegativeBinomial(r, logits=logits, gate_logits=g).log_prob(t([0.0, 1e6, 0.0]))
    assert torch.isfinite(lp).all()
    lp.sum().backward()
    assert_finite_grads(r, logits, g)


def test_zero_inflated_shapes_and_arguments():
    d = ZeroInflatedPoisson(torch.ones(4, 1), gate_logits=torch.zeros(3))
    assert d.batch_shape == (4, 3) and d.sample((2,)).shape == (2, 4, 3)
    e = d.expand((5, 4, 3))
    assert e.batch_shape == (5, 4, 3) and e.log_prob(torch.zeros(5, 4, 3)).shape == (5, 4, 3)
    with pytest.raises(UsageError, match="exactly one"):
        ZeroInflatedPoisson(torch.ones(2))
    with pytest.raises(ValueError):
        ZeroInflatedPoisson(torch.ones(2), gate=torch.tensor([0.5, 1.5]), validate_args=True)
    with pytest.raises(ValueError):
        ZeroInflatedPoisson(torch.ones(2), gate_logits=torch.zeros(2), validate_args=True).log_prob(torch.tensor([0.5, 1]))


# --------------------------------------------------------------------------- beta-binomial

def test_beta_binomial_log_prob_matches_scipy():
    a = np.array([0.5, 1.0, 2.0, 30.0, 0.05, 7.0, 1.0])
    b = np.array([0.5, 3.0, 0.1, 10.0, 0.05, 7.0, 1.0])
    n = np.array([1, 10, 50, 255, 255, 1000, 0])
    x = np.array([1, 0, 50, 200, 3, 480, 0])
    d = BetaBinomial(t(a), t(b), t(n))
    assert_close(d.log_prob(t(x)), stats.betabinom(n, a, b).logpmf(x))
    assert_close(d.mean, stats.betabinom(n, a, b).mean())
    assert_close(d.variance, stats.betabinom(n, a, b).var())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_beta_binomial_pmf_sums_to_one(dtype):
    n = 300
    d = BetaBinomial(t([0.3, 2.0, 50.0], dtype), t([0.7, 2.0, 1.0], dtype), n)
    k = torch.arange(n + 1, dtype=dtype)[:, None]
    total = d.log_prob(k).exp().sum(0)
    assert torch.allclose(total, torch.ones_like(total), rtol=10 * torch.finfo(dtype).eps * n)


def test_beta_binomial_large_counts_are_accurate_in_float32():
    a, b, n, x = 2.5, 4.0, 1_000_000, np.array([0, 1, 357_000, 999_999, 1_000_000])
    d = BetaBinomial(torch.tensor(a), torch.tensor(b), torch.tensor(float(n)))
    np.testing.assert_allclose(d.log_prob(torch.tensor(x, dtype=torch.float32)).numpy(),
                               stats.betabinom(n, a, b).logpmf(x), rtol=1e-6)


def test_beta_binomial_samples_in_support_with_right_mean():
    torch.manual_seed(1)
    d = BetaBinomial(t([0.5, 3.0]), t([0.5, 1.0]), t([10.0, 255.0]))
    s = d.sample((20000,))
    assert s.shape == (20000, 2) and bool(d.support.check(s).all())
    assert ((s.mean(0) - d.mean).abs() < 5 * (d.variance / 20000).sqrt()).all()


def test_beta_binomial_gradients_finite_at_edges():
    a, b = t([1e-4, 50.0, 0.5, 1e4], grad=True), t([1e-4, 1e-3, 2.0, 1e4], grad=True)
    lp = BetaBinomial(a, b, t([1e6, 1e6, 255.0, 1e6])).log_prob(t([0.0, 1e6, 255.0, 5e5]))
    assert torch.isfinite(lp).all()
    lp.sum().backward()
    assert_finite_grads(a, b)


def test_beta_binomial_shapes_and_validation():
    d = BetaBinomial(torch.ones(3, 1), torch.ones(4), 10)
    assert d.batch_shape == (3, 4) and d.expand((2, 3, 4)).sample().shape == (2, 3, 4)
    with pytest.raises(ValueError):
        BetaBinomial(torch.ones(2), torch.ones(2), 10, validate_args=True).log_prob(torch.tensor([11.0, 2.0]))
    with pytest.raises(ValueError):
        BetaBinomial(torch.tensor([-1.0]), torch.ones(1), 10, validate_args=True)


# --------------------------------------------------------------------------- discretised logistic

def dl_reference_logpmf(x, loc, scale, n):
    """Float64 reference from scipy.stats.logistic CDF differences (sf differences right of loc)."""
    x, loc, scale, n = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, loc, scale, n)))
    d = stats.logistic(loc, scale)
    hi = np.where(x >= n, np.inf, x + 0.5)
    lo = np.where(x <= 0, -np.inf, x - 0.5)
    left = d.cdf(hi) - d.cdf(lo)
    right = d.sf(lo) - d.sf(hi)
    with np.errstate(divide="ignore"):
        return np.log(np.where(lo + hi < 2 * loc, left, right))


LOC = np.array([0.0, 3.3, 127.5, 250.0, -20.0, 300.0, 60.0, 100.0, 5.0])
SCALE = np.array([1.0, 0.3, 20.0, 2.0, 5.0, 10.0, 0.05, 400.0, 1.0])
X_PIX = np.array([0, 3, 100, 255, 0, 255, 60, 17, 0])


def test_discretized_logistic_matches_scipy_reference():
    d = DiscretizedLogistic(t(LOC), t(SCALE), 255)
    assert_close(d.log_prob(t(X_PIX)), dl_reference_logpmf(X_PIX, LOC, SCALE, 255))
    one = DiscretizedLogistic(t(0.4), t(1.0), 0)  # a single point: probability 1
    assert one.log_prob(t(0.0)).item() == 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_discretized_logistic_pmf_sums_to_one(dtype):
    d = DiscretizedLogistic(t(LOC, dtype), t(SCALE, dtype), 255)
    k = torch.arange(256, dtype=dtype)[:, None]
    total = d.log_prob(k).exp().sum(0)
    assert torch.allclose(total, torch.ones_like(total), rtol=300 * torch.finfo(dtype).eps)
    ref = np.exp(dl_reference_logpmf(np.arange(256)[:, None], LOC, SCALE, 255))
    m = (np.arange(256)[:, None] * ref).sum(0)
    np.testing.assert_allclose(d.mean.numpy(), m, rtol=1e-4 if dtype == torch.float32 else 1e-9, atol=1e-4)
    var = (np.arange(256)[:, None] ** 2 * ref).sum(0) - m**2
    np.testing.assert_allclose(d.variance.numpy(), var, rtol=1e-3 if dtype == torch.float32 else 1e-8, atol=1e-3)


def test_discretized_logistic_samples_in_support_with_right_mean():
    torch.manual_seed(2)
    d = DiscretizedLogistic(t([3.3, 127.5, 250.0, -1.0]), t([0.3, 20.0, 5.0, 2.0]), t([255.0, 255.0, 255.0, 7.0]))
    s = d.sample((20000,))
    assert s.shape == (20000, 4) and bool(d.support.check(s).all())
    assert ((s.mean(0) - d.mean).abs() < 5 * (d.variance / 20000).sqrt() + 1e-9).all()
    assert torch.equal(d.mode, t([3.0, 128.0, 250.0, 0.0]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_discretized_logistic_gradients_finite_at_extremes(dtype):
    loc = t([1e4, -1e4, 0.0, 255.0, 77.0, 1e6, 3.0], dtype, grad=True)
    scale = t([1e-4, 1e-4, 1e-4, 1e-4, 1e4, 1.0, 1e-4], dtype, grad=True)
    x = t([0.0, 255.0, 255.0, 0.0, 100.0, 1e6, 100.0], dtype)
    n = t([255.0] * 5 + [1e6, 255.0], dtype)
    lp = DiscretizedLogistic(loc, scale, n).log_prob(x)
    assert torch.isfinite(lp).all()
    lp.sum().backward()
    assert_finite_grads(loc, scale)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_discretized_logistic_windowed_moments_match_reference(dtype):
    n = 1000  # small scales: the moments sum only a window around loc
    loc, scale = np.array([0.2, 999.7, 500.4, 731.5, -3.0, 12.0]), np.array([0.05, 1.0, 2.0, 0.5, 1.5, 0.01])
    d = DiscretizedLogistic(t(loc, dtype), t(scale, dtype), n)
    k = np.arange(n + 1)[:, None]
    ref = np.exp(dl_reference_logpmf(k, loc, scale, n))
    m = (k * ref).sum(0)
    tol = dict(rtol=1e-6, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-10)  # e^-25 tail truncation
    np.testing.assert_allclose(d.mean.numpy(), m, **tol)
    np.testing.assert_allclose(d.variance.numpy(), ((k - m) ** 2 * ref).sum(0), **tol)


def test_discretized_logistic_large_total_count_moments_are_close():
    d = DiscretizedLogistic(t([5e5, -3.0]), t([100.0, 1.0]), t([1e6, 1e6]))
    assert (d.mean - t([5e5, 0.0])).abs().max() < 0.5


def test_discretized_logistic_mixture_matches_reference():
    rng = np.random.default_rng(3)
    logits, loc, scale = rng.normal(size=(4, 3)), rng.uniform(-10, 270, size=(4, 3)), rng.uniform(0.1, 30, size=(4, 3))
    x = np.array([0, 17, 200, 255])
    d = DiscretizedLogisticMixture(t(logits), t(loc), t(scale), 255)
    assert d.batch_shape == (4,) and d.event_shape == ()
    log_w = logits - logsumexp(logits, axis=-1, keepdims=True)
    ref = logsumexp(log_w + dl_reference_logpmf(x[:, None], loc, scale, 255), axis=-1)
    assert_close(d.log_prob(t(x)), ref)
    k = torch.arange(256, dtype=D)[:, None]
    pmf = d.log_prob(k).exp()
    assert torch.allclose(pmf.sum(0), torch.ones(4, dtype=D), rtol=1e-12)
    assert torch.allclose(d.mean, (k * pmf).sum(0), rtol=1e-9)


def test_discretized_logistic_mixture_samples_shapes_and_gradients():
    torch.manual_seed(4)
    logits = t([[50.0, -50.0], [0.0, 0.0]], grad=True)
    loc, scale = t([[10.0, 200.0], [0.0, 255.0]], grad=True), t([[1e-4, 3.0], [2.0, 1e-4]], grad=True)
    d = DiscretizedLogisticMixture(logits, loc, scale, 255)
    s = d.sample((10000,))
    assert s.shape == (10000, 2) and bool(d.support.check(s).all())
    assert ((s.mean(0) - d.mean).abs() < 5 * (d.variance / 10000).sqrt() + 1e-9).all()
    d.log_prob(t([255.0, 255.0])).sum().backward()
    assert_finite_grads(logits, loc, scale)
    assert d.expand((3, 2)).log_prob(torch.zeros(3, 2, dtype=D)).shape == (3, 2)
    with pytest.raises(ValueError):
        DiscretizedLogisticMixture(torch.zeros(2), torch.zeros(2), torch.ones(2), 5, validate_args=True).log_prob(
            torch.tensor(6.0))

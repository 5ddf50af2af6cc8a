"""Every registered likelihood head, driven by the registry: values vs scipy, support, edges, NaN, modes.

CASES holds, per registered name, the options, a sampler of data inside the support, the data at
the edges of the support, and an independent float64 reference log-density written with
scipy.stats from the head's constrained parameters. A registered name without a case fails.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import special, stats

from autolik.errors import UsageError
from autolik.likelihoods import LikelihoodHead, available_likelihoods, get_likelihood
from autolik.likelihoods.base import NUISANCE_MODES

B, D = 6, 5  # batch, features
N = 7  # total_count for bounded-integer heads
K = 3  # levels / mixture components


def _np(t):
    return t.detach().double().numpy()


def _zi(logpmf0, logpmf, x, gate_logits):
    lg, l1g = -np.logaddexp(0, -gate_logits), -np.logaddexp(0, gate_logits)  # log g, log(1-g)
    return np.where(x == 0, np.logaddexp(lg, l1g + logpmf0), l1g + logpmf)


def _nb(x, mean, r):
    return stats.nbinom.logpmf(x, r, r / (r + mean))


def _dlogistic(x, loc, scale, n):
    """log P(x) for one discretised logistic on {0..n}, from scipy's CDF (edge bins take the tails)."""
    upper = np.where(x >= n, 1.0, stats.logistic.cdf(x + 0.5, loc, scale))
    lower = np.where(x <= 0, 0.0, stats.logistic.cdf(x - 0.5, loc, scale))
    return np.log(upper - lower)


def _dlogistic_ref(p, x, n=255):
    return _dlogistic(x, n * (p["loc"] + 1) / 2, n / 2 * p["scale"], n)


def _cb_ref(p, x):
    lam = special.expit(p["logits"])
    log_c = np.log(2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam))
    return log_c + x * np.log(lam) + (1 - x) * np.log1p(-lam)


def _unit(rng, shape):
    return rng.uniform(0.02, 0.98, shape)


def _counts(rng, shape):
    return rng.poisson(3.0, shape).astype(float)


def _bounded(rng, shape):
    return rng.integers(0, N + 1, shape).astype(float)


# name -> (options, sampler of x, edge values of x, reference log-density from params)
CASES = {
    "bernoulli": ({}, lambda r, s: r.integers(0, 2, s).astype(float), [0.0, 1.0],
                  lambda p, x: stats.bernoulli.logpmf(x, special.expit(p["logits"]))),
    "continuous_bernoulli": ({}, _unit, [0.0, 1.0], _cb_ref),
    "beta": ({}, _unit, [0.0, 1.0],
             lambda p, x: stats.beta.logpdf(x, p["mean"] * p["concentration"], (1 - p["mean"]) * p["concentration"])),
    "gaussian": ({}, lambda r, s: r.normal(0, 2, s), [-1e3, 0.0, 1e3],
                 lambda p, x: stats.norm.logpdf(x, p["loc"], p["scale"])),
    "laplace": ({}, lambda r, s: r.laplace(0, 2, s), [-1e3, 0.0, 1e3],
                lambda p, x: stats.laplace.logpdf(x, p["loc"], p["scale"])),
    "student_t": ({}, lambda r, s: r.standard_t(3, s), [-1e3, 0.0, 1e3],
                  lambda p, x: stats.t.logpdf(x, p["df"], p["loc"], p["scale"])),
    "lognormal": ({}, lambda r, s: r.lognormal(0, 1, s), [1e-3, 1e3],
                  lambda p, x: stats.lognorm.logpdf(x, p["scale"], scale=np.exp(p["loc"]))),
    "gamma": ({}, lambda r, s: r.gamma(2.0, 1.0, s), [1e-3, 1e3],
              lambda p, x: stats.gamma.logpdf(x, p["concentration"], scale=p["mean"] / p["concentration"])),
    "exponential": ({}, lambda r, s: r.exponential(1.0, s), [0.0, 1e3],
                    lambda p, x: stats.expon.logpdf(x, scale=1 / p["rate"])),
    "poisson": ({}, _counts, [0.0, 1e6], lambda p, x: stats.poisson.logpmf(x, p["rate"])),
    "negative_binomial": ({}, _counts, [0.0, 1e6], lambda p, x: _nb(x, p["mean"], p["total_count"])),
    "zero_inflated_poisson": (
        {}, _counts, [0.0, 1e6],
        lambda p, x: _zi(stats.poisson.logpmf(0, p["rate"]), stats.poisson.logpmf(x, p["rate"]), x, p["gate_logits"])),
    "zero_inflated_negative_binomial": (
        {}, _counts, [0.0, 1e6],
        lambda p, x: _zi(_nb(0, p["mean"], p["total_count"]), _nb(x, p["mean"], p["total_count"]), x,
                         p["gate_logits"])),
    "binomial": ({"total_count": N}, _bounded, [0.0, float(N)],
                 lambda p, x: stats.binom.logpmf(x, N, special.expit(p["logits"]))),
    "beta_binomial": ({"total_count": N}, _bounded, [0.0, float(N)],
                      lambda p, x: stats.betabinom.logpmf(x, N, p["mean"] * p["concentration"],
                                                          (1 - p["mean"]) * p["concentration"])),
    "categorical": ({"n_levels": K}, lambda r, s: r.integers(0, K, s).astype(float), [0.0, float(K - 1)],
                    lambda p, x: np.take_along_axis(special.log_softmax(p["logits"], -1),
                                                    x.astype(int)[..., None], -1)[..., 0]),
    "discretized_logistic": ({}, lambda r, s: r.integers(0, 256, s).astype(float), [0.0, 255.0], _dlogistic_ref),
}

NAMES = available_likelihoods()


def make(name, mode=None, dtype=torch.float64, **extra):
    head = get_likelihood(name, D, mode=mode, **{**CASES[name][0], **extra}).to(dtype)
    if head.nuisance and head.modes and all(m in ("shared", "feature") for m in head.modes.values()):
        with torch.no_grad():  # learned values away from their defaults, so the reference sees them
            for p in head.nuisance:
                getattr(head, f"raw_{p}").add_(torch.linspace(-0.5, 0.5, getattr(head, f"raw_{p}").numel(), dtype=dtype))
    return head


def modes_of(name):
    cls = type(get_likelihood(name, 1, **CASES[name][0]))
    return list(NUISANCE_MODES) if cls.nuisance else [None]


def mode_cases():
    return [(n, m) for n in NAMES for m in modes_of(n)]


def data(name, seed=0, shape=(B, D)):
    return torch.tensor(CASES[name][1](np.random.default_rng(seed), shape), dtype=torch.float64)


def raw_for(head, seed=0, scale=1.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(B, head.n_raw, generator=g, dtype=dtype)).requires_grad_(True)


# --------------------------------------------------------------------------- registry


def test_every_registered_name_has_a_case():
    assert set(NAMES) == set(CASES), f"missing cases: {set(NAMES) - set(CASES)}; stale: {set(CASES) - set(NAMES)}"


def test_registry_names_match_the_analyser_vocabulary():
    from autolik.families import names

    assert set(NAMES) == set(names())


def test_public_api_exposes_the_registry():
    import autolik

    assert autolik.available_likelihoods() == NAMES
    assert autolik.get_likelihood("poisson", 3).n_features == 3


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(UsageError) as e:
        get_likelihood("gausian", 2)
    assert "gausian" in str(e.value) and all(n in str(e.value) for n in NAMES)


@pytest.mark.parametrize("name,options", [
    ("gaussian", {"mode": "bogus"}), ("poisson", {"total_count": 3}), ("binomial", {}),
    ("binomial", {"total_count": 2.5}), ("binomial", {"total_count": [3, 4, 5]}), ("categorical", {}),
    ("categorical", {"n_levels": 1}), ("discretized_logistic", {"n_components": 0}),
    ("student_t", {"mode": {"loc": "shared"}}), ("gaussian", {"optimal_sigma": True, "mode": "sample"}),
])
def test_bad_options_raise_usage_error(name, options):
    with pytest.raises(UsageError):
        get_likelihood(name, 2, **options)


@pytest.mark.parametrize("name", NAMES)
def test_declared_structure(name):
    head = get_likelihood(name, D, **CASES[name][0])
    assert head.paper and head.support is not None and isinstance(head.discrete, bool)
    desc = head.describe()
    assert set(desc) == set(head.params)
    for p, c in head.params.items():
        assert desc[p]["activation"] == head.activation(p)
        if p not in head.activations:  # derived from the constraint: identity for real, softplus for positive
            expected = {"real": "identity", "positive": "softplus", "unit_interval": "sigmoid"}[_constraint_key(c)]
            assert desc[p]["activation"] == expected
    cfg = head.config()
    assert get_likelihood(cfg["name"], cfg["n_features"], mode=cfg["mode"], **cfg["options"]).n_raw == head.n_raw


def _constraint_key(c):
    from torch.distributions import constraints

    return {constraints.real: "real", constraints.positive: "positive", constraints.unit_interval: "unit_interval"}[c]


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("name,mode", mode_cases())
def test_log_prob_matches_reference(name, mode):
    head = make(name, mode)
    raw, x = raw_for(head), data(name)
    params = {k: _np(v) for k, v in head.parameters_from_raw(raw).items()}
    expected = CASES[name][3](params, _np(x))
    got = _np(head.distribution(raw).log_prob(x))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(_np(head.log_prob(raw, x)), expected.sum(-1), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name,mode", mode_cases())
def test_shapes_and_parameters_follow_modes(name, mode):
    head = make(name, mode, dtype=torch.float32)
    raw = raw_for(head, dtype=torch.float32)
    decoded = [p for p in head.params if p not in head.nuisance or mode == "sample"]
    assert head.n_raw == D * sum(head.param_width(p) for p in decoded)
    d = head.distribution(raw)
    assert d.batch_shape == (B, D) and d.event_shape == ()
    assert head.log_prob(raw, data(name).float()).shape == (B,)
    assert head.mean(raw).shape == head.sample(raw).shape == (B, head.n_columns)
    learned = {n for n, _ in head.named_parameters()}
    assert learned == ({f"raw_{p}" for p in head.nuisance} if mode in ("shared", "feature") else set())
    for p, v in head.parameters_from_raw(raw).items():
        assert head.params[p].check(v).all(), p


@pytest.mark.parametrize("name", NAMES)
def test_samples_lie_in_the_support(name):
    head = make(name, dtype=torch.float32)
    raw = raw_for(head, scale=3.0, dtype=torch.float32)
    torch.manual_seed(0)
    s = head.sample(raw)
    assert torch.isfinite(s).all()
    assert head.distribution(raw).support.check(s).all()
    assert head.support.check(s).all()


@pytest.mark.parametrize("name", NAMES)
def test_mean_matches_sample_average(name):
    head = make(name, dtype=torch.float64)
    raw = raw_for(head, scale=0.5).detach()[:1].expand(4000, -1)
    torch.manual_seed(1)
    s, m = head.sample(raw), head.mean(raw)[0]
    if name == "categorical":  # mean of codes is the mode (documented): compare with the most frequent code
        assert torch.equal(m, torch.mode(s, 0).values)
        return
    se = s.std(0) / 4000 ** 0.5
    assert ((s.mean(0) - m).abs() <= 5 * se + 1e-3 * m.abs() + 1e-6).all()


# --------------------------------------------------------------------------- edges and gradients


def _grads_finite(head, raw, x):
    lp = head.log_prob(raw, x)
    assert torch.isfinite(lp).all(), lp
    lp.sum().backward()
    assert torch.isfinite(raw.grad).all()
    for n, p in head.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), n


@pytest.mark.parametrize("name,mode", mode_cases())
@pytest.mark.parametrize("logit", [-30.0, 0.0, 30.0])
def test_finite_at_support_edges_and_extreme_raw(name, mode, logit):
    head = make(name, mode, dtype=torch.float32)
    edges = torch.tensor(CASES[name][2], dtype=torch.float32)
    x = edges.repeat(B * D)[: B * D].reshape(B, D)
    raw = torch.full((B, head.n_raw), logit).requires_grad_(True)
    _grads_finite(head, raw, x)


def test_continuous_bernoulli_near_one_half():
    head = get_likelihood("continuous_bernoulli", 4)
    raw = torch.tensor([[-2e-3, -1e-4, 0.0, 1e-4]]).repeat(3, 1).requires_grad_(True)
    x = torch.tensor([[0.0], [0.5], [1.0]]).expand(3, 4)
    _grads_finite(head, raw, x)
    # d/d(logit) log p = x - lambda + d log C / d(logit), and d log C / d(logit) = 0 at lambda = 1/2
    torch.testing.assert_close(raw.grad, (x - 0.5).clone(), atol=1e-3, rtol=0)
    # at lambda = 1/2 the density is uniform: log p = 0 everywhere; close to it, the Taylor branch agrees
    lp = head.distribution(raw.detach()).log_prob(x.clamp(1e-6, 1 - 1e-6))
    assert lp[:, 2].abs().max() < 1e-6
    assert (lp - 0).abs().max() < 1e-2


def test_unit_interval_clamp_is_documented_eps():
    head = get_likelihood("beta", 1)
    raw = torch.zeros(1, head.n_raw)
    assert torch.allclose(head.log_prob(raw, torch.zeros(1, 1)), head.log_prob(raw, torch.full((1, 1), 1e-6)))


# --------------------------------------------------------------------------- missing values


@pytest.mark.parametrize("name", NAMES)
def test_nan_is_masked(name):
    head = make(name)
    raw, x = raw_for(head), data(name)
    x_nan = x.clone()
    x_nan[0, 1] = x_nan[3, 0] = float("nan")
    elementwise = head.distribution(raw).log_prob(x_nan.nan_to_num(head.fill_value()))
    keep = ~torch.isnan(x_nan)
    lp = head.log_prob(raw, x_nan)
    torch.testing.assert_close(lp, (elementwise * keep).sum(-1))
    lp.sum().backward()
    assert torch.isfinite(raw.grad).all()
    per_feature = raw.grad.reshape(B, -1, D)
    assert (per_feature[0, :, 1] == 0).all() and (per_feature[3, :, 0] == 0).all()


# --------------------------------------------------------------------------- special cases


def test_bernoulli_is_bce_with_logits():
    raw, x = torch.randn(B, D), torch.randint(0, 2, (B, D)).float()
    lp = get_likelihood("bernoulli", D).log_prob(raw, x)
    torch.testing.assert_close(-lp, F.binary_cross_entropy_with_logits(raw, x, reduction="none").sum(-1))


def test_gaussian_fixed_is_mse_up_to_constants():
    raw, x = torch.randn(B, D), torch.randn(B, D)
    lp = get_likelihood("gaussian", D, mode="fixed").log_prob(raw, x)
    mse = F.mse_loss(raw, x, reduction="none").sum(-1)
    torch.testing.assert_close(-lp, 0.5 * mse + 0.5 * D * np.log(2 * np.pi))


def test_gaussian_optimal_sigma_is_batch_rmse_in_training_and_running_in_eval():
    head = get_likelihood("gaussian", D, optimal_sigma=True)
    assert head.n_raw == D and not list(head.parameters())
    raw, x = torch.randn(B, D, requires_grad=True), 3 * torch.randn(B, D)
    lp = head.log_prob(raw, x)
    sigma = (x - raw.detach()).square().mean().sqrt()
    torch.testing.assert_close(lp.detach(), torch.distributions.Normal(raw.detach(), sigma).log_prob(x).sum(-1))
    lp.sum().backward()
    assert torch.isfinite(raw.grad).all()
    torch.testing.assert_close(head.fixed_scale, 0.9 + 0.1 * sigma)
    head.eval()
    torch.testing.assert_close(head.log_prob(raw, x).detach(),
                               torch.distributions.Normal(raw.detach(), 0.9 + 0.1 * sigma).log_prob(x).sum(-1))


def test_student_t_modes_per_parameter():
    head = get_likelihood("student_t", D, mode={"df": "shared", "scale": "sample"})
    assert head.n_raw == 2 * D and head.raw_df.shape == (1,)
    assert head.describe()["scale"]["source"] == "decoder"


def test_zero_inflated_heads_reduce_to_their_base_when_the_gate_is_closed():
    x = data("poisson", seed=3)
    for zi, base in [("zero_inflated_poisson", "poisson"), ("zero_inflated_negative_binomial", "negative_binomial")]:
        h_zi, h_base = get_likelihood(zi, D).double(), get_likelihood(base, D).double()
        h_zi.load_state_dict(h_base.state_dict(), strict=False)
        raw_base = torch.randn(B, h_base.n_raw, dtype=torch.float64)
        raw_zi = torch.cat([raw_base, torch.full((B, D), -60.0, dtype=torch.float64)], -1)
        torch.testing.assert_close(h_zi.log_prob(raw_zi, x), h_base.log_prob(raw_base, x))
        torch.testing.assert_close(h_zi.mean(raw_zi), h_base.mean(raw_base))


def test_binomial_total_count_per_feature():
    head = get_likelihood("binomial", 3, total_count=[1, 5, 20])
    raw = torch.zeros(2, 3)
    torch.testing.assert_close(head.mean(raw), torch.tensor([[0.5, 2.5, 10.0]] * 2))
    assert (head.sample(raw) <= torch.tensor([1, 5, 20])).all()


def test_categorical_onehot_block_matches_codes():
    codes = torch.tensor([[0.0, 2.0], [1.0, 1.0], [2.0, float("nan")]])
    onehot = torch.cat([F.one_hot(codes.nan_to_num(0).long()[:, j], K).float() for j in range(2)], -1)
    onehot[2, K:] = float("nan")
    h_codes, h_onehot = get_likelihood("categorical", 2, n_levels=K), get_likelihood("categorical", 2, n_levels=K, onehot=True)
    assert h_onehot.n_columns == 2 * K and h_onehot.n_raw == h_codes.n_raw == 2 * K
    raw = torch.randn(3, 2 * K)
    torch.testing.assert_close(h_onehot.log_prob(raw, onehot), h_codes.log_prob(raw, codes))
    m = h_onehot.mean(raw).reshape(3, 2, K)
    torch.testing.assert_close(m.sum(-1), torch.ones(3, 2))
    s = h_onehot.sample(raw).reshape(3, 2, K)
    assert ((s == 0) | (s == 1)).all() and (s.sum(-1) == 1).all()


def test_discretized_logistic_mixture_matches_reference():
    head = get_likelihood("discretized_logistic", D, n_components=K, total_count=15).double()
    assert head.n_raw == 3 * K * D
    raw = raw_for(head)
    x = torch.tensor(np.random.default_rng(0).integers(0, 16, (B, D)), dtype=torch.float64)
    p = {k: _np(v) for k, v in head.parameters_from_raw(raw).items()}
    comp = _dlogistic(_np(x)[..., None], 15 * (p["loc"] + 1) / 2, 7.5 * p["scale"], 15)
    expected = special.logsumexp(special.log_softmax(p["mixture_logits"], -1) + comp, -1)
    np.testing.assert_allclose(_np(head.distribution(raw).log_prob(x)), expected, rtol=1e-5)
    _grads_finite(head, raw, x)


def test_likelihood_head_for_a_users_decoder():
    torch.manual_seed(0)
    head = LikelihoodHead(16, get_likelihood("negative_binomial", D))
    h, x = torch.randn(B, 16), data("negative_binomial").float()
    assert isinstance(head(h), torch.distributions.Distribution)
    loss = head.loss(h, x)
    assert loss.shape == (B,) and torch.isfinite(loss).all()
    loss.mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters())


@pytest.mark.parametrize("name", available_likelihoods())
def test_output_activations_name_real_modules(name):
    """What the recommendation shows a user (sigmoid for Bernoulli, softmax for categorical) maps to torch modules."""
    from autolik.likelihoods import ACTIVATIONS, likelihood_class

    acts = likelihood_class(name).output_activations()
    assert acts and set(acts.values()) <= set(ACTIVATIONS)
    if name in ("bernoulli", "binomial", "continuous_bernoulli"):
        assert "sigmoid" in acts.values()
    if name == "categorical":
        assert acts == {"probs": "softmax"}


@pytest.mark.parametrize("name", ["beta", "gamma"])
def test_log_scale_concentration_is_capped_where_float32_still_agrees_with_scipy(name):
    """Beta and Gamma learn their concentration on the log scale (exp), capped at CONC_CEIL: a huge raw output
    gives the cap, and there the float32 log-density is within 0.1 nats of scipy's float64 one."""
    from scipy import stats

    from autolik.likelihoods._common import CONC_CEIL

    head = get_likelihood(name, 1, mode="sample").to(torch.float32)
    assert head.activation("concentration") == "exp"
    x = torch.tensor([[0.5]]) if name == "beta" else torch.tensor([[2.0]])
    mean_raw = 0.0 if name == "beta" else float(np.log(np.expm1(2.0)))  # mean 1/2 (sigmoid), 2 (softplus)
    raw = torch.tensor([[mean_raw, 60.0]], dtype=torch.float32)  # exp(60) overflows nothing: it is capped
    params = head.parameters_from_raw(raw)
    got = float(head.log_prob(raw, x))
    if name == "beta":
        ref = stats.beta.logpdf(0.5, 0.5 * CONC_CEIL, 0.5 * CONC_CEIL)
    else:
        ref = stats.gamma.logpdf(2.0, CONC_CEIL, scale=2.0 / CONC_CEIL)
    assert float(params["concentration"]) > CONC_CEIL
    assert np.isfinite(got) and abs(got - ref) < 0.1, (got, ref)

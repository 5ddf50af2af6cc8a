"""recommend(): every family recovered from its own data, traps, forced families, hand-off to torch."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

import autolik
from autolik.analysis.recommendation.recommend import Recommendation, recommend
from autolik.errors import UsageError

N = 1200
BOUNDED = {"binomial", "beta_binomial", "categorical", "discretized_logistic"}


def _cb(r, lam, shape):
    return torch.distributions.ContinuousBernoulli(probs=torch.tensor(lam)).sample(shape).double().numpy()


def _dlogistic(r, loc, s, shape):
    return np.clip(np.round(r.logistic(loc, s, shape)), 0, 255)


FAMILIES = {  # family -> ([samplers for two parameter settings], accepted)
    "bernoulli": ([lambda r: r.random((N, 3)) < 0.3, lambda r: r.random((N, 3)) < 0.7], {"bernoulli"}),
    "categorical": ([lambda r: np.eye(4)[r.integers(0, 4, N)], lambda r: np.eye(3)[r.choice(3, N, p=[.6, .3, .1])]],
                    {"categorical"}),
    "binomial": ([lambda r: r.binomial(10, 0.5, (N, 2)), lambda r: r.binomial(20, 0.3, (N, 2))], BOUNDED),
    "beta_binomial": ([lambda r: stats.betabinom.rvs(12, .6, .6, size=(N, 2), random_state=r),
                       lambda r: stats.betabinom.rvs(8, 2, 1, size=(N, 2), random_state=r)], BOUNDED),
    "discretized_logistic": ([lambda r: _dlogistic(r, 128, 30, (N, 2)), lambda r: _dlogistic(r, 60, 50, (N, 2))],
                             {"discretized_logistic", "beta_binomial", "beta"}),
    "poisson": ([lambda r: r.poisson(2.5, (N, 2)), lambda r: r.poisson(9, (N, 2))], {"poisson", "negative_binomial"}),
    "negative_binomial": ([lambda r: r.negative_binomial(1, .1, (N, 2)), lambda r: r.negative_binomial(4, .3, (N, 2))],
                          {"negative_binomial", "zero_inflated_negative_binomial"}),
    "zero_inflated_poisson": ([lambda r: r.poisson(6, (N, 2)) * (r.random((N, 2)) > .3),
                               lambda r: r.poisson(12, (N, 2)) * (r.random((N, 2)) > .5)],
                              {"zero_inflated_poisson", "zero_inflated_negative_binomial"}),
    "zero_inflated_negative_binomial": ([lambda r: r.negative_binomial(3, 3 / 11, (N, 2)) * (r.random((N, 2)) > .35),
                                         lambda r: r.negative_binomial(2, .1, (N, 2)) * (r.random((N, 2)) > .4)],
                                        {"zero_inflated_negative_binomial"}),
    "gaussian": ([lambda r: r.normal(10, 4, (N, 3)), lambda r: r.normal(-200, 0.01, (N, 3))], {"gaussian"}),
    "laplace": ([lambda r: r.laplace(0, 1, (N, 2)), lambda r: r.laplace(5, 0.1, (N, 2))], {"laplace", "student_t"}),
    "student_t": ([lambda r: r.standard_t(1.2, (N, 2)), lambda r: 3 + 2 * r.standard_t(2.0, (N, 2))],
                  {"student_t", "laplace"}),
    "lognormal": ([lambda r: r.lognormal(2, .6, (N, 2)), lambda r: r.lognormal(-1, 1, (N, 2))], {"lognormal"}),
    "gamma": ([lambda r: r.gamma(2, 3, (N, 2)), lambda r: r.gamma(4, .5, (N, 2))], {"gamma", "lognormal"}),
    "exponential": ([lambda r: r.exponential(3, (N, 2)), lambda r: r.exponential(.01, (N, 2))],
                    {"exponential", "gamma"}),
    "beta": ([lambda r: r.beta(.7, 1.8, (N, 2)), lambda r: r.beta(5, 5, (N, 2))], {"beta"}),
    "continuous_bernoulli": ([lambda r: _cb(r, .2, (N, 2)), lambda r: _cb(r, .8, (N, 2))],
                             {"continuous_bernoulli", "beta"}),
}


def test_the_vocabulary_is_covered():
    assert set(FAMILIES) == set(autolik.available_likelihoods())


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("setting", [0, 1])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_data_drawn_from_a_family_gets_it(family, setting, seed):
    samplers, accepted = FAMILIES[family]
    X = np.asarray(samplers[setting](np.random.default_rng(100 * seed + setting)), dtype=np.float64)
    rec = recommend(X)
    assert rec.likelihood in accepted, rec.rationale
    assert rec.rationale.endswith(".") and 0 <= rec.confidence <= 1


def test_options_transforms_and_activations():
    rng = np.random.default_rng(5)
    rec = recommend(rng.integers(1, 7, (N, 2)))  # dice: shift to 0..5
    f = rec.features[0]
    assert f.transform.shift == 1 and f.options.get("total_count", f.options.get("n_levels", 0) - 1) == 5
    rec = recommend(np.where(rng.random((N, 2)) < .5, -1.0, 1.0))
    f = rec.features[0]
    assert (rec.likelihood, f.transform.description, rec.loss) == ("bernoulli", "{-1,+1} -> {0,1}", "binary cross-entropy")
    assert f.activation == {"probs": "sigmoid"}  # sigmoid + BCE (computed as BCE-with-logits)
    rec = recommend(rng.normal(5, 2, (N, 2)))
    assert rec.features[0].options == {"mode": "feature"} and rec.features[0].transform.scale == pytest.approx(.5, rel=.1)


def test_forced_bernoulli_on_unit_interval_is_flagged():
    rec = recommend(np.random.default_rng(2).beta(2, 2, (N, 3)), likelihood="bernoulli")
    assert rec.likelihood == "bernoulli" and not rec.comparable and "not normalised" in rec.caveat
    rec = recommend(np.random.default_rng(2).normal(size=(N, 2)), likelihood="gaussian", mode="fixed")
    assert rec.comparable and rec.loss == "mse"


def test_forced_preprocessing_and_bad_arguments():
    X = np.random.default_rng(3).normal(4, 2, (N, 2))
    t = recommend(X, preprocessing="minmax").features[0].transform
    assert ((X[:, 0] - t.shift) * t.scale).min() == pytest.approx(0) and ((X[:, 0] - t.shift) * t.scale).max() <= 1
    for kw in ({"likelihood": "nope"}, {"mode": "wild"}, {"preprocessing": "log"}):
        with pytest.raises(UsageError):
            recommend(X, **kw)


def test_image_recommendation_and_torch_hand_off():
    img = (np.random.default_rng(4).random((300, 6, 6)) < .3) * 255
    rec = recommend(img.astype(np.uint8))
    assert rec.likelihood == "bernoulli" and rec.features[0].transform.description == "x/255"
    assert rec.image_shape == (1, 6, 6) and len(rec.used_columns) == 36
    x = rec.prepare(img.reshape(300, -1)[:8])
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
    acts = rec.activation_modules()
    assert isinstance(acts["probs"], torch.nn.Sigmoid)
    loss = rec.loss_fn()
    raw = torch.zeros(8, loss.likelihood.n_raw)
    assert torch.allclose(loss(raw, x), torch.full((8,), 36 * np.log(2.0), dtype=torch.float32), atol=1e-4)
    assert rec.head(16)(torch.zeros(2, 16)).batch_shape == (2, 36)


def test_round_trip_and_profile_input():
    prof = autolik.inspect(np.random.default_rng(6).poisson(3, (N, 3)))
    rec = recommend(prof)
    again = Recommendation.from_dict(rec.to_dict())
    assert again.likelihood == rec.likelihood == "poisson" and again.features[0].options == rec.features[0].options


def test_positive_data_with_exact_zeros_never_get_a_family_that_cannot_score_zero():
    """A few exact zeros among 20,000 Gamma values (incomes recorded as 0): a sample of 4,000
    values may miss them, so the quick fits alone could pick a Gamma, whose density at 0 is 0 or
    infinite, and training stops with a NaN loss in the first epoch (COUNT/rwm5yr's hhninc)."""
    rng = np.random.default_rng(0)
    x = rng.gamma(4.0, 0.8, size=(20_000, 1))
    x[rng.choice(len(x), 4, replace=False)] = 0.0
    feat = recommend(x).features[0]
    assert feat.support == "positive" and feat.likelihood not in ("gamma", "lognormal")
    assert "exact zeros" in feat.rationale and "Gamma" in feat.rationale
    fitted = autolik.fit(x[:3000], epochs=2, min_steps=0, hidden=[16], latent_dim=2, k=5)
    assert np.isfinite(fitted.metrics["nll_iwae_nats_per_sample"])
    on_grid = np.round(x, 1)  # zeros on a 0.1 grid are dequantised off 0: the Gamma stays a candidate
    assert "exact zeros" not in recommend(on_grid).features[0].rationale

"""Quick fits against scipy/torch references, and family selection on data drawn from each family."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from autolik.analysis.selection import fits
from autolik.analysis.selection.select import candidates, choose, model_transform, score_families

RNG = np.random.default_rng(7)


def test_reference_densities_match_scipy_and_torch():
    x = np.linspace(-5, 5, 41)
    assert np.allclose(fits.t_logpdf(x, 3.3, 0.4, 1.7), stats.t.logpdf(x, 3.3, 0.4, 1.7))
    k = np.arange(0, 60.0)
    assert np.allclose(fits.nb_logpmf(k, 2.5, 7.0), stats.nbinom.logpmf(k, 2.5, 2.5 / 9.5))
    u = np.linspace(0.01, 0.99, 25)
    for lam in (0.02, 0.3, 0.4999, 0.5, 0.5001, 0.93):
        ref = torch.distributions.ContinuousBernoulli(probs=torch.tensor(lam, dtype=torch.float64))
        assert np.allclose(fits.cb_logpdf(u, lam), ref.log_prob(torch.from_numpy(u)).numpy(), atol=1e-6)


@pytest.mark.parametrize("mu,s,n", [(3.0, 1.5, 10), (128.0, 20.0, 255), (-4.0, 2.0, 5)])
def test_discretized_logistic_pmf_sums_to_one(mu, s, n):
    k = np.arange(n + 1.0)
    lp = fits.dlogistic_logpmf(k, mu, s, n)
    assert np.isfinite(lp).all()
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-9)


def test_every_built_in_family_has_its_fitter_in_fits():
    from autolik.families import family, names

    for name in names():
        assert family(name).fitter == f"autolik.analysis.selection.fits.fit_{name}" and hasattr(fits, f"fit_{name}")


def test_count_rationale_references_come_from_the_specs_and_their_zero_mass_is_the_fit_at_zero():
    """The count rationale's reference families are spec facts (``overdispersed_of``), and the zeros it
    predicts under each (``zero_mass``) are the quick fit's own mass at 0."""
    from autolik.analysis.selection.select import _count_references
    from autolik.families import family

    assert _count_references() == ("poisson", "negative_binomial")
    x = np.random.default_rng(0).negative_binomial(2, 0.4, 400).astype(np.float64)
    for name in _count_references():
        params, ll = family(name).quick_fit(x, np.zeros(1))
        assert family(name).zero_probability(params, float(x.mean())) == pytest.approx(np.exp(ll[0]), rel=1e-9)
    assert family("poisson").zero_probability({}, 2.0) == pytest.approx(np.exp(-2.0))  # no fit: the data's mean


def _pick(values, support, detail):
    return choose(score_families(values, support, detail)).chosen


DRAWS = [  # (sampler(rng), support, detail, accepted)
    (lambda r: r.normal(3, 2, 3000), "real", {}, {"gaussian"}),
    (lambda r: r.standard_t(1.5, 3000), "real", {}, {"student_t"}),
    (lambda r: r.laplace(1, 2, 3000), "real", {}, {"laplace", "student_t"}),
    (lambda r: r.lognormal(1, 0.7, 3000), "positive", {}, {"lognormal"}),
    (lambda r: r.gamma(2.0, 3.0, 3000), "positive", {}, {"gamma"}),
    (lambda r: r.exponential(4.0, 3000), "positive", {}, {"exponential", "gamma"}),
    (lambda r: r.beta(0.6, 2.0, 3000), "unit_interval", {}, {"beta"}),
    (lambda r: r.poisson(4.0, 3000), "count", {"low": 0}, {"poisson"}),
    (lambda r: r.negative_binomial(1.0, 0.1, 3000), "count", {"low": 0}, {"negative_binomial"}),
    (lambda r: r.poisson(6.0, 3000) * (r.random(3000) > 0.3), "count", {"low": 0}, {"zero_inflated_poisson"}),
    (lambda r: r.negative_binomial(3, 3 / 11, 3000) * (r.random(3000) > 0.35), "count", {"low": 0},
     {"zero_inflated_negative_binomial"}),
    (lambda r: r.binomial(12, 0.35, 3000), "bounded_integer", {"low": 0, "high": 12}, {"binomial"}),
    (lambda r: stats.betabinom.rvs(12, 0.7, 0.7, size=3000, random_state=r), "bounded_integer",
     {"low": 0, "high": 12}, {"beta_binomial"}),
]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("i", range(len(DRAWS)))
def test_selection_recovers_the_generating_family(i, seed):
    sampler, support, detail, accepted = DRAWS[i]
    x = sampler(np.random.default_rng(seed)).astype(np.float64)
    assert _pick(x, support, detail) in accepted


def test_continuous_bernoulli_data_gets_continuous_bernoulli_or_beta():
    x = torch.distributions.ContinuousBernoulli(probs=torch.tensor(0.2)).sample((3000,)).double().numpy()
    assert _pick(x, "unit_interval", {}) in {"continuous_bernoulli", "beta"}


def test_scores_are_in_data_units_and_scale_free():
    x = RNG.normal(0, 1, 2000)
    a = score_families(x, "real", {})["gaussian"].score
    b = score_families(x * 1e9, "real", {})["gaussian"].score
    assert b == pytest.approx(a - np.log(1e9), abs=1e-6)


def test_dequantised_density_and_pmf_compare_on_integers():
    x = RNG.poisson(40, 3000).astype(float)  # large mean: a Gaussian is a fair approximation
    pois = score_families(x, "count", {"low": 0}, ["poisson"])["poisson"].score
    gauss = score_families(x, "real", {"step": 1.0}, ["gaussian"])["gaussian"].score
    assert abs(pois - gauss) < 0.05  # same units (nats per integer value), nearly the same fit


def test_model_transform_keeps_dequantised_pixels_inside_unit_interval():
    t, opts = model_transform("bounded_integer", {"low": 0, "high": 255, "step": 1}, "beta", 0, 1, 0, 255)
    assert (t.shift, t.scale, t.step) == (0.0, 1 / 256, 1.0)
    t, opts = model_transform("bounded_integer", {"low": 1, "high": 6, "step": 1}, "binomial", 3, 1, 1, 6)
    assert (t.shift, t.scale, opts) == (1.0, 1.0, {"total_count": 5})
    t, _ = model_transform("binary", {"values": [-1, 1]}, "bernoulli", 0, 1, -1, 1)
    assert t.description == "{-1,+1} -> {0,1}" and (t.shift, t.scale) == (-1, 0.5)
    t, _ = model_transform("unit_interval", {"low": 0.0, "high": 1.0, "step": 1 / 255}, "beta", 0.5, 0.3, 0, 1)
    assert (1 + t.step - t.shift) * t.scale <= 1.0


def test_wide_integer_ranges_drop_categorical():
    assert "categorical" not in candidates("bounded_integer", {"low": 0, "high": 255})
    assert "categorical" in candidates("bounded_integer", {"low": 1, "high": 6})


def test_three_levels_keep_the_saturated_categorical_and_more_levels_the_simpler_family():
    """On 3 levels a categorical has 2 parameters, as many as a beta-binomial, and nests it: kept.
    On 6 levels drawn from a binomial the 1-parameter binomial stays the choice; on 2 levels the
    Bernoulli (the same distribution in one logit) stays."""
    rng = np.random.default_rng(3)
    years = 2007 + rng.choice(3, size=3000, p=[0.3, 0.3, 0.4])
    table = score_families(years, "bounded_integer", {"low": 2007, "high": 2009})
    assert table["categorical"].n_params == 2 == table["beta_binomial"].n_params
    assert choose(table).chosen == "categorical"
    six = rng.binomial(5, 0.4, size=3000)
    assert choose(score_families(six, "bounded_integer", {"low": 0, "high": 5})).chosen == "binomial"
    flags = rng.binomial(1, 0.3, size=3000)
    assert choose(score_families(flags, "binary", {"values": [0, 1]})).chosen == "bernoulli"


def test_a_family_whose_spread_its_mean_sets_yields_to_a_free_spread_within_noise():
    """Uniform values on [0, 1] are a continuous Bernoulli at lambda = 1/2 and a Beta(1, 1): both fit, and the
    one-parameter continuous Bernoulli is the simpler. But its spread is set by its mean, so given the latent
    code it could not narrow; the Beta, whose concentration is free, is kept, and the rationale says why."""
    from autolik import families
    from autolik.analysis.selection.select import rationale

    x = np.random.default_rng(0).random(4000)
    table = score_families(x, "unit_interval", {})
    sel = choose(table)
    assert families.family("continuous_bernoulli").fixed_spread and not families.family("beta").fixed_spread
    assert table["continuous_bernoulli"].n_params < table["beta"].n_params
    assert {"continuous_bernoulli", "beta"} <= set(sel.acceptable)  # within noise of each other
    assert sel.chosen == "beta" and sel.passed_over == "continuous_bernoulli"
    why = rationale("unit_interval", x, sel, {})
    assert "continuous Bernoulli" in why and "spread set by its mean" in why

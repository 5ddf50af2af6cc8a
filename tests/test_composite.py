"""The composite head for mixed data and build_likelihood(choices)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from autolik.analysis.recommendation.recommend import FeatureChoice
from autolik.errors import UsageError
from autolik.likelihoods import get_likelihood
from autolik.likelihoods.categorical import CategoricalLikelihood
from autolik.likelihoods.composite import CompositeLikelihood, build_likelihood, likelihood_from_config
from autolik.likelihoods.poisson import PoissonLikelihood


def choice(name, columns, likelihood, **options):
    return FeatureChoice(name=name, columns=list(columns), support="x", likelihood=likelihood, options=options)


def mixed_choices():
    """Dataset columns 0..9 (some unused); model space: poisson, one-hot block, gaussian, poisson, binomials."""
    return [
        choice("visits", [0], "poisson"),
        choice("colour", [4, 5, 6], "categorical", n_levels=3, onehot=True),
        choice("height", [2], "gaussian", mode="shared"),
        choice("calls", [3], "poisson"),
        choice("score", [8], "binomial", total_count=5),
        choice("grade", [9], "binomial", total_count=10),
    ]


# model-space x for mixed_choices(): columns visits | colour (3) | height | calls | score | grade
X = torch.tensor([[2.0, 0, 1, 0, 0.3, 0, 4, 9],
                  [0.0, 1, 0, 0, -1.2, 5, 0, 10],
                  [7.0, 0, 0, 1, 2.5, 1, 5, 0]])


def test_same_family_and_options_is_one_head():
    lik = build_likelihood([choice(f"x{i}", [i], "poisson") for i in range(4)])
    assert isinstance(lik, PoissonLikelihood) and lik.n_features == 4


def test_one_hot_blocks_of_one_family_are_one_head():
    lik = build_likelihood([choice("a", [0, 1, 2], "categorical", n_levels=3, onehot=True),
                            choice("b", [5, 6, 7], "categorical", n_levels=3, onehot=True)])
    assert isinstance(lik, CategoricalLikelihood) and lik.n_features == 2 and lik.n_columns == 6


def test_mixed_choices_group_by_family_and_renumber_columns():
    lik = build_likelihood(mixed_choices())
    assert isinstance(lik, CompositeLikelihood)
    parts = {h.name: cols for h, cols in zip(lik.heads, lik.columns)}
    assert parts == {"poisson": [0, 5], "categorical": [1, 2, 3], "gaussian": [4], "binomial": [6, 7]}
    assert lik.n_columns == 8 and lik.n_features == 6
    binomial = lik.heads[[h.name for h in lik.heads].index("binomial")]
    assert binomial.total_count.tolist() == [5.0, 10.0]  # per-feature total_count merged into one head


def test_composite_log_prob_is_the_sum_of_independent_references():
    lik = build_likelihood(mixed_choices()).double()
    raw = torch.randn(3, lik.n_raw, dtype=torch.float64)
    blocks = dict(zip([h.name for h in lik.heads], lik.split_raw(raw)))
    x = X.double().numpy()
    rate = torch.nn.functional.softplus(blocks["poisson"]).numpy()
    expected = stats.poisson.logpmf(x[:, [0, 5]], rate).sum(-1)
    logits = blocks["categorical"].numpy()  # one feature: K = 3 logits
    expected += (logits - np.log(np.exp(logits).sum(-1, keepdims=True)))[np.arange(3), x[:, 1:4].argmax(-1)]
    g = lik.heads[2]
    expected += stats.norm.logpdf(x[:, 4], blocks["gaussian"].numpy()[:, 0], torch.nn.functional.softplus(g.raw_scale).item())
    p = 1 / (1 + np.exp(-blocks["binomial"].numpy()))
    expected += stats.binom.logpmf(x[:, 6:8], [5, 10], p).sum(-1)
    np.testing.assert_allclose(lik.log_prob(raw, X.double()).detach().numpy(), expected, rtol=1e-6)
    per_feature = lik.distribution(raw).log_prob(X.double())
    assert per_feature.shape == (3, 6)
    torch.testing.assert_close(per_feature.sum(-1), lik.log_prob(raw, X.double()))


def test_composite_with_one_part_reduces_to_it():
    head = get_likelihood("negative_binomial", 4)
    comp = CompositeLikelihood([(head, [0, 1, 2, 3])])
    raw, x = torch.randn(5, head.n_raw), torch.randint(0, 9, (5, 4)).float()
    assert comp.n_raw == head.n_raw and comp.n_columns == 4
    torch.testing.assert_close(comp.log_prob(raw, x), head.log_prob(raw, x))
    torch.testing.assert_close(comp.mean(raw), head.mean(raw))
    torch.testing.assert_close(comp.distribution(raw).log_prob(x), head.distribution(raw).log_prob(x))


def test_composite_puts_columns_back_in_place():
    lik = build_likelihood(mixed_choices())
    raw = torch.randn(4, lik.n_raw)
    raw[:, : lik.heads[0].n_raw] = 40.0  # poisson rates ~40: its columns 0 and 5 stand out in mean and sample
    m, s = lik.mean(raw), lik.sample(raw)
    assert m.shape == s.shape == (4, 8)
    assert (m[:, [0, 5]] > 35).all() and (m[:, [1, 2, 3, 6]] < 10).all()
    torch.testing.assert_close(m[:, 1:4].sum(-1), torch.ones(4))  # one-hot block: class probabilities
    assert (s[:, 1:4].sum(-1) == 1).all() and (s[:, 6] <= 5).all() and (s[:, 7] <= 10).all()
    assert (s[:, [0, 5]] > 10).all()


def test_composite_masks_nan_and_keeps_gradients_finite():
    lik = build_likelihood(mixed_choices())
    raw = torch.randn(3, lik.n_raw, requires_grad=True)
    x = X.clone()
    x[0, 0] = x[1, 4] = x[2, 2] = float("nan")  # a count, a real value, part of a one-hot block
    lp = lik.log_prob(raw, x)
    assert torch.isfinite(lp).all()
    lp.sum().backward()
    assert torch.isfinite(raw.grad).all()
    full = lik.distribution(raw.detach()).log_prob(X)  # per feature: visits, colour, height, calls, ...
    masked = full.clone()
    masked[0, 0] = masked[1, 2] = masked[2, 1] = 0.0
    torch.testing.assert_close(lp.detach(), masked.sum(-1))


def test_config_round_trip_rebuilds_the_same_likelihood():
    lik = build_likelihood(mixed_choices())
    rebuilt = likelihood_from_config(lik.config())
    rebuilt.load_state_dict(lik.state_dict())
    raw = torch.randn(3, lik.n_raw)
    torch.testing.assert_close(rebuilt.log_prob(raw, X), lik.log_prob(raw, X))


def test_recommendation_builds_its_likelihood_module():
    from autolik.analysis.recommendation.recommend import Recommendation

    features = mixed_choices() + [FeatureChoice("id", [1], "identifier", None, used=False)]
    rec = Recommendation("mixed", {}, "", [], "", 1.0, [], features, n_columns=10)
    lik = rec.likelihood_module()
    assert lik.n_columns == len(rec.used_columns) == 8
    head = rec.head(16)
    assert head.loss(torch.randn(3, 16), X).shape == (3,)


@pytest.mark.parametrize("parts", [
    [],
    [(get_likelihood("poisson", 2), [0])],
    [(get_likelihood("poisson", 2), [0, 2])],
    [(get_likelihood("poisson", 1), [0]), (get_likelihood("gaussian", 1), [0])],
])
def test_bad_parts_raise_usage_error(parts):
    with pytest.raises(UsageError):
        CompositeLikelihood(parts)


def test_bad_choices_raise_usage_error():
    with pytest.raises(UsageError):
        build_likelihood([])
    with pytest.raises(UsageError):
        build_likelihood([choice("c", [0, 1], "categorical", n_levels=3, onehot=True)])
    with pytest.raises(UsageError):
        build_likelihood([choice("c", [0], "nonsense")])

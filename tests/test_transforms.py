"""Preprocessing transforms: invertibility and the log-Jacobian that keeps likelihoods in data units."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from autolik.transforms import FeatureTransform, Preprocessor


def test_roundtrip_and_nan_passthrough():
    pre = Preprocessor([FeatureTransform(shift=3.0, scale=0.5), FeatureTransform(shift=-1.0, scale=0.5, continuous=False)])
    x = torch.tensor([[3.0, -1.0], [7.0, 1.0], [float("nan"), 1.0]], dtype=torch.float64)
    y = pre.forward(x, dequantize=False)
    assert torch.allclose(y[:2], torch.tensor([[0.0, 0.0], [2.0, 1.0]]))
    assert torch.isnan(y[2, 0])
    back = pre.inverse(y)
    assert torch.allclose(back[:2], x[:2])


def test_jacobian_makes_densities_agree_across_scales():
    """N(0, 1) on y = x / 2 plus log|1/2| is exactly N(0, 2) on x: the density in data units."""
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 2.0, size=(50, 3))
    pre = Preprocessor([FeatureTransform(scale=0.5) for _ in range(3)])
    xt = torch.from_numpy(x)
    y = pre.forward(xt, dequantize=False).double()
    model_lp = torch.distributions.Normal(0.0, 1.0).log_prob(y).sum(-1)
    data_lp = model_lp + pre.log_abs_det_jacobian(xt)
    expected = stats.norm(0, 2).logpdf(x).sum(-1)
    np.testing.assert_allclose(data_lp.numpy(), expected, rtol=1e-6)


def test_discrete_features_get_no_jacobian_and_missing_add_nothing():
    pre = Preprocessor([FeatureTransform(shift=1.0, scale=1.0, continuous=False), FeatureTransform(scale=0.1)])
    x = torch.tensor([[2.0, 5.0], [3.0, float("nan")]], dtype=torch.float64)
    ld = pre.log_abs_det_jacobian(x)
    assert ld[0].item() == pytest.approx(math.log(0.1))
    assert ld[1].item() == 0.0


def test_dequantisation_stays_in_bin_and_counts_the_step():
    """8-bit values dequantised as (x + u)/256 stay in (0, 1); the step's log adds to the Jacobian."""
    pre = Preprocessor([FeatureTransform(scale=1 / 256, step=1.0)])
    x = torch.tensor([[0.0], [255.0], [17.0]], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    y = pre.forward(x.repeat(1000, 1), dequantize=True, generator=g)
    assert float(y.min()) >= 0.0 and float(y.max()) < 1.0
    assert torch.all(torch.floor(y.double() * 256).reshape(1000, 3) == x.squeeze(-1))
    # the density of u ~ U(0,1) on (x+u)/256 is 256; times the bin width 1 gives mass 1 per bin
    ld = pre.log_abs_det_jacobian(x)
    assert torch.allclose(ld, torch.full((3,), math.log(1 / 256), dtype=torch.float64))


def test_serialisation_roundtrip():
    pre = Preprocessor([FeatureTransform(1.0, 2.0, 0.5, True, "d"), FeatureTransform()])
    again = Preprocessor.from_dict(pre.to_dict())
    assert again.to_dict() == pre.to_dict()
    assert torch.equal(again.log_jac, pre.log_jac)

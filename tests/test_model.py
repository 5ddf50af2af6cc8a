"""The VAE: shapes, defaults, conv layout, missing values, config round trip, every registered head."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import constraints

from autolik.errors import UsageError
from autolik.likelihoods import Likelihood, available_likelihoods, get_likelihood, likelihood_class
from autolik.model import VAE, LossTerms
from autolik.model.networks import default_hidden, default_latent


def family_options(name: str) -> dict:
    """Options a head needs for small synthetic data (driven by its declared option_defaults)."""
    need = likelihood_class(name).option_defaults
    opts = {}
    if "total_count" in need and need["total_count"] is None:
        opts["total_count"] = 5
    if "n_levels" in need:
        opts["n_levels"] = 4
    return opts


def family_data(name: str, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Synthetic model-space data inside the head's support (driven by its declared support)."""
    cls, opts = likelihood_class(name), family_options(name)
    s = cls.support
    if s is constraints.boolean:
        return (rng.random((n, d)) < 0.4).astype(np.float64)
    if isinstance(s, constraints._Interval):
        return rng.uniform(0.05, 0.95, (n, d))
    if isinstance(s, constraints._IntegerGreaterThan):
        top = opts.get("n_levels", 0) - 1 if "n_levels" in opts else opts.get(
            "total_count", cls.option_defaults.get("total_count"))
        if top:
            return rng.integers(0, int(top) + 1, (n, d)).astype(np.float64)
        return rng.poisson(3.0, (n, d)).astype(np.float64)
    if isinstance(s, (constraints._GreaterThan, constraints._GreaterThanEq)):
        return rng.gamma(2.0, 1.0, (n, d))
    return rng.normal(size=(n, d))


def make(name: str, d: int, **kw) -> Likelihood:
    return get_likelihood(name, d, **family_options(name), **kw)


def test_defaults_scale_with_the_number_of_inputs():
    small, big = VAE(get_likelihood("gaussian", 10)), VAE(get_likelihood("gaussian", 784))
    assert (small.latent_dim, small.hidden) == (default_latent(10), default_hidden(10)) == (2, [64, 64])
    assert (big.latent_dim, big.hidden) == (32, [512, 512])
    custom = VAE(get_likelihood("gaussian", 10), latent_dim=3, hidden=[20, 7, 5])
    assert custom.latent_dim == 3 and [m.out_features for m in custom.encoder if hasattr(m, "out_features")] == [20, 7, 5, 6]


@pytest.mark.parametrize("name", available_likelihoods())
def test_every_head_gives_finite_loss_and_gradients(name):
    torch.manual_seed(0)
    lik = make(name, 6)
    y = torch.as_tensor(family_data(name, 16, lik.n_columns, np.random.default_rng(0)), dtype=torch.float32)
    model = VAE(lik)
    terms = model.loss(y)
    assert isinstance(terms, LossTerms)
    assert terms.loss.shape == () and terms.nll.shape == (16,) and terms.kl.shape == (16,)
    assert torch.isfinite(terms.loss) and bool((terms.kl >= 0).all())
    assert torch.allclose(terms.loss, (terms.nll + terms.kl).mean())
    terms.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_encode_decode_shapes_and_beta():
    torch.manual_seed(0)
    model = VAE(get_likelihood("gaussian", 12, mode="sample"), latent_dim=4)
    x = torch.randn(7, 12)
    q = model.encode(x)
    assert q.loc.shape == (7, 4) and bool((q.scale > 0).all())
    assert model.decode(q.loc).shape == (7, model.likelihood.n_raw) == (7, 24)
    torch.manual_seed(1)
    a = model.loss(x, beta=0.0)
    torch.manual_seed(1)
    b = model.loss(x, beta=1.0)
    assert torch.allclose(a.loss, a.nll.mean()) and torch.allclose(b.loss - a.loss, b.kl.mean())


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 8, 8), (2, 9, 11)])
def test_conv_path_handles_image_sizes(shape):
    torch.manual_seed(0)
    n = math.prod(shape)
    lik = get_likelihood("gaussian", n, mode="sample")
    model = VAE(lik, image_shape=shape)
    assert model.architecture == "conv" and model.decoder.final is None
    x = torch.randn(3, n)
    assert model.decode(model.encode(x).loc).shape == (3, 2 * n)
    assert torch.isfinite(model.loss(x).loss)


def test_conv_raw_layout_matches_the_likelihood_blocks():
    """Channel p*C + c of the last transposed conv must feed parameter p of the pixels of channel c."""
    torch.manual_seed(0)
    shape = (3, 8, 8)
    lik = get_likelihood("gaussian", 192, mode="sample")
    model = VAE(lik, image_shape=shape)
    z = torch.randn(2, model.latent_dim)
    before = lik.parameters_from_raw(model.decode(z))
    with torch.no_grad():
        model.decoder.deconv[-1].bias[1 * 3 + 2] += 5.0  # parameter 1 (scale), image channel 2
    after = lik.parameters_from_raw(model.decode(z))
    changed = (after["scale"] != before["scale"]).reshape(2, *shape)
    assert bool(changed[:, 2].all()) and not bool(changed[:, :2].any())
    assert torch.equal(after["loc"], before["loc"])


def test_conv_falls_back_to_a_final_linear_for_other_raw_layouts():
    class Shuffled(likelihood_class("bernoulli")):
        def parameters_from_raw(self, raw):  # a head with its own layout
            return super().parameters_from_raw(raw.flip(-1))

    model = VAE(Shuffled(64), image_shape=(1, 8, 8))
    assert model.architecture == "conv" and model.decoder.final is not None
    assert model.decode(torch.zeros(2, model.latent_dim)).shape == (2, 64)


def test_categorical_codes_on_images_use_k_channels():
    lik = get_likelihood("categorical", 64, n_levels=3)
    model = VAE(lik, image_shape=(1, 8, 8))
    assert model.decoder.final is None and model.decoder.deconv[-1].out_channels == 3
    y = torch.randint(0, 3, (4, 64)).float()
    assert torch.isfinite(model.loss(y).loss)


def test_architecture_choice():
    assert VAE(get_likelihood("bernoulli", 16), image_shape=(1, 4, 4)).architecture == "mlp"  # too small
    assert VAE(get_likelihood("bernoulli", 64), image_shape=(1, 8, 8), architecture="mlp").architecture == "mlp"
    assert VAE(get_likelihood("bernoulli", 60), image_shape=(1, 8, 8)).architecture == "mlp"  # columns dropped
    with pytest.raises(UsageError, match="C\\*H\\*W"):
        VAE(get_likelihood("bernoulli", 60), image_shape=(1, 8, 8), architecture="conv")
    with pytest.raises(UsageError, match="architecture"):
        VAE(get_likelihood("bernoulli", 6), architecture="resnet")


@pytest.mark.parametrize("shape", [None, (1, 8, 8)])
def test_missing_values_give_finite_loss(shape):
    torch.manual_seed(0)
    model = VAE(get_likelihood("gaussian", 64), image_shape=shape, missing=True)
    x = torch.randn(10, 64)
    x[torch.rand(10, 64) < 0.3] = float("nan")
    terms = model.loss(x)
    terms.loss.backward()
    assert torch.isfinite(terms.loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    # the mask is seen by the encoder: the same imputed values with a different mask encode differently
    filled = torch.nan_to_num(x)
    assert not torch.allclose(model.encode(x).loc, model.encode(filled).loc)


@pytest.mark.parametrize("kw", [{}, {"image_shape": (1, 8, 8), "missing": True, "activation": "silu"}])
def test_config_round_trip_rebuilds_the_same_network(kw):
    torch.manual_seed(0)
    model = VAE(get_likelihood("gaussian", 64), latent_dim=5, **kw)
    cfg = model.config()
    import json
    cfg = json.loads(json.dumps(cfg))
    clone = VAE.from_config(cfg, get_likelihood("gaussian", 64))
    clone.load_state_dict(model.state_dict())
    x = torch.randn(3, 64)
    assert clone.config() == model.config()
    assert torch.equal(clone.decode(clone.encode(x).loc), model.decode(model.encode(x).loc))
    with pytest.raises(UsageError, match="n_inputs"):
        VAE.from_config(cfg, get_likelihood("gaussian", 10))


@pytest.mark.parametrize("name,data", [
    ("negative_binomial", lambda r: r.negative_binomial(2.0, 2.0 / 14.0, size=(256, 5)).astype(float)),
    ("bernoulli", lambda r: (r.random((256, 5)) < 0.9).astype(float)),
    ("gaussian", lambda r: r.normal(40.0, 3.0, size=(256, 5))),
])
def test_fit_output_bias_starts_the_decoder_at_the_marginal(name, data):
    """Before training, p(x | z) is moved to the data's marginal: the decoded mean matches the data's mean."""
    x = torch.as_tensor(data(np.random.default_rng(0)), dtype=torch.float32)
    lik = get_likelihood(name, 5)
    model = VAE(lik, latent_dim=2, hidden=[16])
    before = -lik.log_prob(model.decode(torch.zeros(256, 2)), x).mean().item()
    after = model.fit_output_bias(x)
    mean = lik.mean(model.decode(torch.zeros(1, 2)))[0]
    assert after < before
    assert torch.allclose(mean, x.mean(0), rtol=0.1), (mean, x.mean(0))


def test_fit_output_bias_fits_shapes_but_leaves_scales():
    """Dispersion is fitted to the marginal (NB total_count 10 -> about 2 here); a Gaussian's sigma is not
    (fitted to the marginal, a per-pixel sigma lets the decoder ignore z)."""
    rng = np.random.default_rng(1)
    counts = torch.as_tensor(rng.negative_binomial(2.0, 2.0 / 14.0, size=(256, 4)), dtype=torch.float32)
    nb = get_likelihood("negative_binomial", 4, mode="feature")
    VAE(nb, latent_dim=2, hidden=[16]).fit_output_bias(counts)
    r = nb.parameters_from_raw(torch.zeros(1, nb.n_raw))["total_count"][0]
    assert torch.all((r > 1.0) & (r < 4.0)), r
    g = get_likelihood("gaussian", 4, mode="feature")
    start = g.raw_scale.detach().clone()
    VAE(g, latent_dim=2, hidden=[16]).fit_output_bias(torch.randn(256, 4) * 5 + 3)
    assert torch.equal(g.raw_scale.detach(), start)

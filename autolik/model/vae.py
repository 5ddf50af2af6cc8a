"""The variational autoencoder: Gaussian posterior q(z|x), standard-normal prior, any likelihood head.

The loss is the negative ELBO (Kingma & Welling, 2014, "Auto-Encoding Variational Bayes")
built only from the head's ``log_prob`` and the analytic KL, so likelihoods swap freely.
With ``missing=True`` the encoder sees x with missing values imputed by 0 and the missingness
mask concatenated, and the likelihood ignores missing entries (Nazabal et al., 2020, "Handling
incomplete heterogeneous data using VAEs", HI-VAE).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence

from autolik.errors import UsageError
from autolik.likelihoods.base import Likelihood
from autolik.model.networks import (
    ACTIVATIONS, ConvDecoder, ConvEncoder, default_hidden, default_latent, mlp,
)

ARCHITECTURES = ("auto", "mlp", "conv")
CONFIG_VERSION = 1
SCALE_FLOOR = 1e-4  # posterior standard deviations stay above this


@dataclass
class LossTerms:
    """Terms of the negative ELBO for one mini-batch.

    Attributes:
        loss: scalar, mean over the batch of ``nll + beta * kl``.
        nll: shape (batch,), -log p(x | z) in model space for one sample z ~ q(z | x).
        kl: shape (batch,), KL(q(z | x) || N(0, I)).
    """

    loss: torch.Tensor
    nll: torch.Tensor
    kl: torch.Tensor


def _n_inputs(likelihood: Likelihood) -> int:
    return int(getattr(likelihood, "n_columns", likelihood.n_features))


def _block_channels(likelihood: Likelihood, image_shape: Sequence[int]) -> int | None:
    """Output channels of the conv decoder when the raw layout is per-feature blocks, else None."""
    n_pix = math.prod(int(s) for s in image_shape)
    base_layout = type(likelihood).parameters_from_raw is Likelihood.parameters_from_raw
    rpf = getattr(likelihood, "raw_per_feature", None)
    if base_layout and rpf and likelihood.n_features == n_pix and likelihood.n_raw == rpf * n_pix:
        return int(rpf) * int(image_shape[0])
    return None


def resolve_architecture(architecture: str, image_shape, n_inputs: int) -> str:
    """``"auto"`` -> ``"conv"`` for images (C, H, W) with H, W >= 8 whose pixels are all used, else ``"mlp"``."""
    if architecture not in ARCHITECTURES:
        raise UsageError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    fits = image_shape is not None and len(image_shape) == 3 and math.prod(image_shape) == n_inputs
    if architecture == "conv" and not fits:
        raise UsageError(
            f"architecture 'conv' needs image_shape (C, H, W) with C*H*W == {n_inputs} model columns, "
            f"got image_shape={image_shape}; use architecture='mlp'"
        )
    if architecture == "auto":
        return "conv" if fits and min(image_shape[1:]) >= 8 else "mlp"
    return architecture


class VAE(nn.Module):
    """VAE with a Gaussian posterior, a N(0, I) prior and the decoder ending in ``likelihood``.

    Args:
        likelihood: the head turning raw decoder outputs into p(x | z); its ``n_columns``
            (or ``n_features``) is the width of x in model space.
        latent_dim: size of z; default ``min(32, max(2, n_inputs // 4))``.
        hidden: hidden widths of the MLPs (the conv nets use ``hidden[:1]``); default two layers
            of ``min(512, max(64, 2 * n_inputs))``.
        image_shape: (C, H, W) when each sample is an image laid out in C, H, W order.
        missing: encoder input is ``[x with NaN -> 0, NaN mask]``.
        architecture: ``"auto"``, ``"mlp"`` or ``"conv"``.
        activation: hidden activation, ``"relu"`` (default), ``"silu"``, ``"elu"`` or ``"tanh"``.
    """

    def __init__(self, likelihood: Likelihood, latent_dim: int | None = None, hidden: Sequence[int] | None = None,
                 image_shape: tuple | None = None, missing: bool = False, architecture: str = "auto",
                 activation: str = "relu"):
        super().__init__()
        n = _n_inputs(likelihood)
        if activation not in ACTIVATIONS:
            raise UsageError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.likelihood = likelihood
        self.n_inputs = n
        self.latent_dim = int(latent_dim) if latent_dim is not None else default_latent(n)  # 0: an error
        self.hidden = [int(h) for h in (hidden if hidden else default_hidden(n))]
        if self.latent_dim < 1 or any(h < 1 for h in self.hidden):
            raise UsageError(f"latent_dim and hidden sizes must be >= 1, got {self.latent_dim} and {self.hidden}")
        self.image_shape = tuple(int(s) for s in image_shape) if image_shape is not None else None
        self.missing = bool(missing)
        self.activation = activation
        self.architecture = resolve_architecture(architecture, self.image_shape, n)
        self._build()

    def _build(self) -> None:
        n, lat, act = self.n_inputs, self.latent_dim, self.activation
        if self.architecture == "conv":
            c = self.image_shape[0]
            self.encoder = ConvEncoder(self.image_shape, 2 * c if self.missing else c, self.hidden[:1], 2 * lat, act)
            self.decoder = ConvDecoder(self.image_shape, lat, self.hidden[:1], self.likelihood.n_raw,
                                       _block_channels(self.likelihood, self.image_shape), act)
        else:
            self.encoder = mlp(2 * n if self.missing else n, self.hidden, 2 * lat, act)
            self.decoder = mlp(lat, self.hidden[::-1], self.likelihood.n_raw, act)
        # one bias per raw output (per pixel, also for the conv decoder): set by fit_output_bias
        self.raw_bias = nn.Parameter(torch.zeros(self.likelihood.n_raw))
        # the MLP encoder sees standardised columns, (x - in_shift) * in_scale, set from the data by
        # fit_output_bias: model space keeps counts as counts (30,000 is 30,000), which an MLP cannot take raw
        self.register_buffer("in_shift", torch.zeros(n))
        self.register_buffer("in_scale", torch.ones(n))

    # -- the model -----------------------------------------------------------------------
    def encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the encoder sees: x standardised (MLP), NaN -> 0 (the mean), and the NaN mask appended
        when ``missing``."""
        filled = torch.nan_to_num((x - self.in_shift) * self.in_scale, nan=0.0)
        return torch.cat([filled, torch.isnan(x).to(x.dtype)], dim=1) if self.missing else filled

    def encode(self, x: torch.Tensor) -> Normal:
        """q(z | x): a Normal with batch shape (batch, latent_dim). x: (batch, n_inputs), may hold NaN."""
        loc, raw_scale = self.encoder(self.encoder_input(x)).chunk(2, dim=-1)
        return Normal(loc, F.softplus(raw_scale) + SCALE_FLOOR, validate_args=False)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Raw likelihood outputs, shape (batch, likelihood.n_raw), for z of shape (batch, latent_dim)."""
        return self.decoder(z) + self.raw_bias

    def fit_output_bias(self, x: torch.Tensor, steps: int = 200, lr: float = 0.5) -> float:
        """Start the decoder at the data's marginal distribution.

        Fits ``raw_bias`` and the likelihood's learned shape parameters (a negative binomial's
        dispersion, a Beta's precision, Student-t's df) by maximum likelihood with the decoder's
        output at z = 0 held fixed, so training starts from
        p(x | z) close to the per-feature marginal instead of from softplus(0) = 0.7 counts or a
        Bernoulli at 1/2. Adam moves a raw output about lr per step, so without this a family whose
        raw output must travel far (a negative-binomial mean of 12, a precision of 50) loses
        hundreds of steps to the drift, and short runs favour whatever was preprocessed to sit near
        zero (identity + MSE on standardised data). The same idea as initialising a classifier's
        output bias to the class frequencies. Learned *scales* (a Gaussian's sigma) stay at their
        start, 1 in model units: fitted to the marginal, a per-pixel sigma is already so good that
        the decoder learns to ignore z (posterior collapse, seen on MNIST), while a dispersion left
        at its default (total_count 10 against 0.5 in over-dispersed counts) costs hundreds of steps.

        Args:
            x: model-space data of shape (n, n_inputs), a few hundred rows; NaN allowed.
        Returns:
            the final mean negative log-likelihood per sample (model space).
        """
        self.likelihood.set_scale(x)
        if self.architecture == "mlp":
            self.set_input_scale(x)
        shapes = [p for name, p in self.likelihood.named_parameters()
                  if p.requires_grad and name.rsplit(".", 1)[-1] != "raw_scale"]
        opt = torch.optim.Adam([self.raw_bias, *shapes], lr=lr, betas=(0.8, 0.9))  # short memory: large early gradients fade fast
        with torch.no_grad():
            z0 = torch.zeros(1, self.latent_dim, dtype=self.raw_bias.dtype, device=self.raw_bias.device)
            base = self.decoder(z0)
        nll = torch.tensor(float("nan"))
        for _ in range(int(steps)):
            opt.zero_grad(set_to_none=True)
            nll = -self.likelihood.log_prob((base + self.raw_bias).expand(len(x), -1), x).mean()
            if not torch.isfinite(nll):
                break
            nll.backward()
            opt.step()
        return float(nll.detach())

    @torch.no_grad()
    def set_input_scale(self, x: torch.Tensor) -> None:
        """Standardise the encoder's input columns with the mean and standard deviation of x (batch, n_inputs)."""
        xd = x.double()
        mean = torch.nan_to_num(xd.nanmean(0), nan=0.0)
        sd = torch.nan_to_num((xd - mean).pow(2).nanmean(0).sqrt(), nan=1.0)
        self.in_shift.copy_(mean.to(self.in_shift))
        self.in_scale.copy_(torch.where(sd > 1e-8, 1.0 / sd, torch.ones_like(sd)).to(self.in_scale))

    def loss(self, x: torch.Tensor, beta: float = 1.0, eps: torch.Tensor | None = None) -> LossTerms:
        """Negative ELBO of a model-space batch x (batch, n_inputs), one reparameterised z per sample.

        ``eps``: the standard-normal noise of z (batch, latent_dim), when the caller draws it (data-parallel
        training draws the whole global batch's noise in every process and passes each its rows'); else
        drawn here, as ``rsample`` draws it."""
        q = self.encode(x)
        z = q.rsample() if eps is None else q.loc + eps * q.scale  # rsample's own expression
        nll = -self.likelihood.log_prob(self.decode(z), x)
        kl = kl_divergence(q, Normal(torch.zeros_like(q.loc), torch.ones_like(q.scale))).sum(-1)
        return LossTerms(loss=(nll + beta * kl).mean(), nll=nll, kl=kl)

    def forward(self, x: torch.Tensor) -> LossTerms:
        return self.loss(x)

    # -- (de)serialisation ---------------------------------------------------------------
    def config(self) -> dict:
        """JSON-able description of the architecture; ``VAE.from_config(cfg, likelihood)`` rebuilds it."""
        return {
            "version": CONFIG_VERSION,
            "n_inputs": self.n_inputs,
            "n_raw": int(self.likelihood.n_raw),
            "latent_dim": self.latent_dim,
            "hidden": list(self.hidden),
            "image_shape": list(self.image_shape) if self.image_shape is not None else None,
            "missing": self.missing,
            "architecture": self.architecture,
            "activation": self.activation,
        }

    @classmethod
    def from_config(cls, config: dict, likelihood: Likelihood) -> "VAE":
        """Rebuild an (untrained) VAE from :meth:`config` and the likelihood it was built with."""
        if int(config.get("version", 0)) > CONFIG_VERSION:
            raise UsageError(f"model config version {config.get('version')} is newer than this autolik "
                             f"understands ({CONFIG_VERSION}); upgrade autolik")
        for key, have in (("n_inputs", _n_inputs(likelihood)), ("n_raw", likelihood.n_raw)):
            if key in config and int(config[key]) != int(have):
                raise UsageError(f"model config expects {key}={config[key]} but the likelihood has {have}; "
                                 "rebuild the likelihood that was saved with the model")
        shape = config.get("image_shape")
        return cls(likelihood, latent_dim=config["latent_dim"], hidden=config["hidden"],
                   image_shape=tuple(shape) if shape is not None else None, missing=config.get("missing", False),
                   architecture=config.get("architecture", "auto"), activation=config.get("activation", "relu"))

"""Held-out figures in the units of the original data: negative ELBO and the IWAE bound.

For a sample x in original units with model-space image y = pre(x):

* ``log p(x) = log p(y) + pre.log_abs_det_jacobian(x)`` — the change of variables for densities,
  plus ``log step`` for continuous likelihoods on lattice data, where y is the uniformly
  dequantised value (Theis et al., 2016, "A note on the evaluation of generative models"); the
  dequantisation noise is drawn once from a fixed seed so two evaluations agree.
* ``log p(y) >= log (1/k) sum_i p(y | z_i) p(z_i) / q(z_i | y)``, ``z_i ~ q(z | y)``: the
  importance-weighted bound (Burda et al., 2016, "Importance Weighted Autoencoders"). With the
  same k samples, the ELBO estimate is the mean of the log weights, so the reported IWAE figure
  is never looser than the reported ELBO.

The k samples are processed in chunks so that at most about ``MAX_ELEMENTS`` raw decoder outputs
are held at once.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.distributions import Normal

from autolik.train import as_data_tensor
from autolik.transforms import Preprocessor

MAX_ELEMENTS = 1 << 23  # raw decoder outputs held in memory at once (x 4 bytes)


def _model_dtype_device(model) -> tuple[torch.dtype, torch.device]:
    p = next(model.parameters())
    return p.dtype, p.device


@torch.no_grad()
def log_weights(model, y: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Log importance weights ``log p(y|z_i) + log p(z_i) - log q(z_i|y)``, shape (k, batch), float64.

    Args:
        model: the VAE.
        y: model-space batch of shape (batch, n_inputs), on the model's device and dtype.
        k: number of importance samples.
        generator: CPU generator for the posterior noise.
    """
    q = model.encode(y)
    b, lat = q.loc.shape
    prior = Normal(torch.zeros_like(q.loc[0]), torch.ones_like(q.scale[0]))
    chunk = max(1, min(k, MAX_ELEMENTS // max(1, b * int(model.likelihood.n_raw))))
    # all noise drawn at once (small: k * batch * latent), so chunking does not change the numbers
    eps_all = torch.randn((k, b, lat), generator=generator, dtype=torch.float64).to(q.loc)
    out = []
    for start in range(0, k, chunk):
        kk = min(chunk, k - start)
        z = q.loc + q.scale * eps_all[start:start + kk]                    # (kk, b, lat)
        raw = model.decode(z.reshape(kk * b, lat))
        ll = model.likelihood.log_prob(raw, y.repeat(kk, 1)).reshape(kk, b)
        lw = ll + prior.log_prob(z).sum(-1) - q.log_prob(z).sum(-1)
        out.append(lw.to(torch.float64))
    return torch.cat(out, dim=0)


def per_sample(model, pre: Preprocessor, x: np.ndarray, k: int = 100, batch_size: int = 256,
               seed: int = 0) -> dict:
    """Per-sample figures in original units.

    Args:
        x: array of shape (n_samples, n_columns) in ORIGINAL units (the model's columns).

    Returns:
        dict of float64 arrays of shape (n_samples,): ``elbo`` and ``log_lik_iwae`` (nats,
        higher is better; both include the Jacobian) and ``n_observed`` (observed values of the
        data's columns).
    """
    if k < 1:
        from autolik.errors import UsageError
        raise UsageError(f"k (importance samples) must be >= 1, got {k}")
    xt = as_data_tensor(x, int(model.n_inputs), "x")
    dtype, device = _model_dtype_device(model)
    y_all = pre.forward(xt, dequantize=True, generator=torch.Generator().manual_seed(seed))
    log_jac = pre.log_abs_det_jacobian(xt)
    gen = torch.Generator().manual_seed(seed + 1)
    was_training = model.training
    model.eval()
    elbo, iwae = [], []
    try:
        for start in range(0, len(xt), batch_size):
            y = y_all[start:start + batch_size].to(device=device, dtype=dtype)
            lw = log_weights(model, y, k, gen).cpu()
            elbo.append(lw.mean(0))
            iwae.append(torch.logsumexp(lw, 0) - math.log(k))
    finally:
        model.train(was_training)
    cat = (lambda parts: torch.cat(parts).numpy()) if elbo else (lambda parts: np.zeros(0))
    jac = log_jac.numpy()
    return {"elbo": cat(elbo) + jac, "log_lik_iwae": cat(iwae) + jac,
            "n_observed": _observed_values(xt)}


def _observed_values(xt: torch.Tensor) -> np.ndarray:
    """Observed values per sample: the non-missing entries of the data's own columns.

    This is the per-dimension denominator, and it depends only on the data: a one-hot block
    counts its K columns and a string column one, whatever family models them, so per-dim
    figures of different likelihoods on the same rows and columns divide the same total.
    """
    return (~torch.isnan(xt)).sum(-1).numpy().astype(np.float64)


def evaluate(model, pre: Preprocessor, x: np.ndarray, k: int = 100, batch_size: int = 256, seed: int = 0,
             lattice: bool = False) -> dict:
    """Negative ELBO and IWAE negative log-likelihood of held-out data, in original-data units.

    Args:
        model: a trained :class:`autolik.model.VAE`.
        pre: its preprocessor (original units -> model space).
        x: array of shape (n_samples, n_columns) in ORIGINAL units; NaN = missing.
        k: importance samples for the IWAE bound.
        batch_size: samples per forward pass.
        seed: fixes the dequantisation noise and the posterior samples.
        lattice: the data are integers (or a lattice): also report bits per dimension.

    Returns:
        ``n_samples``, ``n_dims`` (observed values per sample, averaged), ``neg_elbo_nats_per_sample``,
        ``nll_iwae_nats_per_sample``, ``neg_elbo_nats_per_dim``, ``nats_per_dim`` (IWAE),
        ``bits_per_dim`` (IWAE; None unless ``lattice``) and ``k``.
    """
    ps = per_sample(model, pre, x, k=k, batch_size=batch_size, seed=seed)
    n = len(ps["elbo"])
    dims = float(ps["n_observed"].sum())
    neg_elbo, nll = -float(ps["elbo"].sum()), -float(ps["log_lik_iwae"].sum())
    per_dim = nll / dims if dims > 0 else float("nan")
    return {
        "n_samples": n,
        "n_dims": dims / n if n else 0.0,
        "neg_elbo_nats_per_sample": neg_elbo / n if n else float("nan"),
        "nll_iwae_nats_per_sample": nll / n if n else float("nan"),
        "neg_elbo_nats_per_dim": neg_elbo / dims if dims > 0 else float("nan"),
        "nats_per_dim": per_dim,
        "bits_per_dim": per_dim / math.log(2) if lattice else None,
        "k": int(k),
    }


def score_samples(model, pre: Preprocessor, x: np.ndarray, k: int = 1, batch_size: int = 256, seed: int = 0) -> np.ndarray:
    """Per-row ELBO in nats, original units (higher is better), shape (n_samples,); ``k`` samples averaged."""
    return per_sample(model, pre, x, k=k, batch_size=batch_size, seed=seed)["elbo"]

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
are held at once. Rows are scored in units of ``batch_size``; rows read from a file
(:class:`autolik.batches.RowSource`) arrive a unit at a time, and a data-parallel run
(:mod:`autolik.distributed`) scores every process's share of the units and adds up the sums. The
random streams are drawn unit by unit in order, every unit's noise drawn whoever scores it, so the
figures are the same however the rows arrive.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.distributions import Normal

from autolik.errors import DataError
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


def _units(x, n_columns: int, size: int, keep):
    """``(index, n_rows, float64 tensor or None)`` per unit of ``size`` rows of x: an array (checked whole,
    as before), or anything with ``units(size, keep)`` (rows read a unit at a time)."""
    if hasattr(x, "units"):
        if x.shape[1] != n_columns:
            raise DataError(f"x must have {n_columns} columns, got {x.shape[1]}; pass only the columns the model uses")
        for i, n, part in x.units(size, keep):
            yield i, n, None if part is None else torch.from_numpy(np.ascontiguousarray(part, dtype=np.float64))
        return
    xt = as_data_tensor(x, n_columns, "x")
    xt = xt.dense() if hasattr(xt, "dense") else xt
    for i, start in enumerate(range(0, len(xt), size)):
        part = xt[start:start + size]
        yield i, len(part), part if keep is None or keep(i) else None


def per_sample(model, pre: Preprocessor, x, k: int = 100, batch_size: int = 256, seed: int = 0,
               keep=None) -> dict:
    """Per-sample figures in original units.

    Args:
        x: array of shape (n_samples, n_columns) in ORIGINAL units (the model's columns), or rows read
            a unit at a time (an object with ``shape`` and ``units(size, keep)``, e.g. a
            :class:`autolik.batches.RowSource`).
        keep: ``keep(unit)`` says which units of ``batch_size`` rows this process scores (None: all); the
            others' random numbers are drawn and dropped, so every unit gets the noise it gets alone.

    Returns:
        dict of float64 arrays, one value per scored row: ``elbo`` and ``log_lik_iwae`` (nats,
        higher is better; both include the Jacobian) and ``n_observed`` (observed values of the
        data's columns).
    """
    if k < 1:
        from autolik.errors import UsageError
        raise UsageError(f"k (importance samples) must be >= 1, got {k}")
    n_columns, batch_size = int(model.n_inputs), max(1, int(batch_size))
    dtype, device = _model_dtype_device(model)
    gen_deq = torch.Generator().manual_seed(seed)  # one stream over the rows in order, as one call over them all
    gen = torch.Generator().manual_seed(seed + 1)
    noisy = bool((pre.step > 0).any())
    was_training = model.training
    model.eval()
    elbo, iwae, observed = [], [], []
    try:
        for _, n, xb in _units(x, n_columns, batch_size, keep):
            if xb is None:  # another process's unit: its noise, so the next unit's is what it would be
                if noisy:
                    torch.rand((n, n_columns), generator=gen_deq, dtype=torch.float64)
                torch.randn((k, n, model.latent_dim), generator=gen, dtype=torch.float64)
                continue
            y = pre.forward(xb, dequantize=True, generator=gen_deq).to(device=device, dtype=dtype)
            lw = log_weights(model, y, k, gen).cpu()
            jac = pre.log_abs_det_jacobian(xb).numpy()
            elbo.append(lw.mean(0).numpy() + jac)
            iwae.append((torch.logsumexp(lw, 0) - math.log(k)).numpy() + jac)
            observed.append(_observed_values(xb))
    finally:
        model.train(was_training)
    cat = (lambda parts: np.concatenate(parts)) if elbo else (lambda parts: np.zeros(0))
    return {"elbo": cat(elbo), "log_lik_iwae": cat(iwae), "n_observed": cat(observed)}


def _observed_values(xt: torch.Tensor) -> np.ndarray:
    """Observed values per sample: the non-missing entries of the data's own columns.

    This is the per-dimension denominator, and it depends only on the data: a one-hot block
    counts its K columns and a string column one, whatever family models them, so per-dim
    figures of different likelihoods on the same rows and columns divide the same total.
    """
    return (~torch.isnan(xt)).sum(-1).numpy().astype(np.float64)


def evaluate(model, pre: Preprocessor, x, k: int = 100, batch_size: int = 256, seed: int = 0,
             lattice: bool = False, world=None, rows: bool = False) -> dict:
    """Negative ELBO and IWAE negative log-likelihood of held-out data, in original-data units.

    Args:
        model: a trained :class:`autolik.model.VAE`.
        pre: its preprocessor (original units -> model space).
        x: array of shape (n_samples, n_columns) in ORIGINAL units; NaN = missing (or rows read a
            unit at a time, see :func:`per_sample`).
        k: importance samples for the IWAE bound.
        batch_size: samples per forward pass.
        seed: fixes the dequantisation noise and the posterior samples.
        lattice: the data are integers (or a lattice): also report bits per dimension.
        world: an :class:`autolik.distributed.World`: this process scores its share of the units, and the
            sums and counts are added over the processes (every process returns the same figures).
        rows: also return ``nll_iwae_rows``, the IWAE negative log-likelihood of each row (nats, float64
            array in row order), for paired comparisons of models scored on the same rows (only without
            ``world``: a process holds its own rows' values, not the others').

    Returns:
        ``n_samples``, ``n_dims`` (observed values per sample, averaged), ``neg_elbo_nats_per_sample``,
        ``nll_iwae_nats_per_sample``, ``neg_elbo_nats_per_dim``, ``nats_per_dim`` (IWAE),
        ``bits_per_dim`` (IWAE; None unless ``lattice``) and ``k``.
    """
    keep = None if world is None else (lambda unit: unit % world.size == world.rank)
    ps = per_sample(model, pre, x, k=k, batch_size=batch_size, seed=seed, keep=keep)
    sums = [len(ps["elbo"]), ps["n_observed"].sum(), ps["elbo"].sum(), ps["log_lik_iwae"].sum()]
    if world is not None:
        sums = world.sum(sums)
    n, dims = int(sums[0]), float(sums[1])
    neg_elbo, nll = -float(sums[2]), -float(sums[3])
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
        **({"nll_iwae_rows": -ps["log_lik_iwae"]} if rows and world is None else {}),
    }


def score_samples(model, pre: Preprocessor, x: np.ndarray, k: int = 1, batch_size: int = 256, seed: int = 0) -> np.ndarray:
    """Per-row ELBO in nats, original units (higher is better), shape (n_samples,); ``k`` samples averaged."""
    return per_sample(model, pre, x, k=k, batch_size=batch_size, seed=seed)["elbo"]


def per_column(model, pre: Preprocessor, x: np.ndarray, samples: int = 16, batch_size: int = 256,
               seed: int = 0) -> dict:
    """Where in the data a model scores well: the ELBO's reconstruction term split by column.

    For each column j, the mean over rows of ``E_q(z|y)[log p(y_j | z)] + log|dy_j/dx_j|`` (nats, data units,
    posterior draws from the whole row), found by scoring the decoder's output with every other column
    marked missing. Two models trained on the same columns can be compared column by column: their
    differences say which columns a gap in held-out likelihood comes from. The columns' terms plus
    ``joint`` (what no single column carries: a one-hot block is scored only whole) minus ``kl`` is the ELBO
    per sample (up to the posterior draws' noise).

    Args:
        x: array (n_samples, n_columns) in ORIGINAL units, the model's columns.
        samples: posterior draws per row.

    Returns:
        ``columns`` (float64 array, shape (n_columns,)), ``joint`` and ``kl`` (floats, nats per sample).
    """
    n_columns = int(model.n_inputs)
    dtype, device = _model_dtype_device(model)
    gen_deq = torch.Generator().manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    cols = torch.zeros(n_columns, dtype=torch.float64)
    whole = kl = 0.0
    n = 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for _, b, xb in _units(x, n_columns, max(1, int(batch_size)), None):
                n += b
                y = pre.forward(xb, dequantize=True, generator=gen_deq).to(device=device, dtype=dtype)
                q = model.encode(y)
                eps = torch.randn((samples, b, q.loc.shape[-1]), generator=gen, dtype=torch.float64).to(q.loc)
                z = q.loc + q.scale * eps
                raw = model.decode(z.reshape(samples * b, -1))
                yy = y.repeat(samples, 1)
                jac = pre.log_jac.to(torch.float64) * (~torch.isnan(xb)).to(torch.float64)  # (b, n_columns)
                whole += float(model.likelihood.log_prob(raw, yy).reshape(samples, b).mean(0).sum()) + float(jac.sum())
                for j in range(n_columns):
                    only = torch.full_like(yy, float("nan"))
                    only[:, j] = yy[:, j]
                    lp = model.likelihood.log_prob(raw, only).reshape(samples, b).mean(0).to(torch.float64)
                    cols[j] += float(lp.sum()) + float(jac[:, j].sum())
                prior = Normal(torch.zeros_like(q.loc), torch.ones_like(q.scale))
                kl += float(torch.distributions.kl_divergence(q, prior).sum())
    finally:
        model.train(was_training)
    n = max(n, 1)
    return {"columns": (cols / n).numpy(), "joint": (whole - float(cols.sum())) / n, "kl": kl / n}

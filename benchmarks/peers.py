"""autolik beside the tools people compare it with: pythae, the PyTorch example VAE, scvi-tools, TVAE.

Usage (peers are never dependencies of autolik; install them as the ``bench`` extra, torch pinned)::

    pip install torch==2.13.0 -e ".[bench]"      # or into a separate venv, see benchmarks/results/peers.md
    python benchmarks/peers.py mnist [--epochs 10] [--k 100] [--threads 1]
    python benchmarks/peers.py scvi  [--epochs 200] [--k 100] [--threads 1]
    python benchmarks/peers.py tvae  [--epochs 100] [--threads 1]
    python benchmarks/peers.py report            # rebuild peers.md from the saved sections

Each section saves ``benchmarks/results/peers/<section>.json`` and rebuilds
``benchmarks/results/peers.md`` from every saved section.

* ``mnist``: the real MNIST test split (``--mnist``, ``$AUTOLIK_MNIST`` or ``../shared/data/mnist``;
  first 8,000 images train, last 2,000 test). Equal architecture everywhere: encoder 784-400-(20+20),
  decoder 20-400-784, Adam lr 1e-3, batch 128, same epochs and threads. Binarised pixels (> 127):
  the PyTorch example VAE (sigmoid + BCE), pythae's ``VAE`` with ``reconstruction_loss="bce"`` and
  autolik's automatic pick. 8-bit grey pixels: pythae with ``"mse"`` on x/255 (a Gaussian of
  variance 1) and autolik's automatic pick. Throughput: training samples per second of each model's
  optimisation steps, all in this process (pythae's own trainer measured too). Held-out NLL: ONE
  importance-weighted (IWAE) function, :func:`iwae_nll`, for every model, given each model's encoder
  (mean, standard deviation) and its log p(x | z) in the data's units (on grey levels, densities on
  [0,1] are evaluated at uniformly dequantised pixels (x + u)/256 plus log(1/256) per pixel: a
  lower bound on the probability of the 8-bit image, the convention of Theis et al. 2016).
* ``scvi``: scvi-tools' ``SCVI`` with ``gene_likelihood`` zinb, nb and poisson against autolik's
  automatic pick, on scanpy's bundled 10x PBMC 68k (reduced) matrix (raw counts recovered from its
  log-normalised ``raw.X``), equal architecture (one hidden layer of 128, 10 latent dimensions),
  same epochs; held-out NLL per cell from each tool's own importance-sampled estimate (scvi-tools'
  ``get_marginal_ll``, autolik's IWAE), both with k samples.
* ``tvae``: ``ctgan``'s TVAE against autolik on a real mixed table (statsmodels' ``fair`` data,
  6,366 rows) and on scikit-learn's digits (1,797 x 64, integers 0..16): time per epoch at equal
  width (128-128, 128 latent), per-column distance of samples to held-out rows (Kolmogorov-Smirnov
  for numeric columns, total variation for categorical ones, as SDV's KSComplement/TVComplement),
  and the share of sampled rows outside the data's support (a value below the training minimum or
  above the maximum, or a non-integer in an integer column).
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's autolik, whatever else is installed
RESULTS = REPO / "benchmarks" / "results"
SECTIONS = RESULTS / "peers"
SPEED_ROUNDS = 3
TVAE_DEFAULT_EPOCHS = 300
E_LO, E_HI = 10, 60  # epochs of the two fits whose time difference gives the time per epoch


def _versions(*names: str) -> dict:
    from importlib import metadata

    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "not installed"
    return out


def _save(section: str, doc: dict) -> None:
    SECTIONS.mkdir(parents=True, exist_ok=True)
    doc.update(python=platform.python_version(), cores=os.cpu_count(), machine=platform.machine())
    (SECTIONS / f"{section}.json").write_text(json.dumps(doc, indent=1, default=float) + "\n")
    report()


def _threads(n: int) -> None:
    """The same torch threads for every tool (autolik's loop reads AUTOLIK_THREADS)."""
    import torch

    os.environ["AUTOLIK_THREADS"] = str(int(n))
    torch.set_num_threads(int(n))


# =========================================================================== the shared IWAE


def iwae_nll(encode, log_px, x, k: int = 100, batch: int = 100, seed: int = 0) -> np.ndarray:
    """Per-sample IWAE negative log-likelihood (nats) of ``x`` under one model.

    ``encode(xb) -> (mu, std)`` of q(z | x); ``log_px(z, xb) -> (k * b,)`` log p(x | z) in the data's
    units for z of shape (k * b, d) and xb repeated k times. The same function, prior N(0, I), seed
    and k serve every model, so their numbers differ only by their models.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]
            mu, std = encode(xb)
            b, d = mu.shape
            eps = torch.randn(k, b, d, generator=gen, dtype=mu.dtype)
            z = mu + std * eps
            lq = torch.distributions.Normal(mu, std).log_prob(z).sum(-1)
            lp = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
            lx = log_px(z.reshape(k * b, d), xb.repeat(k, *([1] * (xb.dim() - 1)))).reshape(k, b)
            lw = (lx + lp - lq).double()
            out.append(-(torch.logsumexp(lw, 0) - math.log(k)))
    return torch.cat(out).numpy()


# =========================================================================== MNIST


def load_mnist(path: Path) -> np.ndarray:
    with gzip.open(path / "t10k-images-idx3-ubyte.gz") as f:
        return np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)


def _mnist_dir(arg: str | None) -> Path:
    p = Path(arg or os.environ.get("AUTOLIK_MNIST") or REPO.parent / "shared" / "data" / "mnist")
    if not (p / "t10k-images-idx3-ubyte.gz").exists():
        sys.exit(f"no MNIST files in {p}; pass --mnist DIR or set AUTOLIK_MNIST")
    return p


class ExampleVAE:
    """The PyTorch example VAE (pytorch/examples, vae/main.py): 784-400-20, sigmoid + BCE."""

    def __new__(cls):
        import torch
        from torch import nn
        from torch.nn import functional as F

        class VAE(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
                self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

            def encode(self, x):
                h1 = F.relu(self.fc1(x))
                return self.fc21(h1), self.fc22(h1)

            def decode_logits(self, z):
                return self.fc4(F.relu(self.fc3(z)))

            def loss(self, x):  # the example's loss_function, summed per sample and averaged
                mu, logvar = self.encode(x)
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                recon = torch.sigmoid(self.decode_logits(z))
                bce = F.binary_cross_entropy(recon, x, reduction="sum")
                kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
                return (bce + kld) / len(x)

        return VAE()


def pythae_vae(loss: str):
    """pythae's VAE with an encoder/decoder of the same widths (784-400-20) as the others."""
    import torch
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from torch import nn

    class Enc(BaseEncoder):
        def __init__(self):
            BaseEncoder.__init__(self)
            self.body = nn.Sequential(nn.Linear(784, 400), nn.ReLU())
            self.mu, self.lv = nn.Linear(400, 20), nn.Linear(400, 20)

        def forward(self, x):
            h = self.body(x.reshape(len(x), -1))
            return ModelOutput(embedding=self.mu(h), log_covariance=self.lv(h))

    class Dec(BaseDecoder):
        def __init__(self):
            BaseDecoder.__init__(self)
            self.net = nn.Sequential(nn.Linear(20, 400), nn.ReLU(), nn.Linear(400, 784), nn.Sigmoid())

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z))

    cfg = VAEConfig(input_dim=(784,), latent_dim=20, reconstruction_loss=loss)
    return VAE(cfg, encoder=Enc(), decoder=Dec()), torch


def bare_loop(step, params, x, epochs: int, batch_size: int, seed: int) -> float:
    """Adam on ``step(batch) -> loss``; returns training samples per second."""
    import torch

    torch.manual_seed(seed)
    opt = torch.optim.Adam(params, lr=1e-3)
    seen, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch_size):
            b = x[perm[i:i + batch_size]]
            loss = step(b)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(b)
    return seen / (time.perf_counter() - t0)


def _bernoulli_logpx(logits, xb):
    import torch.nn.functional as F

    return -F.binary_cross_entropy_with_logits(logits, xb, reduction="none").sum(-1)


def _probs_logpx(probs, xb):
    import torch

    p = probs.clamp(1e-7, 1 - 1e-7)
    return (xb * torch.log(p) + (1 - xb) * torch.log1p(-p)).sum(-1)


def run_mnist(args) -> None:
    import torch

    import autolik

    _threads(args.threads)
    raw = load_mnist(_mnist_dir(args.mnist))
    tr, te = raw[:8000], raw[8000:]
    binar = lambda a: (a > 127).astype(np.float32)  # noqa: E731
    xb_tr, xb_te = torch.from_numpy(binar(tr)), torch.from_numpy(binar(te))
    rows, E, B, K = [], args.epochs, 128, args.k

    def record(data, tool, what, sps, nll, note=""):
        rows.append({"data": data, "tool": tool, "model": what, "samples_per_s": sps, "nll_nats": float(np.mean(nll)),
                     "bits_per_dim": float(np.mean(nll)) / 784 / math.log(2), "note": note})
        print(rows[-1], file=sys.stderr)

    # -- the PyTorch example, binarised
    torch.manual_seed(0)
    ex = ExampleVAE()
    sps = bare_loop(ex.loss, ex.parameters(), xb_tr, E, B, 0)
    ex.eval()
    enc = lambda x: (lambda m, lv: (m, torch.exp(0.5 * lv)))(*ex.encode(x))  # noqa: E731
    nll = iwae_nll(enc, lambda z, x: _bernoulli_logpx(ex.decode_logits(z), x), xb_te, K)
    record("binarised", "PyTorch example VAE", "sigmoid + BCE", sps, nll, "bare loop of the example's loss")

    # -- pythae, binarised (bce) and grey (mse)
    pythae_rows = {}
    for data, loss, x_tr in (("binarised", "bce", xb_tr), ("8-bit grey", "mse", torch.from_numpy(tr / np.float32(255)))):
        from pythae.data.datasets import DatasetOutput

        torch.manual_seed(0)
        model, _ = pythae_vae(loss)
        model.train()
        sps = bare_loop(lambda b: model(DatasetOutput(data=b)).loss, model.parameters(), x_tr, E, B, 0)
        model.eval()

        def enc(x, model=model):
            o = model.encoder(x)
            return o.embedding, torch.exp(0.5 * o.log_covariance)

        if loss == "bce":
            nll = iwae_nll(enc, lambda z, x: _probs_logpx(model.decoder(z).reconstruction, x), xb_te, K)
            note = "bare loop of pythae's model(...).loss"
        else:
            te_f = torch.from_numpy(te.astype(np.float32))
            u = torch.rand(te_f.shape, generator=torch.Generator().manual_seed(7))
            y = (te_f + u) / 256  # dequantised grey levels in [0, 1)

            def log_px(z, x):  # pythae's mse loss is a Gaussian of variance 1 on x/255
                mean = model.decoder(z).reconstruction
                return torch.distributions.Normal(mean, 1.0).log_prob(x).sum(-1) + 784 * math.log(1 / 256)

            nll = iwae_nll(lambda x: enc(x), log_px, y, K)
            note = "Gaussian, variance 1, on x/255: dequantised, + log(1/256) per pixel"
        record(data, "pythae " + _versions("pythae")["pythae"], f"VAE, {loss}", sps, nll, note)
        pythae_rows[loss] = sps
    # pythae's own trainer (what a pythae user runs), binarised, for its samples/s
    try:
        from pythae.trainers import BaseTrainer, BaseTrainerConfig

        import tempfile

        torch.manual_seed(0)
        model, _ = pythae_vae("bce")
        with tempfile.TemporaryDirectory() as tmp:
            cfg = BaseTrainerConfig(output_dir=tmp, num_epochs=E, learning_rate=1e-3, per_device_train_batch_size=B,
                                    per_device_eval_batch_size=B, steps_saving=None, no_cuda=True)
            from pythae.data.datasets import BaseDataset

            data = BaseDataset(xb_tr, torch.zeros(len(xb_tr)))  # what pythae's TrainingPipeline builds
            trainer = BaseTrainer(model=model, train_dataset=data, training_config=cfg)
            t0 = time.perf_counter()
            trainer.train()
            trainer_sps = E * len(xb_tr) / (time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001: reported, not hidden
        trainer_sps = f"failed: {type(e).__name__}: {e}"
    _threads(args.threads)
    # -- throughput again, round robin (1 epoch each, best of SPEED_ROUNDS), so that load from other
    #    processes on a shared machine hits every model alike
    speed = {"PyTorch example VAE": [], "pythae (bare loop)": [], "autolik": []}
    for _ in range(SPEED_ROUNDS):
        from pythae.data.datasets import DatasetOutput

        torch.manual_seed(0)
        ex2 = ExampleVAE()
        speed["PyTorch example VAE"].append(bare_loop(ex2.loss, ex2.parameters(), xb_tr, 1, B, 0))
        model, _ = pythae_vae("bce")
        model.train()
        speed["pythae (bare loop)"].append(bare_loop(lambda b: model(DatasetOutput(data=b)).loss, model.parameters(),
                                                     xb_tr, 1, B, 0))
        f1 = autolik.fit(binar(tr), hidden=[400], latent_dim=20, architecture="mlp", epochs=1, batch_size=B,
                         patience=0, test_fraction=0.0, val_fraction=0.01, k=1, seed=0)
        speed["autolik"].append(f1.history.samples_per_second)
        _threads(args.threads)
    # -- autolik's automatic pick, same architecture, binarised and grey
    for data, x_tr, x_te in (("binarised", binar(tr), binar(te)), ("8-bit grey", tr, te)):
        fitted = autolik.fit(x_tr, hidden=[400], latent_dim=20, architecture="mlp", epochs=E, batch_size=B,
                             lr=1e-3, patience=0, test_fraction=0.0, val_fraction=0.01, k=1, seed=0)
        vae, pre = fitted.model.eval(), fitted.preprocessor
        lik = vae.likelihood

        def enc(x, vae=vae):
            q = vae.encode(x)
            return q.loc, q.scale

        xt = torch.from_numpy(np.asarray(x_te, np.float64))
        y = pre.forward(xt, dequantize=True, generator=torch.Generator().manual_seed(7)).float()
        jac = pre.log_abs_det_jacobian(xt).float()
        nll = iwae_nll(enc, lambda z, x: lik.log_prob(vae.decode(z), x), y, K) - jac.numpy()
        ev = fitted.evaluate(x_te, k=K)
        record(data, "autolik " + _versions("autolik")["autolik"], f"automatic pick: {fitted.recommendation.likelihood}",
               fitted.history.samples_per_second, nll,
               f"autolik's own IWAE: {ev['nll_iwae_nats_per_sample']:.1f} nats (cross-check)")
    _save("mnist", {"rows": rows, "pythae_trainer_samples_per_s": trainer_sps, "speed_rounds": speed, "epochs": E, "k": K,
                    "threads": args.threads, "batch_size": B,
                    "versions": _versions("torch", "pythae", "autolik", "numpy"),
                    "command": f"python benchmarks/peers.py mnist --epochs {E} --k {K} --threads {args.threads}"})


# =========================================================================== scvi-tools


def pbmc_counts():
    """scanpy's bundled 10x PBMC 68k (reduced): 700 cells x 765 genes. Its ``raw.X`` is
    log1p(counts / n_counts * 1e4) rounded to 3 decimals; counts = rint(expm1(raw.X) * n_counts / 1e4)
    recovers integers (checked: every value within 0.1 of one)."""
    import warnings

    import anndata as ad
    import scanpy

    path = Path(scanpy.__file__).parent / "datasets" / "10x_pbmc68k_reduced.h5ad"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = ad.read_h5ad(path)
    r = a.raw.X
    r = r.toarray() if hasattr(r, "toarray") else np.asarray(r)
    c = np.expm1(r.astype(np.float64)) * a.obs["n_counts"].to_numpy()[:, None] / 1e4
    dev = float(np.abs(c - np.rint(c)).max())
    if dev > 0.1:
        raise RuntimeError(f"raw counts not recovered (max distance to an integer {dev:.3f})")
    return np.rint(c).astype(np.float32), list(a.raw.var_names), dev


def run_scvi(args) -> None:
    import warnings

    import anndata as ad
    import scipy.sparse as sp
    import torch

    import autolik

    warnings.filterwarnings("ignore")
    _threads(args.threads)
    x, genes, dev = pbmc_counts()
    n = len(x)
    perm = np.random.default_rng(0).permutation(n)
    test, train = np.sort(perm[:n // 5]), np.sort(perm[n // 5:])
    E, K = args.epochs, args.k
    rows = []
    import scvi

    scvi.settings.seed = 0
    scvi.settings.num_threads = args.threads
    scvi.settings.dl_num_workers = 0
    default_epochs = min(round((20000 / len(train)) * 400), 400)  # scvi-tools' own default max_epochs
    runs = [("zinb", E), ("nb", E), ("poisson", E)] + ([("zinb", default_epochs)] if default_epochs != E else [])
    for lik, epochs in runs:
        a_tr = ad.AnnData(X=sp.csr_matrix(x[train]))
        a_te = ad.AnnData(X=sp.csr_matrix(x[test]))
        a_tr.var_names = a_te.var_names = genes
        scvi.model.SCVI.setup_anndata(a_tr)
        scvi.model.SCVI.setup_anndata(a_te)
        m = scvi.model.SCVI(a_tr, n_hidden=128, n_latent=10, n_layers=1, gene_likelihood=lik)
        t0 = time.perf_counter()
        m.train(max_epochs=epochs, accelerator="cpu", devices=1, batch_size=128, train_size=0.9, early_stopping=False,
                plan_kwargs={"lr": 1e-3}, enable_progress_bar=False)
        secs = time.perf_counter() - t0
        _threads(args.threads)
        torch.manual_seed(0)
        ll = m.get_marginal_ll(a_te, n_mc_samples=K, return_mean=False)
        ll = np.asarray(ll.cpu().numpy() if hasattr(ll, "cpu") else ll, np.float64)
        nll = float(-ll.mean()) if ll.mean() < 0 else float(ll.mean())  # scvi's sign convention varies by version
        rows.append({"tool": f"scvi-tools {_versions('scvi-tools')['scvi-tools']}" + (
                     f", its default {epochs} epochs" if epochs != E else ""), "likelihood": lik,
                     "seconds": secs, "nll": nll, "note": "get_marginal_ll: conditional on each cell's observed "
                     "library size (use_observed_lib_size)"})
        print(rows[-1], file=sys.stderr)
    for forced in (None, "zero_inflated_negative_binomial", "negative_binomial", "poisson"):
        t0 = time.perf_counter()
        f = autolik.fit(sp.csr_matrix(x[train]), likelihood=forced, hidden=[128], latent_dim=10, epochs=E,
                        batch_size=128, lr=1e-3, patience=0, test_fraction=0.0, val_fraction=0.1, k=1, seed=0)
        secs = time.perf_counter() - t0
        ev = f.evaluate(x[test], k=K)
        rows.append({"tool": f"autolik {_versions('autolik')['autolik']}",
                     "likelihood": (f"automatic pick: {f.recommendation.likelihood}" if forced is None else
                                    f"forced: {forced}"),
                     "seconds": secs, "nll": ev["nll_iwae_nats_per_sample"],
                     "note": "IWAE; seconds include profiling and the pick" if forced is None else "IWAE"})
        if forced is None:
            notes = [m for m in f.recommendation.notes if m.startswith("zero inflation")]
            zi_note = notes[0] if notes else ""
        print(rows[-1], file=sys.stderr)
    data = (f"Data: scanpy's bundled `10x_pbmc68k_reduced.h5ad` (scanpy {_versions('scanpy')['scanpy']}), "
            f"{n} cells x {x.shape[1]} genes, {float((x > 0).mean()):.1%} non-zero, raw counts recovered exactly from "
            f"its log-normalised `raw.X` and `obs['n_counts']` (max distance to an integer {dev:.3f}). "
            f"Seeded split: {len(train)} cells train, {len(test)} test. Equal architecture: one hidden layer of "
            f"128, 10 latent dimensions, Adam lr 1e-3, batch 128, {E} epochs, no early stopping (scvi-tools keeps "
            "10% of the training cells for validation, autolik too). Held-out NLL: k = "
            f"{K} importance samples, each tool's own estimator.")
    _save("scvi", {"rows": rows, "data": data, "epochs": E, "k": K, "threads": args.threads,
                   "remarks": f"autolik's recommendation note: {zi_note}",
                   "versions": _versions("torch", "scvi-tools", "scanpy", "anndata", "autolik"),
                   "command": f"python benchmarks/peers.py scvi --epochs {E} --k {K} --threads {args.threads}"})


# =========================================================================== TVAE (ctgan)


def fair_table():
    """statsmodels' ``fair`` data (Fair 1978, affairs survey): 6,366 rows; occupations as strings."""
    import statsmodels.api as sm

    d = sm.datasets.fair.load_pandas().data.copy()
    for c in ("occupation", "occupation_husb"):
        d[c] = ["occ" + str(int(v)) for v in d[c]]
    return d, ["occupation", "occupation_husb"]


def digits_table():
    import pandas as pd
    from sklearn.datasets import load_digits

    x = load_digits().data.astype(np.int64)
    return pd.DataFrame(x, columns=[f"p{j}" for j in range(x.shape[1])]), []


def distances(sample, test, train, discrete: list[str]) -> tuple[dict, dict, float, float]:
    """Per-column KS (numeric) / TV (categorical) of ``sample`` vs ``test``, the share of sampled rows
    outside the training data's range (or with an unseen level), and the share with a non-integer
    value in an all-integer column."""
    from scipy.stats import ks_2samp

    ks, tv = {}, {}
    bad, frac = np.zeros(len(sample), bool), np.zeros(len(sample), bool)
    for c in test.columns:
        if c in discrete:
            p = test[c].value_counts(normalize=True)
            q = sample[c].astype(str).value_counts(normalize=True)
            tv[c] = 0.5 * float(p.sub(q, fill_value=0).abs().sum())
            bad |= ~sample[c].astype(str).isin(set(train[c].astype(str))).to_numpy()
        else:
            v = sample[c].to_numpy(np.float64)
            ks[c] = float(ks_2samp(v, test[c].to_numpy(np.float64)).statistic)
            t = train[c].to_numpy(np.float64)
            bad |= (v < t.min()) | (v > t.max()) | ~np.isfinite(v)
            if np.all(t == np.rint(t)):
                frac |= v != np.rint(v)
    return ks, tv, float(bad.mean()), float(frac.mean())


def run_tvae(args) -> None:
    import warnings

    import pandas as pd
    import torch
    from ctgan import TVAE

    import autolik

    warnings.filterwarnings("ignore")
    _threads(args.threads)
    E, rows, speed = args.epochs, [], {}
    for name, (df, discrete) in (("fair (mixed)", fair_table()), ("digits", digits_table())):
        perm = np.random.default_rng(0).permutation(len(df))
        n_test = len(df) // 5
        test, train = df.iloc[np.sort(perm[:n_test])].reset_index(drop=True), df.iloc[np.sort(perm[n_test:])].reset_index(drop=True)
        n_samp = max(2000, n_test)
        # TVAE (ctgan), its defaults except epochs; its batch 500, 128-128 / 128 latent
        torch.manual_seed(0)
        np.random.seed(0)
        t0 = time.perf_counter()
        TVAE(epochs=1, cuda=False).fit(train, discrete_columns=discrete)  # fixed costs: its data transformer
        t_one = time.perf_counter() - t0
        def tvae_row(epochs: int, tool: str, note: str) -> None:
            """Fit TVAE for ``epochs``, sample, and append its row (distances to the held-out rows)."""
            torch.manual_seed(0)
            tv = TVAE(epochs=epochs, cuda=False)
            t0 = time.perf_counter()
            tv.fit(train, discrete_columns=discrete)
            t_fit = time.perf_counter() - t0
            tv.set_random_state(0)
            s = tv.sample(n_samp)
            _threads(args.threads)
            ks, tvd, out, frac = distances(s, test, train, discrete)
            rows.append({"data": name, "tool": tool, "sec_per_epoch": (t_fit - t_one) / max(1, epochs - 1),
                         "ks": float(np.mean(list(ks.values()))) if ks else None,
                         "tv": float(np.mean(list(tvd.values()))) if tvd else None, "out_of_support": out,
                         "non_integer": frac, "per_column": {**ks, **tvd} if name.startswith("fair") else None,
                         "note": note.format(t_fit=t_fit)})
            print(rows[-1], file=sys.stderr)

        tvae_row(E, f"TVAE (ctgan {_versions('ctgan')['ctgan']})",
                 "fit {t_fit:.1f} s in all; per epoch = (fit - 1-epoch fit) / (epochs - 1)")
        if E < TVAE_DEFAULT_EPOCHS:  # and at its own default length, in case the budget above starves it
            tvae_row(TVAE_DEFAULT_EPOCHS, f"TVAE, its default {TVAE_DEFAULT_EPOCHS} epochs", "fit {t_fit:.1f} s in all")
        # speed per epoch, net of fixed costs and round robin: each tool fitted for E_LO and E_HI epochs,
        # alternating with the other tool, (t_hi - t_lo) / (E_HI - E_LO), best of SPEED_ROUNDS
        fits = {
            "TVAE": lambda e: TVAE(epochs=e, cuda=False).fit(train, discrete_columns=discrete),
            "autolik": lambda e: autolik.fit(train, hidden=[128, 128], latent_dim=128, epochs=e, batch_size=500,
                                             patience=0, test_fraction=0.0, val_fraction=0.1, k=1, seed=0),
        }
        net = {k: [] for k in fits}
        for _ in range(SPEED_ROUNDS):
            for tool, fn in fits.items():
                t = []
                for e in (E_LO, E_HI):
                    t0 = time.perf_counter()
                    fn(e)
                    t.append(time.perf_counter() - t0)
                    _threads(args.threads)
                net[tool].append((t[1] - t[0]) / (E_HI - E_LO))
        speed[name] = {k: min(v) for k, v in net.items()}
        print(name, speed[name], file=sys.stderr)
        # autolik at the same widths and batch, its automatic choice per column
        f = autolik.fit(train, hidden=[128, 128], latent_dim=128, epochs=E, batch_size=500, patience=0,
                        test_fraction=0.0, val_fraction=0.1, k=1, seed=0)
        s = f.output.to_frame(f.sample(n_samp, seed=0))
        s.columns = list(train.columns)
        ks, tvd, out, frac = distances(s, test, train, discrete)
        fams = {}
        for c in f.recommendation.features:
            if c.used:
                fams[c.likelihood] = fams.get(c.likelihood, 0) + 1
        rows.append({"data": name, "tool": f"autolik {_versions('autolik')['autolik']}",
                     "sec_per_epoch": f.history.train_seconds / max(1, f.history.epochs_run),
                     "ks": float(np.mean(list(ks.values()))) if ks else None,
                     "tv": float(np.mean(list(tvd.values()))) if tvd else None, "out_of_support": out,
                     "non_integer": frac, "per_column": {**ks, **tvd} if name.startswith("fair") else None,
                     "note": f"fit {f.history.train_seconds:.1f} s (training loop); families: " + ", ".join(f"{k} {v}" for k, v in fams.items())})
        print(rows[-1], file=sys.stderr)
    setup = (f"Seeded split, 80% train / 20% held out; {E} epochs for both, batch 500, widths 128-128 and 128 "
             "latent dimensions (TVAE's defaults; autolik set to them). Samples: max(2000, held-out rows) per tool, "
             "seed 0. KS: Kolmogorov-Smirnov statistic of samples vs held-out rows per numeric column (0 = same "
             "distribution; SDV's KSComplement is 1 - KS); TV: total variation distance per categorical column "
             "(SDV's TVComplement is 1 - TV). Out of support: share of sampled rows with a value below the training "
             "minimum or above the maximum, or an unseen level; non-integer: a non-integer value in an all-integer column. "
             "fair: statsmodels' `fair` affairs survey (6,366 x 9: ordinal integers, two occupations as strings, "
             "grid-valued age and years married, a continuous `affairs` that is 0 for 68% of rows); digits: "
             "scikit-learn's 8x8 digits (1,797 x 64, integers 0..16), every column numeric for both tools.")
    _save("tvae", {"rows": rows, "setup": setup, "epochs": E, "threads": args.threads, "speed": speed,
                   "versions": _versions("torch", "ctgan", "rdt", "statsmodels", "scikit-learn", "autolik"),
                   "command": f"python benchmarks/peers.py tvae --epochs {E} --threads {args.threads}"})


# =========================================================================== report


def report() -> None:
    """Rebuild peers.md from the saved sections."""
    docs = {p.stem: json.loads(p.read_text()) for p in sorted(SECTIONS.glob("*.json"))} if SECTIONS.exists() else {}
    lines = ["# autolik beside its peers", "",
             "Written by `benchmarks/peers.py` (one section per command below; `python benchmarks/peers.py report`",
             "rebuilds this file). Peers are optional (`pip install torch==2.13.0 -e \".[bench]\"`), never dependencies",
             "of autolik. Every speed figure is a ratio or a rate measured in the same process and run.", ""]
    for name in ("mnist", "scvi", "tvae"):
        if name in docs:
            lines += globals()[f"_report_{name}"](docs[name]) + [""]
        else:
            lines += [f"## {name}", "", "Not measured yet: see the notes at the end.", ""]
    extra = RESULTS / "peers_notes.md"
    if extra.exists():
        lines += [extra.read_text().rstrip(), ""]
    (RESULTS / "peers.md").write_text("\n".join(lines))


def _head(doc: dict, title: str) -> list[str]:
    v = ", ".join(f"{k} {x}" for k, x in doc["versions"].items())
    return [f"## {title}", "", f"Command: `{doc['command']}`", "",
            f"Versions: {v}; Python {doc['python']}; {doc['cores']} cores (shared with other work), "
            f"torch threads {doc['threads']}.", ""]


def _report_mnist(doc: dict) -> list[str]:
    lines = _head(doc, "MNIST: the PyTorch example VAE, pythae and autolik at equal architecture")
    lines += [f"Real MNIST test split (`../shared/data/mnist`): first 8,000 images train, last 2,000 test. "
              f"784-400-20 encoder / 20-400-784 decoder for every model, Adam lr 1e-3, batch {doc['batch_size']}, "
              f"{doc['epochs']} epochs, no early stopping. Held-out NLL: one IWAE function for all models, "
              f"k = {doc['k']}, same seed; bits/dim = nats / 784 / ln 2 (on binarised pixels: of the binary image; "
              "on grey levels: of the 8-bit image, a lower bound via dequantisation for densities).", "",
              "| data | tool | model | train samples/s | x PyTorch example | held-out NLL (nats/image) | bits/dim | note |",
              "|---|---|---|---|---|---|---|---|"]
    ref = next(r["samples_per_s"] for r in doc["rows"] if r["tool"] == "PyTorch example VAE")
    for r in doc["rows"]:
        lines.append(f"| {r['data']} | {r['tool']} | {r['model']} | {r['samples_per_s']:,.0f} | "
                     f"{r['samples_per_s'] / ref:.2f}x | {r['nll_nats']:.1f} | {r['bits_per_dim']:.3f} | {r['note']} |")
    sp = {k: max(v) for k, v in doc.get("speed_rounds", {}).items()}
    if sp:
        r0 = sp["PyTorch example VAE"]
        lines += ["", f"Throughput again, round robin on binarised MNIST (1 epoch per model per round, best of "
                  f"{len(doc['speed_rounds']['autolik'])} rounds, so that load from other processes hits all alike): "
                  + ", ".join(f"{k} {v:,.0f} samples/s ({v / r0:.2f}x)" for k, v in sp.items()) + "."]
    t = doc["pythae_trainer_samples_per_s"]
    lines += ["", "pythae's own trainer (`BaseTrainer`, binarised, same epochs, no evaluation set): "
              + (f"{t:,.0f} samples/s ({t / ref:.2f}x the PyTorch example)." if isinstance(t, (int, float)) else t)]
    return lines


def _report_scvi(doc: dict) -> list[str]:
    lines = _head(doc, "Single-cell counts: scvi-tools (zinb, nb, poisson) and autolik's pick")
    lines += [doc["data"], "",
              "| tool | likelihood | train seconds | held-out NLL (nats/cell) | note |", "|---|---|---|---|---|"]
    for r in doc["rows"]:
        lines.append(f"| {r['tool']} | {r['likelihood']} | {r['seconds']:.1f} | {r['nll']:.1f} | {r.get('note', '')} |")
    lines += ["", doc.get("remarks", "")]
    return lines


def _report_tvae(doc: dict) -> list[str]:
    lines = _head(doc, "Tables: TVAE (ctgan) and autolik")
    lines += [doc["setup"], "",
              "| data | tool | seconds/epoch (single run, noisy) | mean KS (numeric) | mean TV (categorical) | rows out of range | "
              "rows with a non-integer in an integer column | note |",
              "|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        tv = "-" if r["tv"] is None else f"{r['tv']:.3f}"
        ks = "-" if r["ks"] is None else f"{r['ks']:.3f}"
        lines.append(f"| {r['data']} | {r['tool']} | {r['sec_per_epoch']:.3f} | {ks} | {tv} | "
                     f"{r['out_of_support']:.1%} | {r.get('non_integer', float('nan')):.1%} | {r.get('note', '')} |")
    if doc.get("speed"):
        lines += ["", f"Seconds per epoch net of fixed costs, round robin (each tool fitted for {E_LO} and {E_HI} epochs, "
                  f"alternating with the other; (t{E_HI} - t{E_LO}) / {E_HI - E_LO}; best of {SPEED_ROUNDS} rounds): "
                  + "; ".join(f"{d}: " + ", ".join(f"{k} {v:.3f} s" for k, v in sp.items())
                              + f" (TVAE / autolik = {sp['TVAE'] / sp['autolik']:.2f})" for d, sp in doc["speed"].items())
                  + ". The seconds/epoch column above comes from single runs and moves with the machine's load."]
    for r in doc["rows"]:
        if r.get("per_column"):
            cols = ", ".join(f"{k} {v:.3f}" for k, v in r["per_column"].items())
            lines.append(f"\nPer column, {r['tool']} on {r['data']}: {cols}")
    lines += ["", doc.get("remarks", "")]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("section", choices=["mnist", "scvi", "tvae", "report"])
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mnist", default=None)
    args = ap.parse_args()
    if args.section == "report":
        report()
        return
    args.epochs = args.epochs or {"mnist": 10, "scvi": 200, "tvae": 100}[args.section]
    globals()[f"run_{args.section}"](args)


if __name__ == "__main__":
    main()

"""The seed experiment: which output likelihood should a VAE on MNIST use? Bits/dim on held-out images.

Usage::

    python benchmarks/mnist_likelihoods.py [--mnist PATH] [--epochs N] [--k K] [--out DIR]

MNIST test split from ``--mnist`` (default: env ``AUTOLIK_MNIST``, else ``<repo>/../shared/data/mnist``):
the first 8,000 images train (a seeded 10% of them validate, for early stopping), the last 2,000 test.
Every row trains the same architecture with the same seed and epochs, through autolik's own
modules (recommend -> Preprocessor + likelihood -> VAE -> train -> evaluate), and reports the IWAE
bound on the test images in bits per dimension on the 0..255 scale: discrete likelihoods give a
mass directly; continuous ones are evaluated on uniformly dequantised pixels with the Jacobian of
their scaling added (Theis et al., 2016), so every density row compares. Plain Bernoulli on
[0,1] grey levels is not a normalised likelihood (Loaiza-Ganem & Cunningham, 2019): it is
trained and pictured, its figure withheld. The binarised-MNIST row models different (binary)
data and is reported on its own.

Writes ``benchmarks/results/mnist_likelihoods.md`` and ``benchmarks/results/mnist_reconstructions.png``.
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
N_TRAIN, N_TEST = 8000, 2000

# (row id, label, recommend() keyword arguments or None for the analyser's own pick).
# Rows a and b use ONE map for all pixels, as the tutorials do (x/255; torchvision's Normalize with
# the pooled mean and std); see pooled().
ROWS = [
    ("a", "sigmoid + BCE on x/255 (Bernoulli, the tutorial way)", {"likelihood": "bernoulli", "preprocessing": "minmax"}),
    ("b", "identity + MSE on standardised pixels (Gaussian, sigma = 1)",
     {"likelihood": "gaussian", "mode": "fixed", "preprocessing": "standardize"}),
    ("c", "continuous Bernoulli", {"likelihood": "continuous_bernoulli"}),
    ("d1", "Gaussian, one learned sigma (shared)", {"likelihood": "gaussian", "mode": "shared"}),
    ("d2", "Gaussian, learned sigma per pixel", {"likelihood": "gaussian", "mode": "feature"}),
    ("d3", "Gaussian, shared sigma at its optimum per batch (optimal sigma-VAE)", {"likelihood": "gaussian", "mode": "shared"}),
    ("e", "Beta", {"likelihood": "beta"}),
    ("f1", "binomial, 255 trials (8-bit)", {"likelihood": "binomial"}),
    ("f2", "discretised logistic (8-bit)", {"likelihood": "discretized_logistic"}),
    ("g", "the analyser's pick", None),
]


def load_mnist(path: Path) -> np.ndarray:
    """The 10,000 MNIST test images, uint8 array of shape (10000, 28, 28)."""
    f = path / "t10k-images-idx3-ubyte.gz"
    if not f.exists():
        sys.exit(f"MNIST images not found at {f}; pass --mnist DIR or set AUTOLIK_MNIST")
    return np.frombuffer(gzip.open(f).read(), np.uint8, offset=16).reshape(-1, 28, 28)


def signature(rec) -> str:
    """Two recommendations with equal signatures are the same model (family, options, transform)."""
    parts = [(f.likelihood, f.options, f.transform.shift, f.transform.scale, f.transform.step) for f in rec.used]
    return json.dumps(parts, sort_keys=True, default=str)


POOLED = {"a": "minmax", "b": "standardize"}
EXTRA_OPTIONS = {"d3": {"optimal_sigma": True}}  # Rybkin et al. (2021), "Simple and Effective VAE Training with Calibrated Decoders"


def pooled(rec, how: str, pixels: np.ndarray):
    """Give every pixel of ``rec`` the same affine map (pooled over all training pixels), in place."""
    from autolik.transforms import FeatureTransform

    if how == "minmax":
        shift, scale, desc = 0.0, 1.0 / 255.0, "x/255 (all pixels)"
    else:
        m, sd = float(pixels.mean()), float(pixels.std())
        shift, scale, desc = m, 1.0 / sd, f"(x - {m:.4g})/{sd:.4g} (pooled over all pixels)"
    for f in rec.used:
        f.transform = FeatureTransform(shift=shift, scale=scale, step=1.0, continuous=True, description=desc)
    rec.preprocessing = [desc]
    return rec


def fit_one(rec, x_tr, x_val, x_te, args, image_shape):
    """Train one VAE for a recommendation; returns (metrics, history, reconstructions of the first test images)."""
    import torch

    from autolik.evaluate import evaluate
    from autolik.model.vae import VAE
    from autolik.train import TrainConfig, train

    torch.manual_seed(args.seed)
    cols = rec.used_columns
    pre, lik = rec.preprocessor(), rec.likelihood_module()
    model = VAE(lik, latent_dim=args.latent_dim, image_shape=image_shape, architecture=args.architecture)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, quiet=args.quiet,
                      device="cpu", patience=args.patience)
    hist = train(model, pre, x_tr[:, cols], x_val[:, cols], cfg)
    t0 = time.perf_counter()
    metrics = evaluate(model, pre, x_te[:, cols], k=args.k, seed=args.seed, lattice=True)
    metrics["eval_seconds"] = time.perf_counter() - t0
    with torch.no_grad():  # reconstructions: the mean of p(x | z = E[q(z|x)]) mapped back to data units
        model.eval()
        y = pre.forward(torch.from_numpy(x_te[: args.n_images][:, cols]), dequantize=False)
        mean = lik.mean(model.decode(model.encode(y).loc))
        recon = pre.inverse(mean).numpy()
    return metrics, hist, recon


def run(args) -> dict:
    from autolik.analysis.profiling.profile import inspect
    from autolik.analysis.recommendation.recommend import recommend

    images = load_mnist(Path(args.mnist))
    assert images.shape[0] == N_TRAIN + N_TEST, images.shape
    rng = np.random.default_rng(args.seed)
    train_imgs = images[:N_TRAIN]
    flat = images.reshape(len(images), -1).astype(np.float64)
    perm = rng.permutation(N_TRAIN)
    n_val = N_TRAIN // 10
    x_val, x_tr, x_te = flat[perm[:n_val]], flat[perm[n_val:]], flat[N_TRAIN:]
    binar = (rng.uniform(size=flat.shape) < flat / 255.0).astype(np.float64)  # fixed-seed stochastic binarisation
    prof = inspect(train_imgs)  # the analyser sees only the training images
    pick = recommend(prof)
    results, seen = [], {}
    rows = list(ROWS) + [("bin", "Bernoulli on binarised pixels (other data)", "binarised")]
    for rid, label, kwargs in rows:
        data = "binarised" if kwargs == "binarised" else "8-bit"
        if data == "binarised":
            rec = recommend(binar[:N_TRAIN].reshape(-1, 28, 28).astype(np.uint8), likelihood="bernoulli")
            xs = (binar[perm[n_val:]], binar[perm[:n_val]], binar[N_TRAIN:])
        else:
            rec = pick if kwargs is None else recommend(prof, **kwargs)
            if rid in POOLED:
                rec = pooled(rec, POOLED[rid], flat[:N_TRAIN])
            for f in rec.used:
                f.options.update(EXTRA_OPTIONS.get(rid, {}))
            xs = (x_tr, x_val, x_te)
        sig = data + signature(rec)
        if sig in seen:  # the analyser's pick is one of the rows already trained: mark it there
            if kwargs is None:
                seen[sig]["label"] += " = the analyser's pick"
                seen[sig]["is_pick"] = True
            else:
                print(f"[{rid}] is the same model as row {seen[sig]['id']}; not trained twice", file=sys.stderr)
            continue
        cached = load_cached(args, rid)
        if cached is not None:
            print(f"[{rid}] {label}: from the cache", file=sys.stderr, flush=True)
            seen[sig] = cached
            results.append(cached)
            continue
        print(f"[{rid}] {label}: {rec.likelihood} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        metrics, hist, recon = fit_one(rec, *xs, args, (1, 28, 28))
        row = {"id": rid, "label": label + (f" ({rec.likelihood})" if kwargs is None else ""), "data": data,
               "likelihood": rec.likelihood, "kwargs": kwargs, "activation": rec.activation, "loss": rec.loss,
               "preprocessing": rec.preprocessing, "comparable": bool(rec.comparable) and data == "8-bit",
               "caveat": rec.caveat, "metrics": metrics, "history": hist.to_dict(), "recon": recon,
               "is_pick": kwargs is None, "seconds": time.perf_counter() - t0,
               "scale": rec.used[0].transform.scale}
        print(f"    bits/dim {metrics.get('bits_per_dim')}  epochs {hist.epochs_run}  "
              f"{row['seconds']:.0f} s", file=sys.stderr, flush=True)
        seen[sig] = row
        results.append(row)
        save_cached(args, row)
    return {"rows": results, "originals": flat[N_TRAIN:N_TRAIN + args.n_images],
            "binar_originals": binar[N_TRAIN:N_TRAIN + args.n_images], "pick": pick}


def _cache_file(args, rid: str) -> Path | None:
    """Where a finished row is kept (``--cache DIR``), keyed by every setting that changes its numbers."""
    if not args.cache:
        return None
    key = f"{args.epochs}-{args.patience}-{args.k}-{args.latent_dim}-{args.batch_size}-{args.architecture}-{args.seed}"
    return Path(args.cache) / f"mnist_{rid}_{key}.npz"


def save_cached(args, row: dict) -> None:
    path = _cache_file(args, row["id"])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {k: v for k, v in row.items() if k != "recon"}
        np.savez(path, recon=row["recon"], meta=np.array(json.dumps(meta, default=str)))


def load_cached(args, rid: str) -> dict | None:
    path = _cache_file(args, rid)
    if path is None or not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        row = json.loads(str(z["meta"]))
        row["recon"] = z["recon"]
    return row


def _fmt(v, d=3):
    return "—" if v is None or not math.isfinite(v) else f"{v:.{d}f}"


def bits_cell(r) -> str:
    m = r["metrics"]
    if r["data"] == "binarised":
        return f"({_fmt(m.get('bits_per_dim'))} on binary data)"
    return _fmt(m.get("bits_per_dim")) if r["comparable"] else "n/a"


def summary_paragraph(rows) -> str:
    """What the table shows, worded from the numbers of this run."""
    comp = sorted((r for r in rows if r["comparable"] and r["metrics"].get("bits_per_dim") is not None),
                  key=lambda r: r["metrics"]["bits_per_dim"])
    if not comp:
        return "No comparable row finished."
    best, worst = comp[0], comp[-1]
    by_id = {r["id"]: r for r in rows}
    parts = [f"On held-out MNIST digits the best likelihood is **{best['label']}** at "
             f"{best['metrics']['bits_per_dim']:.3f} bits/dim; the worst comparable one is {worst['label']} at "
             f"{worst['metrics']['bits_per_dim']:.3f} bits/dim."]
    gauss = [by_id[i] for i in ("b", "d1", "d2", "d3") if i in by_id and by_id[i]["comparable"]]
    if gauss:
        bits = {r["id"]: r["metrics"]["bits_per_dim"] for r in gauss}
        g_best = min(bits, key=bits.get)
        parts.append(f"Every Gaussian row ({', '.join(bits)}; identity + MSE is b) scores between "
                     f"{min(bits.values()):.2f} and {max(bits.values()):.2f} bits/dim, far behind the best: one "
                     f"unimodal density per pixel cannot fit pixels piled up at exactly 0 and near 255. The best "
                     f"of them is {by_id[g_best]['label']} ({bits[g_best]:.3f}).")
    if {"d1", "d3"} <= set(by_id):
        d1, d3 = by_id["d1"]["metrics"]["bits_per_dim"], by_id["d3"]["metrics"]["bits_per_dim"]
        how = "ends close to" if abs(d1 - d3) < 0.25 else ("does worse than" if d1 > d3 else "does better than")
        parts.append(f"One shared sigma learned by gradient (d1: {d1:.3f}) {how} the shared sigma set to each "
                     f"batch's optimum (d3: {d3:.3f}; Rybkin et al., 2021).")
    if {"f1", "g"} <= set(by_id) and by_id["g"]["likelihood"] == "beta_binomial":
        parts.append(f"The binomial with 255 trials ties its variance to its mean and scores "
                     f"{by_id['f1']['metrics']['bits_per_dim']:.2f} bits/dim although its reconstructions look "
                     f"sharp; the beta-binomial, a binomial with overdispersion, scores "
                     f"{by_id['g']['metrics']['bits_per_dim']:.3f}: sharp reconstructions are not evidence of a "
                     "good likelihood.")
    if {"c", "e"} <= set(by_id):
        parts.append(f"On [0,1]-scaled pixels, Beta ({by_id['e']['metrics']['bits_per_dim']:.3f}) beats the "
                     f"continuous Bernoulli ({by_id['c']['metrics']['bits_per_dim']:.3f}), whose reconstructions "
                     "keep a grey background (its mean is pulled towards 0.5).")
    if "a" in by_id:
        parts.append("Sigmoid + BCE on grey levels trains and reconstructs, but it is not a normalised "
                     "likelihood for values strictly between 0 and 1, so it has no bits/dim to compare; "
                     "its normalised twin is the continuous Bernoulli (row c).")
    pick = next((r for r in rows if r["is_pick"]), None)
    if pick is not None:
        rank = next((i for i, r in enumerate(comp) if r is pick), None)
        parts.append(f"The analyser's pick ({pick['likelihood']}) ranks "
                     f"{'first' if rank == 0 else f'{rank + 1} of {len(comp)}'} here"
                     + ("." if rank == 0 else f", {pick['metrics']['bits_per_dim'] - best['metrics']['bits_per_dim']:.3f}"
                        " bits/dim behind the best."))
    parts.append("The binarised row models different data (0/1 pixels) and is not on the same scale.")
    return " ".join(parts)


def write_markdown(res, args, path: Path, total_seconds: float) -> None:
    import torch

    rows = res["rows"]
    lines = [
        "# Which likelihood for a VAE on MNIST? (issue 5, the seed experiment)", "",
        "Command: `python benchmarks/mnist_likelihoods.py " + " ".join(args.argv) + "`", "",
        f"Data: MNIST test split, first {N_TRAIN} images train ({N_TRAIN // 10} of them, seeded, validate), "
        f"last {N_TEST} test. Seed {args.seed}; every row: the same {args.architecture} VAE (latent "
        f"{args.latent_dim or 'default'}), batch {args.batch_size}, Adam lr 1e-3, at most {args.epochs} epochs "
        f"(patience {args.patience}, best weights restored), IWAE with k = {args.k} on the {N_TEST} test images. "
        f"{os.cpu_count()} CPU cores ({args.threads or os.cpu_count()} training thread(s)), torch {torch.__version__}; "
        f"the rows took {sum(r['seconds'] for r in rows) / 60:.1f} min in all (training + IWAE evaluation, "
        "measured when each row ran, on a machine shared with other jobs).", "",
        "Bits/dim are on the 0..255 scale for every density: discrete likelihoods (binomial, discretised "
        "logistic) give the mass of the 8-bit value; continuous ones are evaluated on uniformly dequantised "
        "pixels with the Jacobian of their scaling added, a lower bound on that mass (Theis et al., 2016). "
        "Lower is better.", "",
        "| row | likelihood | activation | loss | preprocessing | test bits/dim (IWAE) | neg. ELBO bits/dim "
        "| epochs | train s | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m, h = r["metrics"], r["history"]
        elbo = m.get("neg_elbo_nats_per_dim")
        elbo_bits = elbo / math.log(2) if (elbo is not None and (r["data"] == "binarised" or r["comparable"])) else None
        note = ("**analyser's pick**; " if r["is_pick"] else "") + (
            "" if r["comparable"] else (r["caveat"] or "not comparable") if r["data"] == "8-bit"
            else "binarised pixels: other data, other scale")
        act = ", ".join(f"{k}: {v}" for k, v in (r["activation"] or {}).items())
        pre = "; ".join(r["preprocessing"]) if isinstance(r["preprocessing"], list) else str(r["preprocessing"])
        lines.append(f"| {r['id']} {r['label']} | {r['likelihood']} | {act} | {r['loss']} | {pre} | "
                     f"{bits_cell(r)} | {_fmt(elbo_bits) if r['data'] == '8-bit' else f'({_fmt(elbo_bits)})'} | {h['epochs_run']} | {h['train_seconds']:.0f} | "
                     f"{note.rstrip('; ')} |")
    lines += ["", summary_paragraph(rows), "",
              "![reconstructions](mnist_reconstructions.png)", "",
              "Reconstructions: first row the original test images, then each row's mean of p(x | z) at the "
              "posterior mean, in pixel units (the binarised rows show 0/1 scaled to 0..255)."]
    path.write_text("\n".join(lines) + "\n")


SHORT = {"a": "a: Bernoulli (BCE), x/255", "b": "b: Gaussian sigma=1 (MSE)", "c": "c: continuous Bernoulli",
         "d1": "d1: Gaussian, shared sigma", "d2": "d2: Gaussian, sigma per pixel", "d3": "d3: Gaussian, optimal sigma",
         "e": "e: Beta", "f1": "f1: binomial (255)", "f2": "f2: discretised logistic",
         "bin": "bin: Bernoulli, binarised"}


def write_png(res, path: Path) -> None:
    from autolik.plots.compare import image_grid

    grid = [("original", res["originals"])]
    for r in res["rows"]:
        scale = 255.0 if r["data"] == "binarised" else 1.0
        if r["data"] == "binarised":
            grid.append(("binarised original", res["binar_originals"] * 255.0))
        label = f"g: pick, {r['likelihood']}" if r["id"] == "g" else SHORT.get(r["id"], f"{r['id']}: {r['likelihood']}")
        grid.append((label, r["recon"] * scale))
    image_grid(grid, path, (1, 28, 28), vrange=(0.0, 255.0), title="MNIST test images and reconstructions")


def main(argv=None) -> None:
    default_mnist = os.environ.get("AUTOLIK_MNIST") or str(REPO.parent / "shared" / "data" / "mnist")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist", default=default_mnist)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--latent-dim", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--architecture", default="mlp", choices=["auto", "mlp", "conv"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-images", type=int, default=10)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for training (default: all cores, as autolik.train does)")
    p.add_argument("--cache", default=None, help="keep finished rows here and reuse them on a rerun")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.threads:  # autolik.train reads AUTOLIK_THREADS; on a shared machine fewer is faster
        os.environ["AUTOLIK_THREADS"] = str(args.threads)
    t0 = time.perf_counter()
    res = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_markdown(res, args, out / "mnist_likelihoods.md", time.perf_counter() - t0)
    write_png(res, out / "mnist_reconstructions.png")
    print(f"wrote {out / 'mnist_likelihoods.md'} and {out / 'mnist_reconstructions.png'} "
          f"in {(time.perf_counter() - t0) / 60:.1f} min", file=sys.stderr)


if __name__ == "__main__":
    main()

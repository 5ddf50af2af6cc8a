"""Pictures of a comparison: reconstructions, prior samples and learning curves per candidate.

Image data: a grid with the originals in the first row and each candidate's reconstructions (the
mean of its distribution in the data's units, never raw logits) in the following rows, labelled;
the same for samples from the prior. Tabular data: per feature, the held-out data's histogram with
each candidate's reconstructions / samples overlaid. matplotlib is imported lazily, Agg backend.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from autolik.plots import pyplot, save

N_IMAGES = 10
MAX_FEATURES = 12


def _as_images(x: np.ndarray, image_shape: tuple) -> np.ndarray:
    """(n, ...) -> (n, H, W) for one channel or (n, H, W, C) for several."""
    c, h, w = image_shape
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if c == 1:
        return x.reshape(len(x), h, w)
    return x.reshape(len(x), c, h, w).transpose(0, 2, 3, 1)


def image_grid(rows: list[tuple[str, np.ndarray]], path, image_shape: tuple, vrange: tuple | None = None,
               title: str | None = None) -> Path:
    """Save a labelled grid: one row of images per (label, array of shape (n, ...)).

    Args:
        rows: (row label, images) pairs; images of shape (n, C*H*W) or (n, [C,] H, W), in data units.
        path: PNG file to write.
        image_shape: (C, H, W).
        vrange: (low, high) data range mapped to black..white; default: the first row's range.
        title: figure title.
    """
    plt = pyplot()
    imgs = [(label, _as_images(a, image_shape)) for label, a in rows]
    n = max(len(a) for _, a in imgs)
    lo, hi = vrange if vrange is not None else (float(np.nanmin(imgs[0][1])), float(np.nanmax(imgs[0][1])))
    hi = hi if hi > lo else lo + 1.0
    fig, axes = plt.subplots(len(imgs), n, figsize=(0.9 * n + 2.2, 0.95 * len(imgs) + (0.4 if title else 0.1)),
                             squeeze=False)
    for r, (label, a) in enumerate(imgs):
        for c in range(n):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if c < len(a):
                img = np.clip((a[c] - lo) / (hi - lo), 0.0, 1.0)
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    return save(fig, path, title)


def feature_histograms(data: np.ndarray, overlays: list[tuple[str, np.ndarray]], names: list[str], path,
                       title: str | None = None) -> Path:
    """Per feature: the data's histogram (filled) with each overlay's distribution as a step histogram.

    Args:
        data: array of shape (n_samples, n_features), data units.
        overlays: (label, array of shape (m, n_features)) pairs: reconstructions or samples.
        names: feature names.
        path: PNG file to write.
    """
    plt = pyplot()
    data = np.asarray(data, dtype=np.float64).reshape(len(data), -1)
    d = min(data.shape[1], MAX_FEATURES)
    ncol = min(4, d)
    nrow = -(-d // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.4 * nrow + 0.6), squeeze=False)
    for j in range(nrow * ncol):
        ax = axes[j // ncol][j % ncol]
        if j >= d:
            ax.axis("off")
            continue
        col = data[:, j][np.isfinite(data[:, j])]
        allv = [col] + [np.asarray(o, dtype=np.float64).reshape(len(o), -1)[:, j] for _, o in overlays]
        allv = np.concatenate([v[np.isfinite(v)] for v in allv])
        lo, hi = (np.percentile(allv, [0.5, 99.5]) if allv.size else (0.0, 1.0))
        bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 31)
        ax.hist(col, bins=bins, density=True, color="0.8", label="data")
        for label, o in overlays:
            v = np.asarray(o, dtype=np.float64).reshape(len(o), -1)[:, j]
            ax.hist(v[np.isfinite(v)], bins=bins, density=True, histtype="step", linewidth=1.3, label=label)
        ax.set_title(str(names[j]) if j < len(names) else f"x{j}", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    return save(fig, path, title)


def learning_curves(histories: list[tuple[str, object]], path) -> Path:
    """One panel per candidate: training and validation loss per epoch (model-space units of that candidate)."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    n = max(1, len(histories))
    ncol = min(3, n)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 2.6 * nrow + 0.5), squeeze=False)
    for i in range(nrow * ncol):
        ax = axes[i // ncol][i % ncol]
        if i >= len(histories):
            ax.axis("off")
            continue
        label, h = histories[i]
        for name, style in (("train_loss", "--"), ("val_loss", "-")):
            ys = list(getattr(h, name, []) or [])
            if ys:
                ax.plot(range(1, len(ys) + 1), ys, style, label=name.replace("_loss", ""))
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    return save(fig, path, "loss per epoch (each candidate in its own model-space units; compare the table, "
                           "not these)", title_size=9)


def write_figures(comp, out) -> dict[str, str]:
    """Write the figures of a :class:`~autolik.compare.Comparison` into ``out``; returns name -> file path."""
    out = Path(out)
    fitted = comp.fitted
    figures: dict[str, str] = {}
    if not fitted:
        return figures
    rows = comp.test_rows
    if rows is not None and len(rows):
        n = N_IMAGES if comp.image_shape else len(rows)
        originals = rows[:n]
        recons = [(label, f.reconstruct(originals)) for label, f in fitted.items()]
        samples = [(label, f.sample(len(originals) if comp.image_shape else max(len(rows), 500), seed=0))
                   for label, f in fitted.items()]
        flat = np.asarray(originals, dtype=np.float64).reshape(len(originals), -1)
        if comp.image_shape:
            vr = (float(np.nanmin(flat)), float(np.nanmax(flat)))
            figures["reconstructions"] = str(image_grid([("original", originals)] + recons,
                                                        out / "reconstructions.png", comp.image_shape, vr))
            figures["samples"] = str(image_grid(samples, out / "samples.png", comp.image_shape, vr))
        else:
            figures["reconstructions"] = str(feature_histograms(
                rows, recons, comp.names, out / "reconstructions.png", "held-out data vs reconstructions"))
            figures["samples"] = str(feature_histograms(
                rows, samples, comp.names, out / "samples.png", "held-out data vs samples from the prior"))
    hist = [(label, f.history) for label, f in fitted.items() if getattr(f, "history", None) is not None]
    if hist:
        figures["learning_curves"] = str(learning_curves(hist, out / "learning_curves.png"))
    return figures

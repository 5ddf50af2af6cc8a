"""``autolik inspect --plot``: per-feature histograms with the chosen density or pmf overlaid.

All features up to 16 panels; beyond that an evenly spaced, labelled sample of 16 (and, for
pooled image-like data, a first panel with every value pooled). matplotlib is imported lazily
with the Agg backend, so the analysis path never needs a display.
"""
from __future__ import annotations

import numpy as np

from autolik.plots import pyplot, save

MAX_PANELS = 16
MAX_LEVELS = 300
MAX_BARS = 64  # levels are grouped into at most this many bars


def _panels(prof, rec) -> list[tuple[str, np.ndarray, object]]:
    """(title, values, FeatureChoice or None) per panel."""
    by_col = {c: f for f in rec.features for c in f.columns}
    n = prof.n_features
    cols = list(range(n)) if n <= MAX_PANELS else np.linspace(0, n - 1, MAX_PANELS).round().astype(int).tolist()
    sample = prof.sample if prof.sample is not None else np.empty((0, n))
    out = []
    pooled = [c for c in rec.used if c.transform and prof.features[c.columns[0]].support_detail.get("pooled")]
    if pooled and n > MAX_PANELS:
        out.append((f"all {n} features pooled", sample.ravel(), pooled[0]))
        cols = cols[: MAX_PANELS - 1]
    for j in cols:
        c = by_col.get(j)
        onehot = c is not None and len(c.columns) > 1
        f = prof.features[j]
        fam = c.likelihood if c is not None and c.used else "left out"
        out.append((f"{f.name}: {f.support}\n{fam}", sample[:, j], None if onehot else c))
    return out


def _overlay(ax, x: np.ndarray, c) -> None:
    """Fit the chosen family to x in model space and draw it in data units."""
    from autolik.families import family

    t, fam = c.transform, c.likelihood
    spec = family(fam)
    n = c.options.get("total_count", c.options.get("n_levels", 2) - 1)
    if spec.discrete:
        y = np.round((x - t.shift) * t.scale)
        bounded = "total_count" in c.options and n  # a mass on 0..total_count: drawn over all of it
        lo, hi = (0, int(n)) if bounded else (int(y.min()), int(min(y.max(), y.min() + MAX_LEVELS)))
        levels = np.arange(lo, hi + 1)
        _, ll = spec.quick_fit(y, levels, n=n)
        inside = (y >= lo) & (y <= hi)
        freq = np.bincount((y[inside] - lo).astype(np.int64), minlength=levels.size) / y.size
        # many levels (8-bit pixels): bars of several levels each, so that they stay visible
        width = int(np.ceil(levels.size / MAX_BARS))
        starts = np.arange(0, levels.size, width)
        freq, pmf = np.add.reduceat(freq, starts), np.add.reduceat(np.exp(ll), starts)
        xs = (levels[starts] + (np.minimum(starts + width, levels.size) - starts - 1) / 2) / t.scale + t.shift
        ax.bar(xs, freq, width=0.9 * width / abs(t.scale), color="0.75", label="data")
        ax.plot(xs, pmf, "o", ms=3, color="C3", label=fam)
        _log_if_spread(ax, np.concatenate([freq, pmf]), 1.0 / y.size)
        if width > 1:
            ax.set_ylabel(f"probability per {width} levels", fontsize=7)
        return
    u = np.random.default_rng(0).random(x.size)
    y = (x + t.step * u - t.shift) * t.scale
    grid = np.linspace(y.min(), y.max(), 200)
    _, ll = spec.quick_fit(y, grid, n=n)
    ax.hist(x, bins=min(60, max(10, int(np.sqrt(x.size)))), density=True, color="0.75", label="data")
    ax.plot(grid / t.scale + t.shift, np.exp(ll) * abs(t.scale), color="C3", label=fam)


def _log_if_spread(ax, probs: np.ndarray, floor: float) -> None:
    """A log y-axis when the probabilities span more than two decades (mass piled on a few levels,
    as on 0 and 255 for pixels, would otherwise flatten every other bar)."""
    pos = probs[probs > 0]
    if pos.size and pos.max() / max(np.median(pos), floor) > 100:
        ax.set_yscale("log")
        ax.set_ylim(bottom=max(floor / 2, pos.min() / 2))


def plot_inspect(prof, rec, path) -> None:
    """Write the figure to ``path`` (PNG). Overlay failures leave the plain histogram."""
    plt = pyplot()
    panels = _panels(prof, rec)
    ncols = min(4, len(panels))
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    for ax, (title, vals, choice) in zip(axes.ravel(), panels):
        x = np.asarray(vals, dtype=np.float64)
        x = x[np.isfinite(x)]
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
        if x.size == 0:
            ax.text(0.5, 0.5, "no finite values", ha="center", transform=ax.transAxes, fontsize=8)
            continue
        drawn = False
        if choice is not None and choice.used and x.size >= 4 and np.ptp(x) > 0:
            try:
                with np.errstate(all="ignore"):
                    _overlay(ax, x, choice)
                drawn = True
            except (ValueError, KeyError, FloatingPointError, IndexError):
                ax.cla()
                ax.set_title(title, fontsize=8)
        if not drawn:
            ax.hist(x, bins=min(60, max(5, int(np.sqrt(x.size)))), color="0.75", weights=np.full(x.size, 1 / x.size))
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    total = f" ({len(panels)} panels of {prof.n_features} features)" if prof.n_features > MAX_PANELS else ""
    save(fig, path, f"{prof.source}: {rec.likelihood}{total}", dpi=80)

"""Train several likelihoods on the same data, split, seed and budget, and rank them on held-out data.

A recommendation from statistics is a hypothesis; held-out likelihood is the evidence.
:func:`compare` trains the analyser's pick, its ranked alternatives and the naive defaults a user
would otherwise try (sigmoid + BCE on min-max scaled data, identity + MSE on standardised data),
then ranks them by the importance-weighted bound on the held-out negative log-likelihood (IWAE;
Burda et al., 2016, "Importance Weighted Autoencoders"), always in the original data's units so
that a density and a mass on the same file compare (Theis et al., 2016).

Candidates that are not normalised likelihoods for the data (plain Bernoulli on values strictly
inside (0, 1), Loaiza-Ganem & Cunningham, 2019) are trained and shown, but their figures are
withheld and they never win.

:func:`select_empirical` runs the comparison on a row sample within a time budget and returns the
winner's :class:`~autolik.analysis.recommend.Recommendation` (``autolik fit --select empirical``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autolik.errors import AutolikError, UsageError

DEFAULT_EPOCHS = 50
N_ALTERNATIVES = 2  # ranked alternatives trained beside the pick ("top 2-3" with the pick)
NAIVE = {  # the defaults a user would otherwise try: recommend() keyword arguments
    "naive-bce": {"likelihood": "bernoulli", "preprocessing": "minmax"},
    "naive-mse": {"likelihood": "gaussian", "mode": "fixed", "preprocessing": "standardize"},
}
LEADERBOARD_FIELDS = ("candidate", "likelihood", "activation", "loss", "preprocessing", "comparable",
                      "nll_iwae_nats_per_dim", "neg_elbo_nats_per_dim", "bits_per_dim", "train_seconds",
                      "recon_error", "is_pick")


@dataclass
class Candidate:
    """One model to train: a label, the ``recommend()`` arguments that define it, and its Recommendation."""

    label: str
    role: str  # "pick" | "alternative" | "naive" | "requested"
    kwargs: dict[str, Any]
    recommendation: Any = None


@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes:
        pick: the analyser's likelihood (``Recommendation.likelihood``).
        best: label of the best comparable candidate on held-out data (None if none is comparable).
        agrees: whether ``best`` is the analyser's pick; None when the pick was not a candidate.
        leaderboard: one dict per candidate (fields in ``LEADERBOARD_FIELDS``), comparable first,
            sorted by held-out IWAE negative log-likelihood per dimension.
        fitted: candidate label -> ``FittedVAE``.
        candidates: candidate label -> :class:`Candidate`.
        test_rows: array of held-out rows in the data's original shape, (n_test, ...) (for pictures).
        image_shape: (C, H, W) for image data, else None.
        names: feature names (tabular data).
        settings: epochs / budget / seed / k used.
        notes: candidates skipped or failed, and why.
    """

    pick: str
    best: str | None
    agrees: bool | None
    leaderboard: list[dict]
    fitted: dict = field(default_factory=dict, repr=False)
    candidates: dict = field(default_factory=dict, repr=False)
    test_rows: np.ndarray | None = field(default=None, repr=False)
    image_shape: tuple | None = None
    names: list[str] = field(default_factory=list, repr=False)
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The JSON document of ``autolik compare --json``."""
        return {"pick": self.pick, "best": self.best, "agrees": self.agrees, "leaderboard": self.leaderboard}

    def verdict(self) -> str:
        """One plain sentence: does the held-out evidence agree with the analyser's pick?"""
        from autolik.report import verdict

        return verdict(self)


# --------------------------------------------------------------------------- candidates


def _signature(rec) -> str:
    """What makes two recommendations the same model: families, options and transforms per used feature."""
    parts = [(f.likelihood, f.columns, f.options, round(f.transform.shift, 12), round(f.transform.scale, 12),
              f.transform.step) for f in rec.used]
    return json.dumps(parts, sort_keys=True, default=str)


def _parse_candidates(candidates) -> list[tuple[str, str, dict]] | str:
    """"auto" / "all" stay strings; a list or "a,b,c" becomes (label, role, recommend kwargs) triples."""
    from autolik.likelihoods import available_likelihoods

    if isinstance(candidates, str) and candidates in ("auto", "all"):
        return candidates
    items = candidates.split(",") if isinstance(candidates, str) else list(candidates)
    items = [str(i).strip() for i in items if str(i).strip()]
    if not items:
        raise UsageError("candidates: expected 'auto', 'all' or a list of likelihood names, got nothing")
    known = available_likelihoods()
    out = []
    for item in items:
        if item in ("pick", "auto"):
            out.append(("pick", "pick", {}))
            continue
        if item in NAIVE:
            out.append((item, "naive", dict(NAIVE[item])))
            continue
        name, _, mode = item.partition(":")
        if name not in known:
            raise UsageError(f"unknown candidate {item!r}; expected 'pick', 'naive-bce', 'naive-mse' or a "
                             f"likelihood name (optionally name:mode) from: {', '.join(known)}")
        out.append((item, "requested", {"likelihood": name, **({"mode": mode} if mode else {})}))
    return out


def build_candidates(X, candidates="auto", key: str | None = None, pick=None) -> tuple[list[Candidate], Any, list[str]]:
    """The candidates to train, deduplicated, each with its Recommendation.

    Args:
        X: array-like, DataFrame, path or Profile (as for :func:`autolik.recommend`); pass a Profile
            to avoid profiling the data once per candidate.
        candidates: ``"auto"`` (pick, top alternatives, naive defaults), ``"all"`` (pick, every
            registered likelihood the data allows, naive defaults) or a list / comma-separated string
            of ``pick``, ``naive-bce``, ``naive-mse``, ``name`` or ``name:mode``.
        key: array name inside an ``.npz`` file.
        pick: the analyser's Recommendation, if already computed.

    Returns:
        (candidates, the analyser's Recommendation, notes on skipped candidates).
    """
    from autolik.analysis.recommend import recommend
    from autolik.likelihoods import available_likelihoods

    kw = {"key": key} if key is not None else {}
    pick = pick if pick is not None else recommend(X, **kw)
    spec = _parse_candidates(candidates)
    if spec == "auto":
        alts = [a.get("likelihood") for a in (pick.alternatives or []) if a.get("likelihood") != pick.likelihood]
        spec = ([("pick", "pick", {})]
                + [(a, "alternative", {"likelihood": a}) for a in alts[:N_ALTERNATIVES]]
                + [(k, "naive", dict(v)) for k, v in NAIVE.items()])
    elif spec == "all":
        spec = ([("pick", "pick", {})] + [(n, "requested", {"likelihood": n}) for n in available_likelihoods()]
                + [(k, "naive", dict(v)) for k, v in NAIVE.items()])
    out, seen, notes = [], {}, []
    for label, role, kwargs in spec:
        try:
            rec = pick if role == "pick" else recommend(X, **kw, **kwargs)
        except AutolikError as e:
            notes.append(f"skipped {label}: {e}")
            continue
        if role == "pick":
            label = pick.likelihood
        sig = _signature(rec)
        if sig in seen:
            notes.append(f"{label} ({role}) is the same model as {seen[sig]}; trained once")
            continue
        if any(c.label == label for c in out):  # e.g. a requested 'gaussian' beside a differently configured pick
            label = f"{label} ({role})"
        seen[sig] = label
        out.append(Candidate(label, role, kwargs, rec))
    if not out:
        raise UsageError("no candidate can be trained on this data; " + "; ".join(notes))
    return out, pick, notes


# --------------------------------------------------------------------------- data helpers


def _load(X, key: str | None = None):
    """(Dataset, Profile) of X, loaded and profiled once for every candidate."""
    from autolik.analysis.profile import inspect
    from autolik.outputs import load_dataset

    ds = load_dataset(X, key)
    return ds, inspect(ds)


def _rows_of(ds) -> tuple[np.ndarray, tuple, list[str], tuple | None]:
    """(2-D array (n, n_columns), original shape, feature names, image_shape) of a Dataset."""
    return ds.data, tuple(ds.shape), list(ds.names), getattr(ds, "image_shape", None)


def _test_indices(fitted, n: int) -> np.ndarray | None:
    """Indices of the test split a FittedVAE was evaluated on, if it records them."""
    split = getattr(fitted, "split", None) or {}
    idx = split.get("test") if isinstance(split, dict) else None
    return None if idx is None else np.asarray(idx, dtype=np.int64)


def _rmse(a: np.ndarray, b: np.ndarray) -> float | None:
    """Root mean squared difference over entries observed in both (data units); None if none."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    if a.shape != b.shape:
        return None
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2))) if ok.any() else None


def _recon_error(fitted, rows, notes: list, label: str) -> float | None:
    """RMSE between held-out rows and their reconstructions (distribution means, data units)."""
    if rows is None:
        return None
    try:
        return _rmse(fitted.reconstruct(rows), rows)
    except (AutolikError, ValueError, TypeError) as e:
        notes.append(f"{label}: no reconstruction error ({e})")
        return None


def _fit_kwargs(fit_options: dict) -> dict:
    """Keep only keyword arguments ``autolik.api.fit`` accepts and compare does not set itself."""
    import inspect as _inspect

    from autolik.api import fit

    accepted = set(_inspect.signature(fit).parameters)
    reserved = {"likelihood", "mode", "preprocessing", "recommendation", "select", "epochs", "max_seconds",
                "seed", "k", "quiet", "key", "profile"}
    bad = sorted(set(fit_options) - accepted)
    if bad:
        raise UsageError(f"unknown fit option(s) {bad}; fit accepts {sorted(accepted - reserved)}")
    return {k: v for k, v in fit_options.items() if k not in reserved}


# --------------------------------------------------------------------------- compare


def compare(X, candidates="auto", epochs: int | None = None, budget_seconds: float | None = None, seed: int = 0,
            k: int = 100, out=None, quiet: bool = True, key: str | None = None, force: bool = False,
            **fit_options) -> Comparison:
    """Train candidate likelihoods with the same architecture, split, seed and budget; rank them on held-out data.

    Args:
        X: array-like of shape (n_samples, ...), a DataFrame or a file path.
        candidates: ``"auto"``, ``"all"`` or a list (see :func:`build_candidates`).
        epochs: epochs per candidate (default ``DEFAULT_EPOCHS``, early stopping applies).
        budget_seconds: total training budget, split evenly (passed to fit as ``max_seconds``).
            Exclusive with ``epochs``. Held-out evaluation time comes on top.
        seed: one seed for every candidate: the same split and initialisation stream.
        k: importance samples of the held-out IWAE bound.
        out: directory for ``report.md`` and the PNG figures (refused if it exists and is not
            empty, unless ``force``).
        quiet: no progress bars.
        key: array name inside an ``.npz`` file.
        force: allow writing into a non-empty ``out``.
        **fit_options: passed to :func:`autolik.api.fit` (latent_dim, hidden, batch_size, ...).

    Returns:
        A :class:`Comparison`.
    """
    from autolik.api import fit
    from autolik.report import leaderboard_row, sort_key

    if epochs is not None and budget_seconds is not None:
        raise UsageError("give either epochs or budget_seconds, not both: a budget already decides how long "
                         "each candidate trains")
    if budget_seconds is not None and not budget_seconds > 0:
        raise UsageError(f"budget_seconds must be > 0, got {budget_seconds}")
    if out is not None:
        from autolik.report import check_out_dir

        check_out_dir(out, force)
    opts = _fit_kwargs(fit_options)
    _parse_candidates(candidates)  # a bad name fails before any data is read
    ds, prof = _load(X, key)
    cands, pick, notes = build_candidates(prof, candidates)
    per = budget_seconds / len(cands) if budget_seconds is not None else None
    n_epochs = epochs if epochs is not None else (10_000 if per is not None else DEFAULT_EPOCHS)
    data, shape, names, image_shape = _rows_of(ds)
    pick_sig = _signature(pick)
    rows, fitted_models, test_rows = [], {}, None
    for cand in cands:
        is_pick = _signature(cand.recommendation) == pick_sig
        try:
            fitted = fit(ds, recommendation=cand.recommendation, profile=prof, epochs=n_epochs, max_seconds=per,
                         seed=seed, k=k, quiet=quiet, **opts)
        except Exception as e:  # one failing candidate must not sink the comparison; say why in its row
            if os.environ.get("AUTOLIK_DEBUG") and not isinstance(e, AutolikError):
                raise
            msg = str(e) if isinstance(e, AutolikError) else f"internal error ({type(e).__name__}: {e})"
            notes.append(f"{cand.label} failed: {msg}")
            rows.append(leaderboard_row(cand, None, None, is_pick, error=msg))
            continue
        fitted_models[cand.label] = fitted
        idx = _test_indices(fitted, len(data))
        if idx is not None and len(idx):
            test_rows = np.asarray(data[idx], dtype=np.float64).reshape((len(idx),) + shape[1:])
        recon = _recon_error(fitted, test_rows, notes, cand.label)
        rows.append(leaderboard_row(cand, fitted, recon, is_pick))
    rows.sort(key=sort_key)
    best_row = rows[0] if rows and not sort_key(rows[0])[0] else None
    pick_in = any(r["is_pick"] for r in rows)
    comp = Comparison(
        pick=pick.likelihood, best=best_row["candidate"] if best_row else None,
        agrees=(bool(best_row["is_pick"]) if best_row else False) if pick_in else None,
        leaderboard=rows, fitted=fitted_models, candidates={c.label: c for c in cands}, test_rows=test_rows,
        image_shape=tuple(image_shape) if image_shape else (tuple(pick.image_shape) if pick.image_shape else None),
        names=names, notes=notes,
        settings={"epochs": epochs if epochs is not None else (None if per else DEFAULT_EPOCHS),
                  "budget_seconds": budget_seconds, "seconds_per_candidate": per, "seed": seed, "k": k,
                  "n_samples": int(shape[0]), "shape": list(shape), **opts})
    if out is not None:
        from autolik.report import write_report

        write_report(comp, out, force=force)
    return comp


# --------------------------------------------------------------------------- empirical selection


def _sample_rows(X, sample_rows: int, seed: int, key: str | None):
    """X itself when it has at most ``sample_rows`` rows, else a seeded row sample in X's original shape."""
    from autolik.outputs import load_dataset

    if hasattr(X, "iloc"):  # a DataFrame: keep its columns (string levels, names)
        n = len(X)
        data = shape = None
    else:
        ds = load_dataset(X, key)
        data, shape = ds.data, tuple(ds.shape)
        n = int(shape[0])
    if n <= sample_rows:
        return X
    idx = np.sort(np.random.default_rng(seed).choice(n, size=sample_rows, replace=False))
    if data is None:
        return X.iloc[idx]
    return np.asarray(data[idx]).reshape((sample_rows,) + shape[1:])


def select_empirical(X, budget_seconds: float = 60, sample_rows: int = 2000, seed: int = 0, key: str | None = None,
                     k: int = 20, candidates="auto", **fit_options):
    """Choose the likelihood on held-out data: compare candidates on a row sample, return the winner.

    Args:
        X: array-like of shape (n_samples, ...), a DataFrame or a file path.
        budget_seconds: total training budget of the comparison.
        sample_rows: rows sampled (seeded) for the comparison.
        seed: seed of the row sample and of the comparison.
        key: array name inside an ``.npz`` file.
        k: importance samples of the held-out IWAE bound in the comparison.
        candidates: as for :func:`compare`.
        **fit_options: architecture and optimiser options for the comparison's fits; options that
            do not apply to it (epochs, select, ...) are ignored.

    Returns:
        The winner's Recommendation, recomputed on the full data (so its preprocessing covers every
        row), with a note naming the evidence. The analyser's pick when no candidate is comparable.
    """
    from autolik.analysis.recommend import recommend

    drop = {"select", "recommendation", "likelihood", "mode", "preprocessing", "epochs", "max_seconds", "quiet",
            "seed", "k", "key", "test_fraction", "val_fraction"}
    opts = {k_: v for k_, v in fit_options.items() if k_ not in drop}
    sample = _sample_rows(X, sample_rows, seed, key)
    comp = compare(sample, candidates=candidates, budget_seconds=budget_seconds, seed=seed, k=k, quiet=True,
                   key=key if sample is X else None, **opts)
    winner = comp.candidates.get(comp.best) if comp.best else None
    kwargs = winner.kwargs if winner is not None else {}
    rec = recommend(X, key=key, **kwargs)
    row = next((r for r in comp.leaderboard if r["candidate"] == comp.best), None)
    evidence = (f"chosen empirically: {comp.best} had the best held-out IWAE "
                f"({row['nll_iwae_nats_per_dim']:.4g} nats/dim) among {len(comp.leaderboard)} candidates"
                if row else "empirical selection found no comparable candidate; kept the analyser's pick")
    rec.notes = list(rec.notes or []) + [evidence + f" ({comp.verdict()})"]
    return rec


def leaderboard_text(comp: Comparison) -> str:
    """The leaderboard as aligned plain text (see :func:`autolik.report.leaderboard_text`)."""
    from autolik.report import leaderboard_text as _text

    return _text(comp)

"""Train several likelihoods on the same data, split, seed and budget, and rank them on held-out data.

A recommendation from statistics is a hypothesis; held-out likelihood is the evidence.
:func:`compare` trains the analyser's pick, its ranked alternatives and the naive defaults a user
would otherwise try (sigmoid + BCE on min-max scaled data, identity + MSE on standardised data),
then ranks them by the importance-weighted bound on the held-out negative log-likelihood per
sample (IWAE; Burda et al., 2016, "Importance Weighted Autoencoders"). The comparison is honest
by construction:

* the same rows (one seeded split) and the same columns for every candidate;
* always in the original data's units (the Jacobian of each candidate's preprocessing added);
* a mass on discrete data, for every candidate: a continuous family on a lattice (integers,
  two-valued flags, category codes, one-hot columns, a 1/255 grid) is evaluated on uniformly
  dequantised values plus ``log step``, a lower bound on the log mass (Theis et al., 2016), never
  as a density at lattice points; a density on continuous data;
* per-dimension figures divide the per-sample figure by one count shared by every candidate,
  the observed values of the data's own columns.

Candidates that are not normalised likelihoods for the data (plain Bernoulli on values strictly
inside (0, 1), Loaiza-Ganem & Cunningham, 2019) are trained and shown, but their figures are
withheld and they never win.

:func:`select_empirical` runs the comparison on a row sample within a time budget and returns the
winner's :class:`~autolik.analysis.recommendation.recommend.Recommendation` (``autolik fit --select empirical``).
Both load and profile the data once, through :mod:`autolik.pipeline`, which trains each candidate.
"""
from __future__ import annotations

import json
import os
import sys
import types
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from autolik.errors import AutolikError, UsageError
from autolik.io.sparse import rows as dense_rows

DEFAULT_STEPS = 3000  # optimisation steps per candidate when neither epochs nor a budget is given
MAX_DEFAULT_EPOCHS = 1000
# The cost model that turns --budget-seconds into a number of optimisation steps, so that the same
# command and seed give the same table whatever the machine's load: seconds per step = overhead +
# floating-point operations of one step / rate, plus a per-epoch overhead (validation, snapshot),
# calibrated on a 2-core CPU with torch's CPU build. The budget is planned, not enforced by the
# clock: a slower machine takes longer and gives the same table.
STEP_OVERHEAD_SECONDS = 3e-3
PART_OVERHEAD_SECONDS = 1e-3  # per family of a mixed table's composite head (its own small kernels)
EPOCH_OVERHEAD_SECONDS = 3e-3
FLOPS_PER_SECOND = 2.0e10
N_ALTERNATIVES = 2  # ranked alternatives trained beside the pick ("top 2-3" with the pick)
NAIVE = {  # the defaults a user would otherwise try: recommend() keyword arguments
    "naive-bce": {"likelihood": "bernoulli", "preprocessing": "minmax"},
    "naive-mse": {"likelihood": "gaussian", "mode": "fixed", "preprocessing": "standardize"},
}
LEADERBOARD_FIELDS = ("candidate", "likelihood", "activation", "loss", "preprocessing", "comparable",
                      "nll_iwae_nats_per_sample", "neg_elbo_nats_per_sample", "nll_iwae_nats_per_dim",
                      "neg_elbo_nats_per_dim", "bits_per_dim", "train_seconds", "epochs_run", "stopped",
                      "recon_error", "is_pick", "gap_se_nats_per_sample")


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
            sorted by held-out IWAE negative log-likelihood per sample.
        fitted: candidate label -> ``FittedVAE``.
        candidates: candidate label -> :class:`Candidate`.
        test_rows: array of held-out rows in the data's original shape, (n_test, ...) (for pictures).
        image_shape: (C, H, W) for image data, else None.
        names: feature names (tabular data).
        settings: epochs / steps / budget / seed / k used, and ``n_dims``: the observed values
            per test row that every per-dim figure divides by.
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
    from autolik.families import names

    if isinstance(candidates, str) and candidates in ("auto", "all"):
        return candidates
    items = candidates.split(",") if isinstance(candidates, str) else list(candidates)
    items = [str(i).strip() for i in items if str(i).strip()]
    if not items:
        raise UsageError("candidates: expected 'auto', 'all' or a list of likelihood names, got nothing")
    known = names()
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
        candidates: ``"auto"`` (pick, top alternatives, or for a mixed pick the model of every
            feature's second-choice family, naive defaults), ``"all"`` (pick, every
            registered likelihood the data allows, naive defaults) or a list / comma-separated string
            of ``pick``, ``naive-bce``, ``naive-mse``, ``name`` or ``name:mode``.
        key: array name inside an ``.npz`` file.
        pick: the analyser's Recommendation, if already computed.

    Returns:
        (candidates, the analyser's Recommendation, notes on skipped candidates).
    """
    from autolik.analysis.recommendation.recommend import recommend
    from autolik.families import names

    kw = {"key": key} if key is not None else {}
    pick = pick if pick is not None else recommend(X, **kw)
    spec = _parse_candidates(candidates)
    if spec == "auto":
        alts = [a.get("likelihood") for a in (pick.alternatives or []) if a.get("likelihood") != pick.likelihood]
        second = [("runner-up", "alternative", {"runner_up": True})] if pick.likelihood == "mixed" else []
        spec = ([("pick", "pick", {})] + second
                + [(a, "alternative", {"likelihood": a}) for a in alts[:N_ALTERNATIVES]]
                + [(k, "naive", dict(v)) for k, v in NAIVE.items()])
    elif spec == "all":
        spec = ([("pick", "pick", {})] + [(n, "requested", {"likelihood": n}) for n in names()]
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


def _test_indices(fitted) -> np.ndarray | None:
    """Indices of the test split a FittedVAE was evaluated on, if it records them."""
    split = getattr(fitted, "split", None) or {}
    idx = split.get("test") if isinstance(split, dict) else None
    return None if idx is None else np.asarray(idx, dtype=np.int64)


def _rmse(a: np.ndarray, b: np.ndarray) -> float | None:
    """Root mean squared difference over entries observed in both (data units); None if none."""
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2))) if ok.any() else None


def _recon_error(fitted, rows: np.ndarray, used: list[int], notes: list, label: str) -> float | None:
    """RMSE between held-out rows and their reconstructions (distribution means, data units), on the
    model's own columns only: identifiers, constants and other left-out columns are not reconstructed."""
    import warnings

    from autolik.errors import DataWarning

    try:
        with warnings.catch_warnings():  # a non-comparable candidate's support warning is its row's caveat already
            warnings.simplefilter("ignore", DataWarning)
            out = np.asarray(fitted.reconstruct(rows), dtype=np.float64).reshape(len(rows), -1)
    except (AutolikError, ValueError, TypeError) as e:
        notes.append(f"{label}: no reconstruction error ({e})")
        return None
    return _rmse(out[:, used], np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)[:, used])


def _fit_kwargs(fit_options: dict) -> dict:
    """Keep only the training options (:class:`autolik.pipeline.Training`) that compare does not set itself."""
    from autolik.pipeline import Training

    reserved = {"likelihood", "mode", "preprocessing", "recommendation", "select", "epochs", "max_seconds", "log",
                "seed", "k", "quiet", "key", "profile"}
    bad = sorted(set(fit_options) - Training.names() - reserved)
    if bad:
        raise UsageError(f"unknown fit option(s) {bad}; fit accepts {sorted(Training.names() - reserved)}")
    return {k: v for k, v in fit_options.items() if k not in reserved}


# --------------------------------------------------------------------------- how long each candidate trains


def step_seconds(rec, x: np.ndarray, training) -> float:
    """Seconds one optimisation step takes under the fixed cost model (see ``STEP_OVERHEAD_SECONDS``).

    Counts the floating-point operations of one forward and backward pass of the VAE that ``fit``
    would build for ``rec`` with ``training`` (:class:`autolik.pipeline.Training`) on a batch of ``x``
    (array (batch, n_columns), original units), with torch's own counter; deterministic, so a
    budget gives the same number of steps on any machine.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from autolik.model import VAE

    used = rec.used_columns
    shape = rec.image_shape if rec.image_shape is not None and int(np.prod(rec.image_shape)) == len(used) else None
    xb = np.asarray(x, dtype=np.float64)[:, used]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        lik = rec.likelihood_module()
        parts = len(getattr(lik, "heads", [lik]))
        model = VAE(lik, latent_dim=training.latent_dim, hidden=training.hidden, architecture=training.architecture,
                    image_shape=shape, missing=bool(np.isnan(xb).any()))
        y = rec.preprocessor().forward(torch.from_numpy(xb), dequantize=True, generator=torch.Generator().manual_seed(0))
        with FlopCounterMode(display=False) as counter:
            model.loss(y).loss.backward()
    return STEP_OVERHEAD_SECONDS + PART_OVERHEAD_SECONDS * parts + counter.get_total_flops() / FLOPS_PER_SECOND


def _schedule(ds, pick, epochs, budget_seconds, n_candidates: int, n_train: int, training) -> dict:
    """Epochs per candidate (and the cost model's steps when a budget is given): the same for every candidate."""
    bs = training.loop_options()["batch_size"]
    n_batches = -(-n_train // bs)
    if epochs is not None:
        return {"epochs": int(epochs), "steps": int(epochs) * n_batches}
    if budget_seconds is None:
        n_epochs = min(MAX_DEFAULT_EPOCHS, max(1, -(-DEFAULT_STEPS // n_batches)))
        return {"epochs": n_epochs, "steps": n_epochs * n_batches}
    per = budget_seconds / n_candidates
    rows = dense_rows(ds.data, np.arange(min(bs, ds.data.shape[0])))
    epoch_seconds = n_batches * step_seconds(pick, rows, training) + EPOCH_OVERHEAD_SECONDS
    n_epochs = max(1, int(per / epoch_seconds))
    return {"epochs": n_epochs, "steps": n_epochs * n_batches, "seconds_per_candidate": per}


# --------------------------------------------------------------------------- compare


def compare(X, candidates="auto", epochs: int | None = None, budget_seconds: float | None = None, seed: int = 0,
            k: int = 100, out=None, quiet: bool = True, key: str | None = None, force: bool = False,
            **fit_options) -> Comparison:
    """Train candidate likelihoods with the same architecture, split, seed and budget; rank them on held-out data.

    Args:
        X: array-like of shape (n_samples, ...), a DataFrame or a file path.
        candidates: ``"auto"``, ``"all"`` or a list (see :func:`build_candidates`).
        epochs: epochs per candidate (early stopping applies). Default: enough epochs for
            ``DEFAULT_STEPS`` optimisation steps (at most ``MAX_DEFAULT_EPOCHS``).
        budget_seconds: total training budget, split evenly. It is turned into a number of epochs
            by a fixed cost model (:func:`step_seconds`), the same for every candidate, so that a
            run is reproducible: a planned budget, not a clock (a slower machine takes longer).
            Exclusive with ``epochs``. Held-out evaluation time comes on top.
        seed: one seed for every candidate: the same split and initialisation stream.
        k: importance samples of the held-out IWAE bound.
        out: directory for ``report.md`` and the PNG figures (refused if it exists and is not
            empty, unless ``force``).
        quiet: no progress bars.
        key: array name inside an ``.npz`` file.
        force: allow writing into a non-empty ``out``.
        **fit_options: training options of :func:`autolik.api.fit` (latent_dim, hidden, batch_size, ...;
            :class:`autolik.pipeline.Training`), the same for every candidate.

    Returns:
        A :class:`Comparison`.
    """
    from autolik.pipeline import prepare

    _check_budget(epochs, budget_seconds)
    if out is not None:
        from autolik.outputs_guard import check_target

        check_target(out, force, kind="directory", inputs=[X] if isinstance(X, (str, os.PathLike)) else ())
    opts = _fit_kwargs(fit_options)
    _parse_candidates(candidates)  # a bad name fails before any data is read
    data = prepare(X, key, quiet=quiet)
    cands, pick, notes = build_candidates(data.profile, candidates)
    comp = _train_candidates(data, cands, pick, notes, epochs, budget_seconds, seed, k, quiet, opts)
    if out is not None:
        from autolik.report import write_report

        write_report(comp, out, force=force)
    return comp


def _check_budget(epochs, budget_seconds) -> None:
    if epochs is not None and budget_seconds is not None:
        raise UsageError("give either epochs or budget_seconds, not both: a budget already decides how long "
                         "each candidate trains")
    if budget_seconds is not None and not budget_seconds > 0:
        raise UsageError(f"budget_seconds must be > 0, got {budget_seconds}")


def _train_candidates(data, cands: list[Candidate], pick, notes: list[str], epochs, budget_seconds, seed: int, k: int,
                      quiet: bool, opts: dict) -> Comparison:
    """Train every candidate on ``data`` (one split, one schedule) and rank them: the :class:`Comparison`."""
    from autolik.pipeline import Training, train
    from autolik.report import leaderboard_row, paired_gaps, sort_key

    ds = data.dataset
    shape = tuple(ds.shape)
    training = Training(**{**opts, "seed": seed, "k": k, "quiet": quiet})
    training.check()  # bad options fail once, before any candidate trains
    split = training.split(shape[0])  # the split every candidate trains on
    plan = _schedule(ds, pick, epochs, budget_seconds, len(cands), len(split["train"]), training)
    training = replace(training, epochs=plan["epochs"])
    used = list(pick.used_columns)
    test_idx = split["test"]
    test_rows = _original_rows(ds.data, test_idx, shape) if len(test_idx) else None
    n_dims = _n_dims(ds.data, test_idx, used)
    pick_sig = _signature(pick)
    rows, fitted_models = [], {}
    for cand in cands:
        is_pick = _signature(cand.recommendation) == pick_sig
        try:
            fitted = train(data, cand.recommendation, training)
        except Exception as e:  # one failing candidate must not sink the comparison; say why in its row
            if os.environ.get("AUTOLIK_DEBUG") and not isinstance(e, AutolikError):
                raise
            msg = str(e) if isinstance(e, AutolikError) else f"internal error ({type(e).__name__}: {e})"
            notes.append(f"{cand.label} failed: {msg}")
            rows.append(leaderboard_row(cand, None, None, is_pick, error=msg))
            continue
        fitted_models[cand.label] = fitted
        why = _not_on_footing(cand, used, _test_indices(fitted), test_idx)
        recon = _recon_error(fitted, test_rows, used, notes, cand.label) if test_rows is not None else None
        rows.append(leaderboard_row(cand, fitted, recon, is_pick, n_dims=n_dims, not_comparable=why))
    rows.sort(key=sort_key)
    paired_gaps(rows, {label: f.test_nll for label, f in fitted_models.items() if f.test_nll is not None})
    best_row = rows[0] if rows and not sort_key(rows[0])[0] else None
    pick_in = any(r["is_pick"] for r in rows)
    return Comparison(
        pick=pick.likelihood, best=best_row["candidate"] if best_row else None,
        agrees=(bool(best_row["is_pick"]) if best_row else False) if pick_in else None,
        leaderboard=rows, fitted=fitted_models, candidates={c.label: c for c in cands}, test_rows=test_rows,
        image_shape=tuple(ds.image_shape) if getattr(ds, "image_shape", None)
        else (tuple(pick.image_shape) if pick.image_shape else None),
        names=list(ds.names), notes=notes,
        settings={"epochs": plan["epochs"], "steps_per_candidate": plan["steps"], "budget_seconds": budget_seconds,
                  "seconds_per_candidate": plan.get("seconds_per_candidate"), "seed": seed, "k": k,
                  "n_samples": int(shape[0]), "shape": list(shape),
                  "n_dims": n_dims, **opts})


def _original_rows(data, idx: np.ndarray, shape: tuple) -> np.ndarray:
    """Rows ``idx`` of the dataset's 2-D view as float64, in the data's original per-sample shape."""
    return dense_rows(data, idx).reshape((len(idx),) + tuple(shape[1:]))


N_DIMS_ROWS = 1 << 14


def _n_dims(data, idx: np.ndarray, used: list[int]) -> float | None:
    """Observed values per test row in the data's own used columns: the one per-dim denominator."""
    if not len(idx) or not used:
        return None
    observed = 0
    for start in range(0, len(idx), N_DIMS_ROWS):  # a block at a time: a memory-mapped file is never copied whole
        observed += int((~np.isnan(dense_rows(data, idx[start:start + N_DIMS_ROWS])[:, used])).sum())
    return float(observed) / len(idx)


def _not_on_footing(cand, used: list[int], idx, test_idx) -> str:
    """Why a trained candidate cannot be ranked with the others ('' when it can)."""
    if list(cand.recommendation.used_columns) != used:
        return "models other columns than the analyser's pick, so its likelihood is of other data"
    if idx is None or not np.array_equal(idx, test_idx):
        return "was evaluated on other held-out rows"
    return ""


# --------------------------------------------------------------------------- empirical selection


def select_empirical(X, budget_seconds: float = 60, sample_rows: int = 2000, seed: int = 0, key: str | None = None,
                     k: int = 20, candidates="auto", **fit_options):
    """Choose the likelihood on held-out data: compare candidates on a row sample, return the winner.

    The candidates are the analyser's, on the whole data (one load and one profile, shared with the
    caller when X is a :class:`autolik.pipeline.Data`); they are trained and ranked on a seeded
    sample of its rows, so the winner's preprocessing already covers every row.

    Args:
        X: array-like of shape (n_samples, ...), a DataFrame, a file path or a prepared Data.
        budget_seconds: total training budget of the comparison.
        sample_rows: rows sampled (seeded) for the comparison.
        seed: seed of the row sample and of the comparison.
        key: array name inside an ``.npz`` file.
        k: importance samples of the held-out IWAE bound in the comparison.
        candidates: as for :func:`compare`.
        **fit_options: architecture and optimiser options for the comparison's fits; options that
            do not apply to it (epochs, select, ...) are ignored.

    Returns:
        The winner's Recommendation (for the whole data), with a note naming the evidence. The
        analyser's pick when no candidate is comparable.
    """
    from autolik.pipeline import prepare

    _check_budget(None, budget_seconds)
    drop = {"select", "recommendation", "likelihood", "mode", "preprocessing", "epochs", "max_seconds", "quiet",
            "seed", "k", "key", "test_fraction", "val_fraction"}
    opts = _fit_kwargs({k_: v for k_, v in fit_options.items() if k_ not in drop})
    _parse_candidates(candidates)
    data = prepare(X, key)
    cands, pick, notes = build_candidates(data.profile, candidates)
    n = data.n_samples
    sample = data if n <= sample_rows else \
        data.rows(np.sort(np.random.default_rng(seed).choice(n, size=sample_rows, replace=False)))
    comp = _train_candidates(sample, cands, pick, notes, None, budget_seconds, seed, k, True, opts)
    winner = comp.candidates.get(comp.best) if comp.best else None
    rec = winner.recommendation if winner is not None else pick
    row = next((r for r in comp.leaderboard if r["candidate"] == comp.best), None)
    evidence = (f"chosen empirically: {comp.best} had the best held-out IWAE "
                f"({row['nll_iwae_nats_per_sample']:.4g} nats/sample) among {len(comp.leaderboard)} candidates"
                if row else "empirical selection found no comparable candidate; kept the analyser's pick")
    rec.notes = list(rec.notes or []) + [evidence + f" ({comp.verdict()})"]
    return rec


def leaderboard_text(comp: Comparison) -> str:
    """The leaderboard as aligned plain text (see :func:`autolik.report.leaderboard_text`)."""
    from autolik.report import leaderboard_text as _text

    return _text(comp)


class _CallableModule(types.ModuleType):
    """``autolik.compare`` is both this module and its function: importing the module sets the
    package attribute to the module, which would hide the function that ``autolik.compare(X)``
    promises. Calling the module calls :func:`compare`."""

    def __call__(self, *args, **kwargs):
        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

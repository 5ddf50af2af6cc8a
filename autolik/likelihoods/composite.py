"""Mixed data: a head per group of columns, log-likelihoods summed (as in HI-VAE, Nazabal et al., 2020).

``build_likelihood(choices)`` turns the analyser's per-feature choices into one head when they
all agree (the fast path) or into a :class:`CompositeLikelihood` of one head per family.
"""
from __future__ import annotations

import json

import torch
from torch.distributions import Distribution, constraints

from autolik.errors import UsageError
from autolik.likelihoods.base import Likelihood
from autolik.likelihoods.registry import get_likelihood, likelihood_class


class CompositeDistribution(Distribution):
    """The product of the parts' distributions, batch_shape (batch, n_features), event_shape ().

    ``log_prob(x)`` takes x of shape (batch, n_columns) and returns (batch, n_features) with the
    features in column order (NaN is not masked here; :meth:`CompositeLikelihood.log_prob` masks).
    """

    arg_constraints: dict = {}
    support = constraints.real  # per-column supports differ; each part checks its own

    def __init__(self, owner: "CompositeLikelihood", raw: torch.Tensor):
        self.owner = owner
        self.raws = owner.split_raw(raw)
        self.dists = [h.distribution(r) for h, r in zip(owner.heads, self.raws)]
        super().__init__(torch.Size((*raw.shape[:-1], owner.n_features)), validate_args=False)

    def log_prob(self, x):
        lps = []
        for h, d, cols in zip(self.owner.heads, self.dists, self.owner.part_columns()):
            xp = x.index_select(-1, cols)
            lps.append(d.log_prob(h.codes(xp) if hasattr(h, "codes") else xp))
        return torch.cat(lps, -1).index_select(-1, self.owner.feature_order)

    @property
    def mean(self):
        return self.owner.assemble([h.mean(r) for h, r in zip(self.owner.heads, self.raws)])

    def sample(self, sample_shape=torch.Size()):
        if sample_shape != torch.Size():
            raise NotImplementedError("CompositeDistribution.sample takes no sample_shape")
        with torch.no_grad():
            return self.owner.assemble([h.sample(r) for h, r in zip(self.owner.heads, self.raws)])


class CompositeLikelihood(Likelihood):
    """One likelihood head per group of model-space columns; the log-likelihood is their sum.

    Args:
        parts: list of ``(head, columns)``: each head with the model-space column indices it
            consumes (``len(columns) == head.n_columns``); together the columns must be exactly
            0 .. n_columns - 1. Raw outputs are laid out part after part (``head.n_raw`` each).

    ``log_prob(raw, x)`` with x of shape (batch, n_columns) returns (batch,); NaN entries add 0.
    ``mean`` / ``sample`` return (batch, n_columns) with every part's columns put back in place.
    """

    name = "composite"

    def __init__(self, parts: list[tuple[Likelihood, list[int]]]):
        if not parts:
            raise UsageError("CompositeLikelihood needs at least one (head, columns) part, got none")
        super().__init__(sum(h.n_features for h, _ in parts))
        self.heads = torch.nn.ModuleList([h for h, _ in parts])
        self.columns = [list(map(int, c)) for _, c in parts]
        for h, c in zip(self.heads, self.columns):
            if len(c) != h.n_columns:
                raise UsageError(f"composite part {h.name!r} consumes {h.n_columns} columns, got {len(c)} indices")
        flat = [c for cols in self.columns for c in cols]
        if sorted(flat) != list(range(len(flat))):
            raise UsageError(f"composite columns must cover 0..{len(flat) - 1} exactly once, got {sorted(flat)}")
        for i, c in enumerate(self.columns):
            self.register_buffer(f"_cols{i}", torch.tensor(c, dtype=torch.long), persistent=False)
        self.register_buffer("column_order", torch.argsort(torch.tensor(flat)), persistent=False)
        starts = [c for h, cols in zip(self.heads, self.columns) for c in cols[:: h.n_columns // h.n_features]]
        self.register_buffer("feature_order", torch.argsort(torch.tensor(starts)), persistent=False)
        self.discrete = all(h.discrete for h in self.heads)

    # -- layout --------------------------------------------------------------------------
    @property
    def n_raw(self) -> int:
        return sum(h.n_raw for h in self.heads)

    @property
    def n_columns(self) -> int:
        return sum(h.n_columns for h in self.heads)

    def part_columns(self) -> list[torch.Tensor]:
        return [getattr(self, f"_cols{i}") for i in range(len(self.heads))]

    def split_raw(self, raw: torch.Tensor) -> list[torch.Tensor]:
        """raw (batch, n_raw) -> one (batch, head.n_raw) block per part."""
        if raw.shape[-1] != self.n_raw:
            raise ValueError(f"composite: expected {self.n_raw} raw outputs, got {raw.shape[-1]}")
        return list(raw.split([h.n_raw for h in self.heads], dim=-1))

    def assemble(self, blocks: list[torch.Tensor]) -> torch.Tensor:
        """Per-part (batch, head.n_columns) blocks -> (batch, n_columns) in model-space column order."""
        return torch.cat([b.to(blocks[0].dtype) for b in blocks], -1).index_select(-1, self.column_order)

    # -- the Likelihood interface ----------------------------------------------------------
    def set_scale(self, x):
        for h, cols in zip(self.heads, self.part_columns()):
            h.set_scale(x[:, cols.to(x.device)])

    def distribution(self, raw):
        return CompositeDistribution(self, raw)

    def log_prob(self, raw, x):
        """Sum of the parts' log-likelihoods, shape (batch,); NaN entries of x add 0."""
        parts = zip(self.heads, self.split_raw(raw), self.part_columns())
        return sum(h.log_prob(r, x.index_select(-1, c)) for h, r, c in parts)

    def mean(self, raw):
        return self.assemble([h.mean(r) for h, r in zip(self.heads, self.split_raw(raw))])

    def sample(self, raw):
        return self.assemble([h.sample(r) for h, r in zip(self.heads, self.split_raw(raw))])

    def describe(self) -> dict:
        return {f"{h.name}{list(c)}": h.describe() for h, c in zip(self.heads, self.columns)}

    def config(self) -> dict:
        return {"name": self.name, "parts": [{"head": h.config(), "columns": c} for h, c in zip(self.heads, self.columns)]}


def likelihood_from_config(config: dict) -> Likelihood:
    """Rebuild a head (or composite) from its :meth:`Likelihood.config` dict."""
    if config["name"] == "composite":
        return CompositeLikelihood([(likelihood_from_config(p["head"]), p["columns"]) for p in config["parts"]])
    return get_likelihood(config["name"], config["n_features"], mode=config.get("mode"), **config.get("options", {}))


# --------------------------------------------------------------------------- from choices


def _features_in(cls, options: dict, per_feature: dict, n_cols: int) -> int:
    """How many model features a choice covering ``n_cols`` columns is (a one-hot block is one)."""
    probe = cls(1, **options, **{k: (v[0] if isinstance(v, (list, tuple)) else v) for k, v in per_feature.items()})
    per = probe.n_columns
    if n_cols % per:
        raise UsageError(f"{cls.name!r} with options {options} consumes {per} columns per feature; "
                         f"a choice covers {n_cols}. Check n_levels / onehot")
    return n_cols // per


def build_likelihood(choices) -> Likelihood:
    """One head for the used features (same family and options), else a composite.

    Args:
        choices: the used ``FeatureChoice`` objects, in model-space order. Their ``columns``
            are dataset columns; in model space each choice takes the next ``len(columns)``
            columns. Options listed in a head's ``per_feature_options`` (``total_count``) may
            differ between choices of one family: they are merged into one head with a list.

    Returns:
        A :class:`Likelihood` whose ``n_columns`` equals the total number of columns.
    """
    choices = [c for c in choices if getattr(c, "used", True)]
    if not choices:
        raise UsageError("no used features to build a likelihood for; got an empty list of choices")
    groups: dict[str, dict] = {}
    start = 0
    for c in choices:
        if not c.likelihood:
            raise UsageError(f"feature {c.name!r} is used but has no likelihood; set one or mark it unused")
        cls = likelihood_class(c.likelihood)
        opts = dict(c.options or {})
        per = {k: opts.pop(k) for k in getattr(cls, "per_feature_options", ()) if k in opts}
        n_cols = len(c.columns)
        nf = _features_in(cls, opts, per, n_cols)
        key = json.dumps([c.likelihood, opts, sorted(per)], sort_keys=True, default=str)
        g = groups.setdefault(key, {"cls": cls, "options": opts, "per": {k: [] for k in per}, "columns": [], "nf": 0})
        for k, v in per.items():
            g["per"][k] += list(v) if isinstance(v, (list, tuple)) else [v] * nf
        g["columns"] += list(range(start, start + n_cols))
        g["nf"] += nf
        start += n_cols
    parts = []
    for g in groups.values():
        per = {k: (v[0] if len(set(v)) == 1 else v) for k, v in g["per"].items()}
        parts.append((g["cls"](g["nf"], **g["options"], **per), g["columns"]))
    return parts[0][0] if len(parts) == 1 else CompositeLikelihood(parts)

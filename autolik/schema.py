"""The model directory's schema, declared as data and checked field by field when a model loads.

``schema(version, weights)`` maps each JSON file of a model directory (format version 1) to the
spec of its fields (:class:`Int`, :class:`Num`, :class:`Str`, :class:`Bool`, :class:`Choice`,
:class:`Maybe`, :class:`List`, :class:`Map`, :class:`Record`). :func:`check_files` checks every
file against it; :func:`check_relations` then checks what one field says about another (lengths,
column indices, the files agreeing with each other). The first problem raises
:class:`~autolik.errors.DataError` with one line naming the file, the field, what was expected
and what was found. :func:`check_weights` checks tensors against the rebuilt architecture (names,
shapes, finiteness) with the same message format: :mod:`autolik.persist` on loading a model,
:mod:`autolik.checkpoint` on resuming a fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autolik.errors import DataError


class Invalid(Exception):
    """A field does not match its spec: ``where`` is its dotted path, ``problem`` the rest of the sentence."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where, self.problem = where, problem


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _expect(where: str, expected: str, found) -> Invalid:
    return Invalid(where, f"expected {expected}, found {_shown(found)}")


# --------------------------------------------------------------------------- field specs


class Spec:
    """A field's type and range; ``check(value, where)`` raises :class:`Invalid`."""

    def check(self, value, where: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class Any_(Spec):
    def check(self, value, where):
        return None


@dataclass
class Int(Spec):
    lo: int | None = None
    hi: int | None = None

    def describe(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"an integer in {self.lo}..{self.hi}"
        return f"an integer >= {self.lo}" if self.lo is not None else "an integer"

    def check(self, value, where):
        if isinstance(value, bool) or not isinstance(value, int) or \
                (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise _expect(where, self.describe(), value)


@dataclass
class Num(Spec):
    lo: float | None = None
    nonzero: bool = False
    max_abs: float | None = None

    def describe(self) -> str:
        parts = ["a finite number"]
        if self.lo is not None:
            parts.append(f">= {self.lo:g}")
        if self.nonzero:
            parts.append("not 0")
        if self.max_abs is not None:
            parts.append(f"of magnitude in [{1 / self.max_abs:g}, {self.max_abs:g}]" if self.nonzero
                         else f"of magnitude <= {self.max_abs:g}")
        return " ".join(parts)

    def check(self, value, where):
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
        if ok and self.lo is not None:
            ok = value >= self.lo
        if ok and self.nonzero:
            ok = value != 0 and (self.max_abs is None or abs(value) >= 1 / self.max_abs)
        if ok and self.max_abs is not None:
            ok = abs(value) <= self.max_abs
        if not ok:
            raise _expect(where, self.describe(), value)


@dataclass
class Str(Spec):
    nonempty: bool = False

    def check(self, value, where):
        if not isinstance(value, str) or (self.nonempty and not value):
            raise _expect(where, "a non-empty string" if self.nonempty else "a string", value)


@dataclass
class Bool(Spec):
    def check(self, value, where):
        if not isinstance(value, bool):
            raise _expect(where, "true or false", value)


@dataclass
class Choice(Spec):
    values: tuple

    def check(self, value, where):
        if isinstance(value, bool) or value not in self.values:
            shown = ", ".join(repr(v) for v in self.values[:8]) + (", ..." if len(self.values) > 8 else "")
            raise _expect(where, f"one of {shown}", value)


@dataclass
class Dtype(Spec):
    """A numpy dtype name of numbers or booleans (``"float32"``, ``"uint8"``, ``"bool"``)."""

    def check(self, value, where):
        try:
            ok = isinstance(value, str) and np.dtype(value).kind in "biuf"
        except TypeError:
            ok = False
        if not ok:
            raise _expect(where, "a numeric numpy dtype name such as 'float64'", value)


@dataclass
class Maybe(Spec):
    spec: Spec

    def check(self, value, where):
        if value is not None:
            self.spec.check(value, where)


@dataclass
class List(Spec):
    item: Spec
    min_len: int = 0
    max_len: int | None = None

    def check(self, value, where):
        if not isinstance(value, list):
            raise _expect(where, "a list", value)
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            size = f"{self.min_len}..{self.max_len}" if self.max_len is not None else f">= {self.min_len}"
            raise Invalid(where, f"expected a list of {size} items, found {len(value)}")
        for i, v in enumerate(value):
            self.item.check(v, f"{where}[{i}]")


@dataclass
class Map(Spec):
    """A JSON object with any keys; ``int_keys``: keys are column numbers written as strings."""

    value: Spec = field(default_factory=Any_)
    int_keys: bool = False

    def check(self, value, where):
        if not isinstance(value, dict):
            raise _expect(where, "an object", value)
        for k, v in value.items():
            if self.int_keys and not (isinstance(k, str) and k.isdigit()):
                raise _expect(f"{where} key", "a column number", k)
            self.value.check(v, f"{where}.{k}")


@dataclass
class Record(Spec):
    """A JSON object with these fields (all required unless named in ``optional``); others are ignored."""

    fields: dict
    optional: tuple = ()

    def check(self, value, where):
        if not isinstance(value, dict):
            raise _expect(where or "the file", "an object", value)
        for name, spec in self.fields.items():
            path = f"{where}.{name}" if where else name
            if name not in value:
                if name in self.optional:
                    continue
                raise Invalid(path, "is missing")
            spec.check(value[name], path)


# --------------------------------------------------------------------------- format version 1

MAX_SCALE = 1e30  # preprocessing scales beyond this (or below its inverse) only come from damage


def _architecture() -> Record:
    from autolik.model.networks import ACTIVATIONS

    return Record({
        "version": Int(1, 1), "n_inputs": Int(1), "n_raw": Int(1), "latent_dim": Int(1),
        "hidden": List(Int(1), min_len=1), "image_shape": Maybe(List(Int(1), 3, 3)), "missing": Bool(),
        "architecture": Choice(("mlp", "conv")), "activation": Choice(tuple(sorted(ACTIVATIONS))),
    })


_FILL = Record({"kind": Choice(("constant", "row_index", "nan")), "value": Num()}, optional=("value",))
_OUTPUT = Record({
    "n_columns": Int(1), "names": List(Str()), "sample_shape": List(Int(1), 0, 3), "dtype": Dtype(),
    "used_columns": List(Int(0), min_len=1), "step": List(Num(lo=0, max_abs=MAX_SCALE)), "origin": List(Num()),
    "low": List(Maybe(Num())), "high": List(Maybe(Num())), "fill": Map(_FILL, int_keys=True),
    "levels": Map(List(Str(), min_len=1), int_keys=True), "column_dtypes": List(Str()),
})
_TRANSFORM = Record({"shift": Num(), "scale": Num(nonzero=True, max_abs=MAX_SCALE),
                     "step": Num(lo=0, max_abs=MAX_SCALE), "continuous": Bool(), "description": Str()},
                    optional=("shift", "step", "continuous", "description"))


def _manifest(weights: tuple) -> Record:
    return Record({
        "format": Str(), "version": Int(), "weights": Choice(weights), "autolik_version": Str(),
        "architecture": _architecture(), "training": Map(), "output": _OUTPUT, "lattice": Bool(),
        "metrics": Map(), "split": Record({"seed": Int(0, 2**63 - 1), "n_samples": Int(1)}),
        "files": Map(Str()),
    }, optional=("autolik_version", "training", "lattice", "metrics", "split", "files"))


def _recommendation() -> Record:
    from autolik.likelihoods import available_likelihoods

    feature = Record({
        "name": Str(), "columns": List(Int(0), min_len=1), "support": Str(),
        "likelihood": Maybe(Choice(tuple(available_likelihoods()))), "options": Map(), "transform": _TRANSFORM,
        "used": Bool(), "activation": Map(Str()), "loss": Str(), "rationale": Str(), "confidence": Num(),
        "alternatives": List(Any_()),
    }, optional=("transform", "used", "activation", "loss", "rationale", "confidence", "alternatives"))
    return Record({
        "likelihood": Str(), "features": List(feature, min_len=1), "n_columns": Int(1),
        "image_shape": Maybe(List(Int(1), 3, 3)), "activation": Map(Str()), "loss": Str(),
        "preprocessing": List(Str()), "rationale": Str(), "confidence": Num(), "alternatives": List(Any_()),
        "notes": List(Str()), "comparable": Bool(), "caveat": Str(),
    }, optional=("image_shape", "activation", "loss", "preprocessing", "rationale", "confidence", "alternatives",
                 "notes", "comparable", "caveat"))


# informational files (nothing is computed from them): loose, so new fields in later versions still load
_HISTORY = Record({"train_loss": List(Any_()), "val_loss": List(Any_()), "best_epoch": Int(),
                   "epochs_run": Int(0), "stopped_reason": Str(), "train_seconds": Num(lo=0),
                   "samples_per_second": Num(lo=0)},
                  optional=("train_loss", "val_loss", "best_epoch", "epochs_run", "stopped_reason", "train_seconds",
                            "samples_per_second"))


def schema(version: int, weights: tuple) -> dict:
    """File name -> spec of its fields, for this format version (only version 1 exists so far)."""
    if version != 1:
        raise ValueError(f"no schema for model format version {version}")
    return {"autolik.json": _manifest(weights), "recommendation.json": _recommendation(),
            "preprocessor.json": Record({"features": List(_TRANSFORM, min_len=1)}),
            "profile.json": Record({"features": List(Map())}), "history.json": _HISTORY}


# --------------------------------------------------------------------------- checking


def damaged(directory, file: str, where: str, problem: str) -> DataError:
    """The one-line error for a damaged model directory."""
    field_ = f" field {where}" if where else ""
    return DataError(f"model directory {directory} is damaged: {file}{field_}: {problem}; "
                     "restore the directory, or refit and save the model again")


def check_files(directory, files: dict, version: int, weights: tuple) -> None:
    """Check each parsed JSON file (name -> object) against the schema of ``version``."""
    for name, spec in schema(version, weights).items():
        try:
            spec.check(files[name], "")
        except Invalid as e:
            raise damaged(directory, name, e.where, e.problem) from None


def _relation(directory, file: str, where: str, ok: bool, problem: str) -> None:
    if not ok:
        raise damaged(directory, file, where, problem)


def check_relations(directory, manifest: dict, parts: dict) -> None:
    """What fields say about each other: lengths, column indices in range, the files agreeing."""
    out, arch = manifest["output"], manifest["architecture"]
    n, used = out["n_columns"], out["used_columns"]
    m = "autolik.json"
    _relation(directory, m, "output.names", len(out["names"]) == n,
              f"expected {n} names (output.n_columns), found {len(out['names'])}")
    shape = out["sample_shape"]
    _relation(directory, m, "output.sample_shape", math.prod(shape) == n and (shape or n == 1),
              f"expected a shape of {n} values per sample (output.n_columns), found {shape}")
    _relation(directory, m, "output.used_columns", all(c < n for c in used) and len(set(used)) == len(used),
              f"expected distinct column numbers below {n}, found {_shown(used)}")
    for key in ("step", "origin", "low", "high"):
        _relation(directory, m, f"output.{key}", len(out[key]) == len(used),
                      f"expected {len(used)} values (one per used column), found {len(out[key])}")
    for i, (lo, hi) in enumerate(zip(out["low"], out["high"])):
        _relation(directory, m, f"output.low[{i}]", lo is None or hi is None or lo <= hi,
                  f"expected low <= high, found {lo} > {hi}")
    unused = sorted(set(range(n)) - set(used))
    _relation(directory, m, "output.fill", sorted(int(k) for k in out["fill"]) == unused,
              f"expected an entry for each column left out of the model {unused[:8]}, found {sorted(out['fill'])[:8]}")
    for k, f in out["fill"].items():
        _relation(directory, m, f"output.fill.{k}.value", f["kind"] != "constant" or "value" in f,
                  "is missing (a constant column needs its value)")
    for key in ("fill", "levels"):
        bad = [k for k in out[key] if int(k) >= n]
        _relation(directory, m, f"output.{key}", not bad, f"expected column numbers below {n}, found {bad[:3]}")
    if out["column_dtypes"]:
        _relation(directory, m, "output.column_dtypes", len(out["column_dtypes"]) == n,
                  f"expected {n} dtypes (output.n_columns), found {len(out['column_dtypes'])}")
    _relation(directory, m, "architecture.n_inputs", arch["n_inputs"] == len(used),
              f"expected {len(used)} (the length of output.used_columns), found {arch['n_inputs']}")
    rec, pre = parts["recommendation"], parts["preprocessor"]
    r = "recommendation.json"
    _relation(directory, r, "n_columns", rec["n_columns"] == n,
              f"expected {n} (autolik.json output.n_columns), found {rec['n_columns']}")
    rec_used = [c for f in rec["features"] if f.get("used", True) for c in f["columns"]]
    _relation(directory, r, "features[].columns", rec_used == used,
              f"the used features' columns {_shown(rec_used)} differ from autolik.json output.used_columns "
              f"{_shown(used)}")
    _relation(directory, "preprocessor.json", "features", len(pre["features"]) == len(used),
              f"expected {len(used)} transforms (one per used column), found {len(pre['features'])}")


def check_weights(directory, file: str, state: dict, expected: dict) -> None:
    """The loaded tensors must be exactly the model's: the same names and shapes, all finite."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        what = f"tensor {missing[0]!r} is missing" if missing else f"unexpected tensor {unexpected[0]!r}"
        raise damaged(directory, file, "", f"{what}; the weights do not match the architecture in autolik.json")
    for name, want in expected.items():
        got = state[name]
        if tuple(got.shape) != tuple(want.shape):
            raise damaged(directory, file, "", f"tensor {name!r} has shape {tuple(got.shape)}, the "
                          f"architecture in autolik.json needs {tuple(want.shape)}")
        if got.is_floating_point() and not bool(got.isfinite().all()):
            raise damaged(directory, file, "", f"tensor {name!r} holds NaN or infinite values")

"""Between the model's columns and the user's data: read new data in the model's layout, write
results back in the original data's units, dtype and shape.

:class:`OutputSpec` is filled once at fit time from the dataset, its profile and the
recommendation, saved as JSON with the model, and used by every ``FittedVAE`` method:

* ``read(X)``: load X (array, DataFrame or path), check it has the model's columns, re-code
  string levels to the training codes, return the used columns as float64 (NaN = missing);
* ``finish(x)``: round lattice features to their grid and clip to their range, put the columns
  left out of the model back (a constant gets its value, an identifier the row index), reshape
  to images when the source was images, cast to the source dtype (uint8 pixels stay uint8);
* ``to_frame(out)``: a DataFrame with the column names and string levels, for CSV output.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from autolik.errors import DataError

_BOUNDED = ("binary", "categorical", "bounded_integer", "unit_interval", "bounded")
_NONNEGATIVE = ("count", "positive")


def load_dataset(X, key: str | None = None):
    """``autolik.io.load`` unless X already is a loaded Dataset (anything with ``data`` and ``shape``)."""
    if hasattr(X, "data") and hasattr(X, "shape") and hasattr(X, "names"):
        return X
    from autolik.io import load

    return load(X, key=key)


def _feature_range(fp: dict) -> tuple[float | None, float | None]:
    support = fp.get("support", "real")
    lo, hi = fp.get("min"), fp.get("max")
    detail = fp.get("support_detail") or {}
    if support in _BOUNDED:
        return detail.get("low", lo), detail.get("high", hi)
    if support in _NONNEGATIVE:
        return 0.0, None
    return None, None


def _lattice(fp: dict) -> tuple[float, float]:
    """(step, origin) of a feature's grid, or (0, 0) when it is continuous."""
    step = fp.get("grid_step")
    if step:
        return float(step), float(fp.get("min") or 0.0)
    if fp.get("is_integer"):
        return 1.0, 0.0
    return 0.0, 0.0


@dataclass
class OutputSpec:
    """What is needed to read data into the model's columns and write results back (JSON-able).

    Attributes:
        n_columns: columns of the (n_samples, n_columns) view of the source.
        names: their names.
        sample_shape: per-sample shape of the source: ``[]`` (1-D), ``[d]``, ``[H, W]`` or ``[C, H, W]``.
        dtype: numpy dtype name of the source.
        used_columns: the columns the model sees, in model order.
        step, origin: per used column, the lattice step and origin (step 0: continuous).
        low, high: per used column, the range to clip to (None: unbounded).
        fill: left-out column -> ``{"kind": "constant", "value": v}``, ``{"kind": "row_index"}`` or ``{"kind": "nan"}``.
        levels: column -> its string levels (codes index this list).
        column_dtypes: per-column dtype of the source (``"int64"``, ``"string"``, ...), for CSV output.
    """

    n_columns: int
    names: list[str]
    sample_shape: list[int]
    dtype: str
    used_columns: list[int]
    step: list[float] = field(default_factory=list)
    origin: list[float] = field(default_factory=list)
    low: list[float | None] = field(default_factory=list)
    high: list[float | None] = field(default_factory=list)
    fill: dict[int, dict] = field(default_factory=dict)
    levels: dict[int, list[str]] = field(default_factory=dict)
    column_dtypes: list[str] = field(default_factory=list)

    # -- construction and JSON ------------------------------------------------------------
    @classmethod
    def build(cls, dataset, profile: dict, recommendation) -> "OutputSpec":
        """From a loaded Dataset, its profile (as a dict) and the Recommendation."""
        feats = profile["features"]
        used = list(recommendation.used_columns)
        lattice = [_lattice(feats[c]) for c in used]
        ranges = [_feature_range(feats[c]) for c in used]
        fill = {}
        for choice in recommendation.features:
            if choice.used:
                continue
            for c in choice.columns:
                if choice.support == "constant" and feats[c].get("min") is not None:
                    fill[c] = {"kind": "constant", "value": feats[c]["min"]}
                elif choice.support == "identifier":
                    fill[c] = {"kind": "row_index"}
                else:
                    fill[c] = {"kind": "nan"}
        return cls(
            n_columns=int(dataset.data.shape[1]), names=[str(n) for n in dataset.names],
            sample_shape=[int(s) for s in tuple(dataset.shape)[1:]], dtype=str(np.dtype(dataset.data.dtype)),
            used_columns=used, step=[s for s, _ in lattice], origin=[o for _, o in lattice],
            low=[lo for lo, _ in ranges], high=[hi for _, hi in ranges], fill=fill,
            levels={int(c): list(v) for c, v in (getattr(dataset, "levels", None) or {}).items()},
            column_dtypes=[str(t) for t in (getattr(dataset, "dtypes", None) or [])],
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "OutputSpec":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        d["fill"] = {int(k): v for k, v in d.get("fill", {}).items()}
        d["levels"] = {int(k): v for k, v in d.get("levels", {}).items()}
        return cls(**d)

    # -- reading new data -------------------------------------------------------------------
    def read(self, X, key: str | None = None) -> np.ndarray:
        """The model's columns of X as float64, shape (n_samples, len(used_columns))."""
        if isinstance(X, np.ndarray) and X.dtype.kind in "biuf":
            data, levels, source = X.reshape(len(X), -1) if X.ndim > 1 else X.reshape(-1, 1), {}, "the array"
        else:
            ds = load_dataset(X, key)
            data, levels, source = ds.data, getattr(ds, "levels", None) or {}, str(getattr(ds, "source", X))
        if data.shape[1] != self.n_columns:
            raise DataError(f"{source} has {data.shape[1]} features but the model was trained on {self.n_columns}; "
                            "pass data with the same columns as the training data")
        if type(data).__module__.startswith("scipy.sparse"):  # the model's columns of new data, made dense
            x = np.asarray(data.tocsr()[:, self.used_columns].toarray(), dtype=np.float64)
        else:
            x = np.asarray(data[:, self.used_columns], dtype=np.float64)
        for j, c in enumerate(self.used_columns):
            if c in self.levels and c in levels:
                x[:, j] = self._recode(x[:, j], list(levels[c]), self.levels[c], c)
        return x

    def _recode(self, codes: np.ndarray, found: list[str], trained: list[str], col: int) -> np.ndarray:
        index = {level: i for i, level in enumerate(trained)}
        unknown = [lv for lv in found if lv not in index]
        if unknown:
            raise DataError(f"column {self.names[col]!r} has levels {unknown[:5]} not seen in training "
                            f"(known: {trained[:10]}); map them to known levels or refit")
        lut = np.array([index[lv] for lv in found], dtype=np.float64)
        out = np.full_like(codes, np.nan)
        ok = ~np.isnan(codes)
        out[ok] = lut[codes[ok].astype(np.int64)]
        return out

    # -- writing results back -----------------------------------------------------------------
    def finish(self, x: np.ndarray) -> np.ndarray:
        """Model columns in original units (n, len(used_columns)) -> the source's dtype and shape."""
        x = np.array(x, dtype=np.float64, copy=True)
        step, origin = np.asarray(self.step, float), np.asarray(self.origin, float)
        lat = step > 0
        if lat.any():
            x[:, lat] = origin[lat] + np.round((x[:, lat] - origin[lat]) / step[lat]) * step[lat]
        lo = np.array([-np.inf if v is None else v for v in self.low], dtype=float)
        hi = np.array([np.inf if v is None else v for v in self.high], dtype=float)
        x = np.clip(x, lo, hi)
        n = len(x)
        out = np.full((n, self.n_columns), np.nan)
        out[:, self.used_columns] = x
        for c, f in self.fill.items():
            out[:, c] = f["value"] if f["kind"] == "constant" else (np.arange(n) if f["kind"] == "row_index" else np.nan)
        return self._cast(out.reshape((n, *self.sample_shape)))

    def _cast(self, out: np.ndarray) -> np.ndarray:
        dtype = np.dtype(self.dtype)
        if dtype.kind == "b":
            return np.nan_to_num(out) > 0.5
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            return np.clip(np.round(np.nan_to_num(out)), info.min, info.max).astype(dtype)
        return out.astype(dtype if dtype.kind == "f" else np.float64)

    def to_frame(self, out: np.ndarray):
        """A pandas DataFrame of ``finish()`` output with column names and string levels (for CSV)."""
        import pandas as pd

        flat = np.asarray(out).reshape(len(out), -1)
        frame = pd.DataFrame(flat, columns=self.names[: flat.shape[1]])
        for c, kind in enumerate(self.column_dtypes[: flat.shape[1]]):
            is_int = kind.startswith(("int", "uint")) or kind == "bool"
            if is_int and c not in self.levels and np.isfinite(flat[:, c].astype(float)).all():
                frame[self.names[c]] = flat[:, c].astype(np.int64)
        for c, levels in self.levels.items():
            codes = flat[:, c].astype(np.float64)
            names = np.asarray(levels, dtype=object)
            ok = ~np.isnan(codes)
            col = np.full(len(codes), None, dtype=object)
            col[ok] = names[np.clip(codes[ok].astype(np.int64), 0, len(levels) - 1)]
            frame[self.names[c]] = col
        return frame

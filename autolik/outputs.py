"""Between the model's columns and the user's data: read new data in the model's layout, write
results back in the original data's units, dtype and shape.

:class:`OutputSpec` is filled once at fit time from the dataset, its profile and the
recommendation, saved as JSON with the model, and used by every ``FittedVAE`` method:

* ``read(X)``: load X (array, DataFrame or path; one row is enough), find the model's columns in
  it (by name when both the training data and X have column names, so reordered columns are
  mapped; else by position), check each column's kind (text levels vs numbers), re-code string
  levels to the training codes, refuse infinite values naming their rows and columns, and return
  the used columns as float64 (NaN = missing);
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


MAX_LISTED = 3  # cells named in a message before "and N more"


def load_dataset(X, key: str | None = None, min_rows: int = 2):
    """``autolik.io.load`` unless X already is a loaded Dataset (anything with ``data`` and ``shape``)."""
    if hasattr(X, "data") and hasattr(X, "shape") and hasattr(X, "names"):
        return X
    from autolik.io import load

    return load(X, key=key, min_rows=min_rows)


def positional(names) -> bool:
    """True for the names autolik gives columns that had none (``x0, x1, ...``)."""
    return [str(n) for n in names] == [f"x{j}" for j in range(len(names))]


def refuse_infinite(x: np.ndarray, labels: list[str], source: str, first_row: int = 0) -> None:
    """DataError naming the first +-inf cells of x (n, len(labels)), if there are any (x's first row is
    data row ``first_row + 1``)."""
    inf = np.isinf(x)
    if inf.any():
        rows, cols = np.nonzero(inf)
        raise DataError(f"{source}: infinite values at {cells_text(rows, cols, labels, x, first_row)}; the model needs finite "
                        "numbers (NaN or an empty cell marks a missing value): replace or drop them")


def cells_text(rows: np.ndarray, cols: np.ndarray, labels: list[str], values=None, first_row: int = 0) -> str:
    """'data row 3, column 'b' (= inf); data row 9, ... and 4 more cells' for the first cells of a mask.

    ``labels``: per column, how to name it (:meth:`OutputSpec.used_labels`).

    Rows are counted from 1 (a CSV's header row not counted), as a reader counts them; ``first_row``: the
    row number of ``values``' first row in the whole data (a block read from a large file).
    """
    parts = []
    for r, c in list(zip(rows, cols))[:MAX_LISTED]:
        shown = f" (= {values[r, c]:g})" if values is not None else ""
        parts.append(f"data row {int(r) + first_row + 1}, {labels[int(c)]}{shown}")
    more = len(rows) - MAX_LISTED
    return "; ".join(parts) + (f" and {more} more cell{'s' * (more > 1)}" if more > 0 else "")


def _is_table(ds) -> bool:
    """The dataset came from a CSV, TSV, parquet file or DataFrame (its columns have kinds: numbers or text)."""
    return str(getattr(ds, "source", "")).lower().endswith((".csv", ".tsv", ".parquet", "<dataframe>"))


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
        """The model's columns of X as float64, shape (n_samples, len(used_columns)); see the module docstring."""
        return self.read_source(X, key)[0]

    def read_source(self, X, key: str | None = None, first_row: int = 0) -> tuple[np.ndarray, str]:
        """:meth:`read`, and the name of X's source for messages (its path, ``<DataFrame>``, ``the array``);
        ``first_row``: X is a block of rows from that row of the data on (messages count rows from it)."""
        if isinstance(X, np.ndarray) and X.dtype.kind in "biuf":
            from autolik.io import from_array

            ds = from_array(X, "the array")
        else:
            ds = load_dataset(X, key, min_rows=1)
        source = str(getattr(ds, "source", "the data"))
        where = self._locate(ds, source)
        if type(ds.data).__module__.startswith("scipy.sparse"):  # the model's columns of new data, made dense
            x = np.asarray(ds.data.tocsr()[:, where].toarray(), dtype=np.float64)
        else:
            x = np.asarray(ds.data[:, where], dtype=np.float64)
        levels = getattr(ds, "levels", None) or {}
        for j, (c, w) in enumerate(zip(self.used_columns, where)):
            self._check_kind(ds, source, c, w)
            if c in self.levels and w in levels:
                x[:, j] = self._recode(x[:, j], list(levels[w]), self.levels[c], c, source)
        refuse_infinite(x, self.used_labels(), source, first_row)
        return x, source

    def used_labels(self) -> list[str]:
        """How messages name the used columns: "column 'frac'", or "pixel (0, 2, 3)" for images."""
        if len(self.sample_shape) >= 2:
            return [f"pixel {tuple(int(i) for i in np.unravel_index(c, self.sample_shape))}" for c in self.used_columns]
        return [f"column {self.names[c]!r}" for c in self.used_columns]

    def _locate(self, ds, source: str) -> list[int]:
        """Where each used column is in ds: by name when both sides have names, else by position."""
        names = [str(n) for n in getattr(ds, "names", [])]
        if positional(self.names) or positional(names) or names == self.names:
            if ds.data.shape[1] != self.n_columns:
                raise DataError(f"{source} has {ds.data.shape[1]} features but the model was trained on "
                                f"{self.n_columns}; pass data with the same columns as the training data")
            return list(self.used_columns)
        unknown = [n for n in names if n not in self.names]
        missing = [self.names[c] for c in self.used_columns if self.names[c] not in names]
        if unknown or missing:
            parts = ([f"columns {missing[:5]} that the model uses are missing"] if missing else []) + \
                    ([f"columns {unknown[:5]} are not in the training data"] if unknown else [])
            raise DataError(f"{source}: {' and '.join(parts)} (the model's columns: {self.names[:10]}"
                            f"{' ...' if len(self.names) > 10 else ''}); match the training data's header")
        index = {n: j for j, n in reversed(list(enumerate(names)))}
        return [index[self.names[c]] for c in self.used_columns]

    def _check_kind(self, ds, source: str, c: int, w: int) -> None:
        """A column of text levels in training must hold text now, and a numeric one numbers."""
        dtypes, levels = getattr(ds, "dtypes", None) or [], getattr(ds, "levels", None) or {}
        if not (_is_table(ds) or levels):
            return  # numeric arrays hold numbers: level codes are checked against the model's support
        found = dtypes[w] if w < len(dtypes) else "float64"
        if c in self.levels and w not in levels and np.isfinite(ds.data[:, w]).any():
            raise DataError(f"{source}: column {self.names[c]!r} holds numbers ({found}) but the model was trained on "
                            f"its text levels {self.levels[c][:5]}; pass the level names")
        if c not in self.levels and (w in levels or found == "datetime"):
            shown = f" ({', '.join(map(repr, levels[w][:3]))})" if w in levels else " (dates)"
            raise DataError(f"{source}: column {self.names[c]!r} holds text{shown} but the model was trained on "
                            "numbers in it; pass numbers (non-numeric cells mark missing values only when few)")

    def _recode(self, codes: np.ndarray, found: list[str], trained: list[str], col: int, source: str) -> np.ndarray:
        index = {level: i for i, level in enumerate(trained)}
        unknown = [lv for lv in found if lv not in index]
        if unknown:
            raise DataError(f"{source}: column {self.names[col]!r} has levels {unknown[:5]} not seen in training "
                            f"(known: {trained[:10]}); map them to known levels or refit")
        lut = np.array([index[lv] for lv in found], dtype=np.float64)
        out = np.full_like(codes, np.nan)
        ok = ~np.isnan(codes)
        out[ok] = lut[codes[ok].astype(np.int64)]
        return out

    # -- writing results back -----------------------------------------------------------------
    def finish(self, x: np.ndarray, first_row: int = 0) -> np.ndarray:
        """Model columns in original units (n, len(used_columns)) -> the source's dtype and shape.

        ``first_row``: row number of x's first row (an identifier column counts on from it in chunked output).
        """
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
            if f["kind"] == "constant":
                out[:, c] = f["value"]
            elif f["kind"] == "row_index":
                out[:, c] = first_row + np.arange(n)  # "nan": stays missing
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

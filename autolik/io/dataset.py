"""The loaded-data contract: :class:`Dataset`, and the check every array source passes.

Kept apart from the loaders (:mod:`autolik.io.loader`, :mod:`autolik.io.tables`, :mod:`autolik.io.sparse`),
which all build Datasets, so that none of them has to import another for it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from autolik.errors import DataError

NUMERIC_KINDS = "biuf"


@dataclass
class Dataset:
    """A loaded dataset: a numeric (n_samples, n_features) view plus what the loader learned.

    Attributes:
        data: numeric array of shape (n_samples, n_features); for ``.npy`` a read-only memmap
            view (image batches are reshaped views). String columns hold level codes 0..K-1,
            date/time columns seconds since the epoch; NaN marks a missing cell.
        names: one name per column: CSV/DataFrame headers, else ``x0, x1, ...``.
        source: the file path, or ``"<array>"`` / ``"<DataFrame>"``.
        shape: the original shape (e.g. (N, 28, 28) for images).
        image_shape: (C, H, W) for rank-3/4 input, else None.
        levels: column index -> level strings, for string columns (code k means ``levels[j][k]``).
        datetime_columns: indices of date/time string columns (reported, left out of models).
        notes: one-line non-fatal problems found while loading.
        dtypes: per-column original dtype name (``"float32"``, ``"uint8"``, ``"string"``, ``"datetime"``).
    """

    data: np.ndarray
    names: list[str]
    source: str
    shape: tuple
    image_shape: tuple | None = None
    levels: dict[int, list[str]] = field(default_factory=dict)
    datetime_columns: set[int] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    dtypes: list[str] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.data.shape[1])

    def __post_init__(self):
        if not self.dtypes:
            self.dtypes = [self.data.dtype.name] * self.data.shape[1]


def check_array(shape: tuple, dtype: np.dtype, source: str) -> None:
    """``DataError`` (one line naming ``source``) unless an array of this shape and dtype can be data."""
    if dtype.kind == "c":
        raise DataError(f"{source}: complex numbers ({dtype}) are not supported; "
                        "pass the real and imaginary parts as separate features")
    if dtype.hasobject or dtype.kind not in NUMERIC_KINDS:
        raise DataError(f"{source}: expected a numeric array, got dtype {dtype}; "
                        "convert it to numbers (strings and dates load from .csv or a DataFrame)")
    if len(shape) == 0:
        raise DataError(f"{source}: expected an array of samples, got a single scalar; pass at least 2 rows")
    if len(shape) > 4:
        raise DataError(f"{source}: expected rank <= 4 (samples x features, or (N, C, H, W) images), "
                        f"got rank {len(shape)} with shape {tuple(shape)}; reshape it")
    if shape[0] == 0 or 0 in shape:
        raise DataError(f"{source}: the array is empty (shape {tuple(shape)}); expected at least 2 rows of data")

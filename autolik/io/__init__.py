"""Loading: files, arrays and DataFrames become one :class:`Dataset` (the first step of load -> profile -> recommend).

:func:`load` (in :mod:`autolik.io.loader`) dispatches on the source: ``.npy`` / ``.npz`` / ``.parquet``
and arrays there, delimited text and DataFrames to :mod:`autolik.io.tables`, sparse count matrices
to :mod:`autolik.io.sparse`; :mod:`autolik.io.dataset` holds the ``Dataset`` contract they all build.
"""
from autolik.io.dataset import NUMERIC_KINDS, Dataset
from autolik.io.loader import SUPPORTED, from_array, load, mapped_file, release_rows

__all__ = ["NUMERIC_KINDS", "SUPPORTED", "Dataset", "from_array", "load", "mapped_file", "release_rows"]

"""Loading: files, arrays and DataFrames become one ``Dataset`` with an (n_samples, n_features) view.

Supported sources: ``.npy`` (memory-mapped read-only, never unpickled, never read whole),
``.npz`` (``key=`` picks the array), ``.csv`` / ``.tsv`` (header row; string columns become
level codes), ``.parquet`` (needs pyarrow), numpy arrays, pandas DataFrames and nested lists.
Ranks: 1-D is one feature, 2-D is samples x features, 3-D / 4-D are image batches (N, H, W) /
(N, C, H, W), reshaped as a view to (N, C*H*W). Bad input raises :class:`DataError` with one
line naming the problem and the source; soft problems are collected in ``Dataset.notes``.
Delimited text and DataFrames are parsed in :mod:`autolik.io.tables`, sparse matrices in
:mod:`autolik.io.sparse`.
"""
from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

from autolik.errors import DataError, UsageError
from autolik.io.dataset import Dataset, check_array

SUPPORTED = (".npy", ".npz", ".csv", ".tsv", ".parquet", ".h5ad", ".mtx")


def load(source, key: str | None = None, min_rows: int = 2) -> Dataset:
    """Load ``source`` (a path, array, list or DataFrame) into a :class:`Dataset`.

    Args:
        source: ``str`` / ``os.PathLike`` path with a supported extension, a numpy array
            (any rank <= 4), a pandas DataFrame or Series, a nested list, or a Dataset.
        key: array name inside an ``.npz`` file (required when it holds several arrays), or the
            layer of an ``.h5ad`` file (default: its ``X``).
        min_rows: fewest rows accepted: 2 for statistics (profiling, fitting), 1 for new data
            given to a saved model.

    Raises:
        DataError: the data cannot be used (message names the problem and the source).
        UsageError: ``key`` given for something that is not an ``.npz`` file, or not in it.
    """
    if isinstance(source, Dataset):
        return source
    ds = _load_any(source, key)
    if ds.n_samples < min_rows:
        row = "data row" if ds.source.lower().endswith((".csv", ".tsv", "<dataframe>")) else "row"
        raise DataError(f"{ds.source}: a single {row} (shape {tuple(ds.shape)}); statistics need at least 2 "
                        "samples (encode, reconstruct and evaluate accept one)")
    return ds


def _load_any(source, key: str | None) -> Dataset:
    if isinstance(source, (str, os.PathLike)):
        return _load_path(Path(source), key)
    if key is not None:
        raise UsageError(f"key={key!r} applies only to .npz files, got a {type(source).__name__}; drop the key")
    if type(source).__module__.startswith("scipy.sparse"):  # rows are samples; stays sparse
        from autolik.io.sparse import from_sparse

        return from_sparse(source, "<sparse>")
    if type(source).__module__.startswith("pandas"):
        if type(source).__name__ == "Series":
            source = source.to_frame()
        if type(source).__name__ == "DataFrame":
            from autolik.io.tables import from_dataframe

            return from_dataframe(source, "<DataFrame>")
    return from_array(source, "<array>")


# --------------------------------------------------------------------------- arrays


def from_array(arr, source: str = "<array>") -> Dataset:
    """Validate an array-like and view it as (n_samples, n_features); see :func:`load`."""
    if not isinstance(arr, np.ndarray):
        try:
            arr = np.asarray(arr)
        except ValueError as e:  # ragged nested lists
            raise DataError(f"{source}: rows have different lengths ({e}); pass a rectangular array") from None
    if arr.dtype.kind in "USO" and arr.ndim in (1, 2) and arr.size and not isinstance(arr, np.memmap) \
            and _all_scalars(arr):
        from autolik.io.tables import from_columns

        cols = arr.reshape(len(arr), -1)
        return from_columns([[_cell(v) for v in cols[:, j]] for j in range(cols.shape[1])],
                            [f"x{j}" for j in range(cols.shape[1])], source, lines=None)
    check_array(arr.shape, arr.dtype, source)
    shape, image_shape = tuple(arr.shape), None
    if arr.ndim == 1:
        data = arr.reshape(-1, 1)
    elif arr.ndim == 2:
        data = arr
    else:
        image_shape = (1, *shape[1:]) if arr.ndim == 3 else tuple(shape[1:])
        data = arr.reshape(shape[0], -1)
    notes = []
    if arr.ndim == 4 and shape[-1] in (1, 3, 4) and shape[1] not in (1, 3, 4):
        notes.append(f"shape {shape} looks channels-last; rank-4 input is read as (N, C, H, W): "
                     "transpose it if the last axis holds the channels")
    return Dataset(data, [f"x{j}" for j in range(data.shape[1])], source, shape, image_shape, notes=notes)


def _all_scalars(arr: np.ndarray) -> bool:
    ok = (str, bytes, int, float, bool, np.generic)
    return arr.dtype.kind != "O" or all(v is None or isinstance(v, ok) for v in arr.ravel())


def _cell(v) -> str | None:
    if v is None or (isinstance(v, float) and v != v):
        return None
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


# --------------------------------------------------------------------------- binary files


def _load_path(path: Path, key: str | None) -> Dataset:
    src = str(path)
    if not path.exists():
        raise DataError(f"{src}: no such file; check the path")
    if path.is_dir():
        raise DataError(f"{src}: is a directory, expected a data file ({', '.join(SUPPORTED)})")
    ext = path.suffix.lower()
    if path.name.lower().endswith(".mtx.gz"):  # 10x Genomics writes matrix.mtx.gz
        ext = ".mtx"
    if ext not in SUPPORTED:
        raise DataError(f"{src}: unsupported extension {ext or '(none)'!r}; supported: {', '.join(SUPPORTED)}")
    if key is not None and ext not in (".npz", ".h5ad"):
        raise UsageError(f"--key applies only to .npz files (--layer to .h5ad), got {src}; drop --key")
    from autolik.io.sparse import load_h5ad, load_mtx
    from autolik.io.tables import load_text

    loaders = {".npy": _load_npy, ".npz": lambda p: _load_npz(p, key), ".parquet": _load_parquet,
               ".csv": lambda p: load_text(p, ","), ".tsv": lambda p: load_text(p, "\t"),
               ".h5ad": lambda p: load_h5ad(p, key), ".mtx": load_mtx}  # text tables: delimiter sniffed
    return loaders[ext](path)


def _load_npy(path: Path) -> Dataset:
    """Memory-map a .npy read-only after checking its header (no pickles, no object arrays)."""
    src, fmt = str(path), np.lib.format
    with open(path, "rb") as fh:
        head = fh.read(6)
        if head != fmt.MAGIC_PREFIX:
            what = ("a pickle, not a NumPy array file" if head[:1] == b"\x80" else
                    "empty" if not head else "not a NumPy .npy file (text or other data?)")
            raise DataError(f"{src}: {what}; expected an array written by numpy.save")
        fh.seek(0)
        try:
            version = fmt.read_magic(fh)
            reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = reader(fh)
        except (ValueError, OSError, SyntaxError) as e:
            raise DataError(f"{src}: corrupt .npy header ({e}); re-save it with numpy.save") from None
    if dtype.hasobject:
        raise DataError(f"{src}: holds Python objects (dtype {dtype}) and autolik never unpickles data; "
                        "save a numeric array instead")
    check_array(tuple(shape), dtype, src)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{src}: cannot memory-map it ({e}); the file may be truncated, re-save it") from None
    ds = from_array(arr, src)
    if fortran and len(shape) >= 3:
        ds.notes.append("Fortran-ordered image array: viewing it as (N, features) copied it into memory")
    return ds


def _load_npz(path: Path, key: str | None) -> Dataset:
    from autolik.io.sparse import sparse_npz_keys

    src = str(path)
    try:
        z = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{src}: not a readable .npz archive ({e}); re-save it with numpy.savez") from None
    with z:
        keys = list(z.files)
        if key is None and sparse_npz_keys(keys):  # written by scipy.sparse.save_npz
            from autolik.io.sparse import load_sparse_npz

            return load_sparse_npz(path)
        if not keys:
            raise DataError(f"{src}: the .npz archive holds no arrays; expected at least one")
        if key is None and len(keys) > 1:
            raise DataError(f"{src}: holds several arrays ({', '.join(keys)}); choose one with --key / key=")
        key = keys[0] if key is None else key
        if key not in keys:
            raise UsageError(f"{src}: no array named {key!r}; available: {', '.join(keys)}")
        try:
            arr = z[key]
        except ValueError as e:  # object arrays need pickle
            raise DataError(f"{src}[{key}]: cannot be read without unpickling ({e}); save a numeric array") from None
    return from_array(arr, src if len(keys) == 1 else f"{src}[{key}]")


def _load_parquet(path: Path) -> Dataset:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading .parquet needs pyarrow; pip install 'autolik[parquet]', "
                        "or convert the file to .csv or .npy") from None
    try:
        frame = pq.read_table(path).to_pandas()
    except ImportError:
        raise DataError(f"{path}: reading .parquet needs pandas too; pip install 'autolik[parquet]'") from None
    except Exception as e:  # pyarrow raises its own error types for corrupt files
        raise DataError(f"{path}: not a readable parquet file ({type(e).__name__}: {e})") from None
    from autolik.io.tables import from_dataframe

    return from_dataframe(frame, str(path))


# --------------------------------------------------------------------------- memory maps


def mapped_file(data) -> tuple[str, int] | None:
    """``(path, byte offset of row 0)`` when ``data`` is a C-contiguous 2-D view of a file mapped
    read-only or shared (as :func:`load` maps a ``.npy``), else None.

    Another process then maps the same rows itself, ``np.memmap(path, dtype, "r", offset + r0 *
    row_bytes, shape)``, instead of receiving them pickled. A copy-on-write map (mode ``"c"``)
    gives None: its changes live only in this process.
    """
    if not isinstance(data, np.ndarray) or data.ndim != 2 or not data.flags.c_contiguous:
        return None
    root = data
    while root is not None and not (isinstance(root, np.memmap) and isinstance(root.base, mmap.mmap)):
        root = getattr(root, "base", None)
    if root is None or not getattr(root, "filename", None) or getattr(root, "mode", "c") == "c":
        return None
    start = data.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    return str(root.filename), int(root.offset) + int(start)


def release_rows(data: np.ndarray, start: int, stop: int) -> None:
    """Drop the mapped pages of rows [start, stop) of a memmap view from this process (no-op otherwise).

    The file stays in the OS page cache; the process's resident set no longer counts those
    pages, so a streaming pass over a file larger than memory keeps a small footprint.
    """
    base, mm = data, None
    while base is not None:
        mm = getattr(base, "_mmap", None)
        if mm is not None:
            break
        base = getattr(base, "base", None)
    if mm is None or not data.flags.c_contiguous or not hasattr(mm, "madvise"):
        return
    try:
        view = np.frombuffer(mm, dtype=np.uint8)
        origin = view.__array_interface__["data"][0]
        del view
    except (TypeError, ValueError):
        return
    row = data.strides[0]
    lo = data.__array_interface__["data"][0] - origin + start * row
    hi = lo + (stop - start) * row
    page = mmap.PAGESIZE
    lo = (lo // page) * page
    hi = min(len(mm), -(-hi // page) * page)
    if hi > lo >= 0:
        try:
            mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        except (OSError, ValueError):
            pass

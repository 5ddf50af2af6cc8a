"""Sparse count matrices: loading (.h5ad, scipy.sparse .npz, Matrix Market .mtx), the profile's
statistics computed on the stored values only, and dense mini-batches of sparse rows.

A sparse dataset keeps ``Dataset.data`` as a ``scipy.sparse.csr_matrix`` (rows = samples): memory
stays proportional to the stored (non-zero) values. :func:`sparse_stats` gives exactly the
:class:`autolik.analysis.profiling.stats.PartialStats` the dense streaming pass gives on the densified
matrix (zeros counted, not stored): counts, min/max and integer flags agree exactly, moments to
rounding (two-pass in float64 over the stored values, the implicit zeros added in closed form).
:func:`rows` and :class:`SparseRows` turn index arrays into dense float64 blocks for training.

``.h5ad`` files are read with ``h5py`` (installed with the ``anndata`` extra: ``pip install
'autolik[anndata]'``): ``X``, ``layers/NAME`` (``key=`` / ``--layer``) or ``raw/X`` (``--layer raw``,
when no layer has that name), CSR, CSC or dense, variable names from ``var``. Matrix Market files
may be gzipped (``.mtx.gz``, as 10x Genomics writes them). Nothing here is needed for dense data.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from autolik.errors import DataError, UsageError

BLOCK_NNZ = 1 << 20  # stored values handled at a time by sparse_stats (bounds its temporaries)
COUNT_BINS = 1 << 24  # integer blocks whose columns x value range fit in this many bins skip the sort


def is_sparse(x) -> bool:
    """True for scipy.sparse matrices and arrays (without importing scipy for dense data)."""
    return type(x).__module__.startswith("scipy.sparse")


def nbytes(x) -> int:
    """Bytes the (possibly sparse) matrix occupies."""
    if is_sparse(x):
        return int(x.data.nbytes + x.indices.nbytes + x.indptr.nbytes)
    return int(x.size * x.itemsize)


# --------------------------------------------------------------------------- dense blocks of rows


def rows(x, idx) -> np.ndarray:
    """Rows ``idx`` of x (dense or sparse) as a dense float64 array (n_idx, n_features)."""
    if is_sparse(x):
        return np.asarray(x[np.asarray(idx)].toarray(), dtype=np.float64)
    return np.asarray(x[idx], dtype=np.float64)


def columns(x, used) -> object:
    """Columns ``used`` of x in float64: a dense array for dense x, a CSR matrix for sparse x."""
    if is_sparse(x):
        import scipy.sparse as sp

        out = sp.csr_matrix(x, dtype=np.float64)
        return out if len(used) == x.shape[1] and list(used) == list(range(x.shape[1])) else out[:, list(used)]
    return np.asarray(x[:, used], dtype=np.float64) if len(used) < x.shape[1] else np.asarray(x, dtype=np.float64)


def has_nan(x) -> bool:
    return bool(np.isnan(x.data).any()) if is_sparse(x) else bool(np.isnan(x).any())


class SparseRows:
    """A CSR matrix that the training loop indexes like its dense float64 tensor: ``len``,
    ``shape`` and ``[idx]`` (a torch or numpy index array, or a slice) giving a dense float64
    tensor of those rows. Only the rows of one mini-batch are ever dense."""

    def __init__(self, csr):
        import scipy.sparse as sp

        self.csr = sp.csr_matrix(csr, dtype=np.float64)
        self.shape = self.csr.shape

    def __len__(self) -> int:
        return int(self.shape[0])

    def __getitem__(self, idx):
        import torch

        if isinstance(idx, torch.Tensor):
            idx = idx.cpu().numpy()
        block = self.csr[idx] if isinstance(idx, slice) else self.csr[np.asarray(idx)]
        return torch.from_numpy(np.ascontiguousarray(block.toarray(), dtype=np.float64))

    def dense(self):
        """All rows as one dense tensor (for small splits such as validation)."""
        return self[slice(None)]


def check_rows(x, n_columns: int, what: str) -> SparseRows:
    """The sparse counterpart of ``train.as_data_tensor``: shape and infinity checks, no densifying."""
    if x.ndim != 2 or x.shape[1] != n_columns:
        raise DataError(f"{what} must have shape (n_samples, {n_columns}), got {x.shape}; "
                        "pass only the columns the model uses")
    if np.isinf(x.data).any():
        raise DataError(f"{what} holds infinite values; replace them with NaN (missing) or finite numbers")
    return SparseRows(x)


# --------------------------------------------------------------------------- loading


def from_sparse(mat, src: str, names: list[str] | None = None, notes: list[str] | None = None):
    """A CSR Dataset from any scipy.sparse matrix (checked like a dense array)."""
    import scipy.sparse as sp

    from autolik.io.dataset import Dataset, check_array

    check_array(tuple(mat.shape), mat.dtype, src)
    csr = sp.csr_matrix(mat)
    csr.sum_duplicates()  # canonical: sorted indices, no duplicates (COO input may repeat cells)
    n, d = csr.shape
    if names is None or len(names) != d:
        names = [f"x{j}" for j in range(d)]
    notes = list(notes or [])
    density = csr.nnz / max(1, n * d)
    notes.append(f"sparse matrix: {csr.nnz:,} stored values ({density:.1%} of {n:,} x {d:,}); "
                 "zeros are counted, not stored")
    return Dataset(csr, names, src, (n, d), notes=notes)


def sparse_npz_keys(keys) -> bool:
    """Whether an .npz archive's arrays are those ``scipy.sparse.save_npz`` writes."""
    keys = set(keys)
    return {"format", "shape", "data"} <= keys and ({"indices", "indptr"} <= keys or {"row", "col"} <= keys)


def load_sparse_npz(path: Path):
    import scipy.sparse as sp

    try:
        mat = sp.load_npz(path)
    except (ValueError, OSError, KeyError) as e:
        raise DataError(f"{path}: not a readable scipy.sparse .npz ({e}); re-save it with scipy.sparse.save_npz") \
            from None
    return from_sparse(mat, str(path))


def load_mtx(path: Path):
    import scipy.io

    try:
        mat = scipy.io.mmread(str(path))
    except (ValueError, OSError, IndexError) as e:
        raise DataError(f"{path}: not a readable Matrix Market file ({e})") from None
    notes = []
    if mat.shape[0] > mat.shape[1]:
        notes.append(f"read as {mat.shape[0]:,} samples x {mat.shape[1]:,} features (rows are samples); "
                     "10x Genomics matrix.mtx files are genes x cells: transpose such a file first")
    if not is_sparse(mat):
        import scipy.sparse as sp

        mat = sp.csr_matrix(np.asarray(mat))
    return from_sparse(mat, str(path), notes=notes)


def load_h5ad(path: Path, layer: str | None = None):
    """``X`` (or ``layers/<layer>``, or ``raw/X`` for ``layer="raw"``) of an AnnData ``.h5ad`` file, read with h5py."""
    src = str(path)
    try:
        import h5py
    except ImportError:
        raise DataError(f"{src}: reading .h5ad needs h5py (or anndata); pip install 'autolik[anndata]'") from None
    import scipy.sparse as sp

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DataError(f"{src}: not a readable HDF5/.h5ad file ({e})") from None
    with f:
        if layer is None:
            if "X" not in f:
                raise DataError(f"{src}: no X matrix in the .h5ad file; choose a layer with --layer")
            node, what = f["X"], "X"
        else:
            layers = sorted(f["layers"].keys()) if "layers" in f else []
            has_raw = "raw" in f and "X" in f["raw"]
            if layer == "raw" and has_raw and layer not in layers:  # AnnData's .raw (often the counts)
                node, what = f["raw"]["X"], "raw/X"
            elif layer not in layers:
                avail = layers + (["raw"] if has_raw else [])
                raise UsageError(f"{src}: no layer named {layer!r}; available: {', '.join(avail) or '(none)'}")
            else:
                node, what = f["layers"][layer], f"layers/{layer}"
        if isinstance(node, h5py.Dataset):
            mat = sp.csr_matrix(node[()])
        else:
            enc = _attr(node, "encoding-type") or _attr(node, "h5sparse_format")
            shape = node.attrs.get("shape", node.attrs.get("h5sparse_shape"))
            if shape is None or not {"data", "indices", "indptr"} <= set(node.keys()):
                raise DataError(f"{src}: {what} is neither a dense array nor a CSR/CSC matrix; "
                                "re-save it with anndata")
            parts = (node["data"][()], node["indices"][()], node["indptr"][()])
            cls = sp.csc_matrix if str(enc).startswith("csc") else sp.csr_matrix
            mat = cls(parts, shape=tuple(int(s) for s in shape))
        names = _var_names(f["raw"] if what == "raw/X" else f)
    src_label = src if layer is None else f"{src}[{layer}]"
    return from_sparse(mat, src_label, names)


def _attr(node, name: str):
    v = node.attrs.get(name)
    return v.decode() if isinstance(v, bytes) else v


def _var_names(f) -> list[str] | None:
    """Gene (variable) names from ``var``'s index, when stored in the current AnnData layout."""
    try:
        var = f["var"]
        index = _attr(var, "_index") or "_index"
        values = var[index][()]
        return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
    except (KeyError, TypeError, AttributeError):
        return None


# --------------------------------------------------------------------------- statistics


def sparse_stats(x, cap: int | None = None):
    """:class:`PartialStats` of a sparse matrix (rows = samples), as if it were densified.

    Works on the stored values of each column (CSC) in blocks of about ``BLOCK_NNZ`` values:
    implicit zeros add to the zero count, to min/max (0) and to the moment sums in closed form,
    ``z * (0 - mean)**k``; the distinct values are those stored plus 0 when a column has an
    implicit zero. Monotonicity is checked on the (rare) columns with at most one implicit zero.
    """
    import scipy.sparse as sp

    from autolik.analysis.profiling.stats import CAP, PartialStats, work_dtype

    cap = CAP if cap is None else int(cap)
    csc = sp.csc_matrix(x)
    csc.sum_duplicates()
    n, d = csc.shape
    st = PartialStats(d, cap)
    st.n_rows = n
    wdt = work_dtype(csc.dtype)
    st.eps = max(float(np.finfo(wdt).eps), float(np.finfo(csc.dtype).eps) if csc.dtype.kind == "f" else 0.0)
    indptr = csc.indptr.astype(np.int64)
    nnz = np.diff(indptr)
    implicit = n - nnz
    st.n_distinct_seen = np.zeros(d, np.int64)
    distinct: list = [None] * d
    j0 = 0
    while j0 < d:
        # columns j0:j1 hold about BLOCK_NNZ stored values (at least one column)
        j1 = int(np.searchsorted(indptr, indptr[j0] + BLOCK_NNZ, side="right")) - 1
        j1 = min(d, max(j1, j0 + 1))
        _block(csc, indptr, implicit, j0, j1, n, st, distinct)
        j0 = j1
    st.distinct = distinct
    _sparse_monotone(csc, implicit, st)
    first, last = csc[0].toarray().ravel(), csc[n - 1].toarray().ravel()
    st.first, st.last = first.astype(np.float64), last.astype(np.float64)
    return st


def _block(csc, indptr, implicit, j0: int, j1: int, n: int, st, distinct: list) -> None:
    p0, p1 = int(indptr[j0]), int(indptr[j1])
    w = j1 - j0
    v = np.asarray(csc.data[p0:p1], dtype=np.float64)
    col = np.repeat(np.arange(w), np.diff(indptr[j0:j1 + 1]))
    z = implicit[j0:j1].astype(np.float64)
    with np.errstate(all="ignore"):
        fin = np.isfinite(v)
        allfin = bool(fin.all())
        st.n_nan[j0:j1] = np.bincount(col[np.isnan(v)], minlength=w)
        st.n_posinf[j0:j1] = np.bincount(col[v == np.inf], minlength=w)
        st.n_neginf[j0:j1] = np.bincount(col[v == -np.inf], minlength=w)
        st.n_zero[j0:j1] = implicit[j0:j1] + np.bincount(col[v == 0], minlength=w)
        count = n - st.n_nan[j0:j1] - st.n_posinf[j0:j1] - st.n_neginf[j0:j1]
        st.count[j0:j1] = count
        cf, vf = (col, v) if allfin else (col[fin], v[fin])
        # min / max of the stored finite values, then the implicit zeros
        lo, hi = np.full(w, np.inf), np.full(w, -np.inf)
        if vf.size:
            starts = np.flatnonzero(np.r_[True, cf[1:] != cf[:-1]])
            owners = cf[starts]
            lo[owners] = np.minimum.reduceat(vf, starts)
            hi[owners] = np.maximum.reduceat(vf, starts)
        has_zero = z > 0
        lo[has_zero] = np.minimum(lo[has_zero], 0.0)
        hi[has_zero] = np.maximum(hi[has_zero], 0.0)
        st.min[j0:j1], st.max[j0:j1] = lo, hi
        st.integer[j0:j1] = np.bincount(cf[np.rint(vf) != vf], minlength=w) == 0
        # two passes in float64: the mean, a correction of it, then central moment sums
        c = np.maximum(count, 1).astype(np.float64)
        mean = np.bincount(cf, weights=vf, minlength=w) / c
        dev = vf - mean[cf]
        a = (np.bincount(cf, weights=dev, minlength=w) - z * mean) / c
        mean = mean + a
        dev -= a[cf]
        sq = dev * dev
        m2 = np.bincount(cf, weights=sq, minlength=w) + z * mean ** 2
        m3 = np.bincount(cf, weights=sq * dev, minlength=w) - z * mean ** 3
        m4 = np.bincount(cf, weights=sq * sq, minlength=w) + z * mean ** 4
        has = count > 0
        st.mean[j0:j1] = np.where(has, mean, 0.0)
        st.m2[j0:j1], st.m3[j0:j1], st.m4[j0:j1] = (np.where(has, m, 0.0) for m in (m2, m3, m4))
        del dev, sq
    # distinct finite values per column (0 for columns with an implicit zero): presence counts for
    # integer blocks of a small range, else one sort of (column, value) pairs
    zc = np.flatnonzero(z > 0)
    cf, vf = np.concatenate((cf, zc)), np.concatenate((vf, np.zeros(zc.size)))
    lo_v, hi_v = (float(vf.min()), float(vf.max())) if vf.size else (0.0, 0.0)
    span = hi_v - lo_v + 1
    if vf.size and w * span <= COUNT_BINS and not (np.rint(vf) != vf).any():
        span = int(span)
        seen = np.flatnonzero(np.bincount(cf * span + (vf - lo_v).astype(np.int64), minlength=w * span))
        cs, vs = seen // span, (seen % span).astype(np.float64) + lo_v
    else:
        order = np.lexsort((vf, cf))
        cs, vs = cf[order], vf[order]
        keep = np.ones(cs.size, bool)
        keep[1:] = (cs[1:] != cs[:-1]) | (vs[1:] != vs[:-1])
        cs, vs = cs[keep], vs[keep]
    bounds = np.searchsorted(cs, np.arange(w + 1))
    sizes = np.diff(bounds)
    st.n_distinct_seen[j0:j1] = np.minimum(sizes, st.cap + 1)  # cap + 1 over the cap, as the dense pass
    for i, u in enumerate(np.split(vs, bounds[1:-1])):
        distinct[j0 + i] = u if sizes[i] <= st.cap else None


def _sparse_monotone(csc, implicit, st) -> None:
    """Strict monotonicity: impossible with two equal (implicit zero) values, so only columns with
    at most one implicit zero and no missing value are densified and checked."""
    n = csc.shape[0]
    st.increasing[:] = False
    st.decreasing[:] = False
    if n < 2:
        st.increasing[:] = st.decreasing[:] = True
        return
    cand = np.flatnonzero((implicit <= 1) & (st.count == n))
    for j in cand:
        col = csc[:, int(j)].toarray().ravel().astype(np.float64)
        dx = np.diff(col)
        st.increasing[j] = bool(np.all(dx > 0))
        st.decreasing[j] = bool(np.all(dx < 0))

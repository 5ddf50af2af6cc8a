"""Tables: delimited text files and DataFrames become a :class:`autolik.io.Dataset`.

A header row names the features (a headerless numeric file is accepted); empty, ``NA``, ``NaN``
(and similar) cells are missing; string columns become level codes with their levels kept;
date/time columns are detected; a numeric column with a few non-numeric cells (at most 10%: entry
errors such as "5'7" in a column of heights) keeps them as missing and names their rows in
``Dataset.notes``; a ragged file is an error naming its first bad line.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from autolik.errors import DataError
from autolik.io.dataset import Dataset

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "<na>", "nat"})
_PADDED = re.compile(r"^[+-]?0\d+$")  # "030001", "007": nobody writes a quantity with leading zeros
MAX_BAD_FRACTION = 0.1  # a column with at most this share of non-numeric cells is numeric with entry errors
MAX_NAMED_ROWS = 20  # rows named in the note about them
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
                   r"|^\d{1,2}/\d{1,2}/\d{2,4}$|^\d{1,2}:\d{2}(:\d{2})?$")


DELIMITERS = (",", ";", "\t", "|")
SNIFF_BYTES = 1 << 16


def sniff_delimiter(path: Path, default: str) -> str:
    """The delimiter of a text table: among ``DELIMITERS``, the one that splits the first lines
    (up to 64 KB) into the same number (> 1) of fields on every line, the most fields winning and
    ``default`` winning ties; ``default`` when none does (a one-column file)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            head = fh.read(SNIFF_BYTES)
    except (OSError, UnicodeDecodeError):
        return default  # reading it properly reports the problem
    lines = head.splitlines()
    lines = [ln for ln in (lines[:-1] if len(head) == SNIFF_BYTES else lines)[:50] if ln.strip()]
    best, best_fields = default, 1
    for d in sorted(DELIMITERS, key=lambda d: d != default):
        try:
            counts = {len(row) for row in csv.reader(lines, delimiter=d)}
        except csv.Error:
            continue
        if len(counts) == 1 and (n := counts.pop()) > best_fields:
            best, best_fields = d, n
    return best


def load_text(path: Path, default_delimiter: str = ",") -> Dataset:
    """Read a delimited text file with a header row (a headerless numeric file is accepted).

    The delimiter is sniffed (``,``, ``;``, tab or ``|``; see :func:`sniff_delimiter`).
    """
    src = str(path)
    delimiter = sniff_delimiter(path, default_delimiter)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header = next(reader, None)
            rows, lines = [], []
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip() and len(header or ()) > 1):
                    continue
                if len(row) != len(header):
                    raise DataError(f"{src}: ragged table: line {reader.line_num} has {len(row)} fields, the header "
                                    f"has {len(header)}; fix that line or quote fields containing {delimiter!r}")
                rows.append(row)
                lines.append(reader.line_num)
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{src}: not a readable text table ({type(e).__name__}: {e}); "
                        "expected UTF-8 delimited text with a header row") from None
    if header is None:
        raise DataError(f"{src}: the file is empty; expected a header row and at least 2 data rows")
    notes = []
    if all(_is_number(h) for h in header):
        rows.insert(0, header)
        lines.insert(0, 1)
        header = [f"x{j}" for j in range(len(header))]
        notes.append("no header row found (the first line is all numbers): columns are named x0, x1, ...")
    names = [h.strip() or f"x{j}" for j, h in enumerate(header)]
    ds = from_columns([list(c) for c in zip(*rows)] if rows else [[] for _ in names], names, src, lines)
    ds.notes[:0] = notes
    return ds


def from_dataframe(frame, source: str = "<DataFrame>") -> Dataset:
    """A pandas DataFrame as a Dataset: numeric/bool columns as numbers, others parsed as text cells."""
    import pandas as pd

    cols, names = [], [str(c) for c in frame.columns]
    for name in frame.columns:
        s = frame[name]
        if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
            if pd.api.types.is_complex_dtype(s.dtype):
                raise DataError(f"{source}: column {name!r} holds complex numbers; split real and imaginary parts")
            cols.append((s.to_numpy(dtype=np.float64, na_value=np.nan), str(s.dtype)))
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            secs = s.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
            cols.append((np.where(s.isna().to_numpy(), np.nan, secs), "datetime"))
        else:
            cols.append([None if (v is None or (not isinstance(v, str) and pd.isna(v))) else str(v) for v in s])
    return from_columns(cols, names, source, lines=None)


def from_columns(columns: list, names: list[str], source: str, lines: list[int] | None) -> Dataset:
    """Assemble a Dataset from columns of text cells (None = missing) or (float array, dtype) pairs.

    ``lines`` maps data rows to file line numbers for messages (None: 0-based row positions).
    """
    n = len(columns[0][0] if isinstance(columns[0], tuple) else columns[0]) if columns else 0
    if not columns or n == 0:
        raise DataError(f"{source}: no data rows (shape ({n}, {len(columns)})); expected at least 2 rows")
    data = np.empty((n, len(columns)), dtype=np.float64)
    ds = Dataset(data, list(names), source, (n, len(columns)), dtypes=["float64"] * len(columns))
    for j, col in enumerate(columns):
        if isinstance(col, tuple):
            data[:, j], ds.dtypes[j] = col
            if col[1] == "datetime":
                ds.datetime_columns.add(j)
            continue
        data[:, j], ds.dtypes[j], levels, note = _parse_cells(col, names[j], lines)
        if levels is not None:
            ds.levels[j] = levels
        if ds.dtypes[j] == "datetime":
            ds.datetime_columns.add(j)
        if note:
            ds.notes.append(note)
    return ds


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except (TypeError, ValueError):
        return False


def _parse_cells(cells: list, name: str, lines: list[int] | None):
    """One text column -> (float values, dtype name, levels or None, note or None)."""
    cells = [None if c is None or c.strip().lower() in MISSING else c.strip() for c in cells]
    present = [i for i, c in enumerate(cells) if c is not None]
    out = np.full(len(cells), np.nan)
    padded = next((cells[i] for i in present if _PADDED.match(cells[i])), None)
    if padded is not None:  # zero-padded digits are codes (postcodes, region and product codes), not numbers
        out, dtype, levels, _ = _levels(cells, present, out)
        return out, dtype, levels, (f"column {name!r}: zero-padded digit strings such as {padded!r} are read as "
                                    "codes (categories or identifiers), not as numbers")
    try:  # fast path: every present cell is a number
        out[present] = np.array([cells[i] for i in present], dtype=np.float64)
        bad = []
    except ValueError:
        bad = [i for i in present if not _is_number(cells[i])]
    if len(bad) <= MAX_BAD_FRACTION * len(present) and len(bad) < len(present):
        if bad:
            skip = set(bad)
            good = [i for i in present if i not in skip]
            out[good] = np.array([cells[i] for i in good], dtype=np.float64)
        good = np.isfinite(out)
        dtype = "int64" if np.all(np.mod(out[good], 1) == 0) else "float64"
        note = None
        if bad:
            where = ", ".join(str(lines[i] if lines else i) for i in bad[:MAX_NAMED_ROWS])
            where += f" and {len(bad) - MAX_NAMED_ROWS} more" if len(bad) > MAX_NAMED_ROWS else ""
            shown = ", ".join(repr(cells[i]) for i in bad[:3])
            unit = ("line" if lines else "row") + ("s" if len(bad) > 1 else "")
            note = (f"column {name!r}: {len(bad)} non-numeric cell{'s' * (len(bad) > 1)} ({shown}) at "
                    f"{unit} {where} treated as missing")
        return out, dtype, None, note
    if all(_DATE.match(cells[i]) for i in present):
        for i in present:
            try:
                out[i] = np.datetime64(cells[i].replace(" ", "T").rstrip("Z"), "s").astype(np.int64)
            except ValueError:
                pass
        return out, "datetime", None, None
    return _levels(cells, present, out)


def _levels(cells: list, present: list[int], out: np.ndarray):
    """A string column: sorted levels and each cell's code."""
    levels = sorted({cells[i] for i in present})
    code = {v: k for k, v in enumerate(levels)}
    out[present] = [code[cells[i]] for i in present]
    return out, "string", levels, None

"""One conversion to strict JSON, shared by the CLI's ``--json`` output and the model files."""
from __future__ import annotations

import math

import numpy as np


def jsonable(o):
    """Recursively convert numpy scalars/arrays, tuples, sets and paths to JSON types; NaN/inf -> None."""
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, set)):
        return [jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return jsonable(o.tolist())
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if o is None or isinstance(o, (str, int, bool)):
        return o
    return str(o)

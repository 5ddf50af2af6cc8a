"""Which values a trained model can score: the support of its likelihood, per column, in data units.

Each likelihood head declares its support in model space as a torch constraint (a Poisson's
``nonnegative_integer``, a Beta's ``unit_interval``, a Gamma's ``positive``); a distribution
whose integer range depends on its parameters gives it (a binomial's ``integer_interval(0, n)``).
:func:`column_supports` reads them per model column (a composite head per part; a one-hot block
is 0/1 per column) and maps them through the preprocessing back to the data's units, so a
message can say "values in [0, 1]" or "integers 0..16" about the column the user sees.
:func:`outside` marks the cells of new data that fall outside. Values outside the support have
no likelihood: a density clamps them or a mass function extrapolates, and the number it returns
is meaningless, so ``evaluate`` refuses such rows (and ``encode`` / ``reconstruct`` warn).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TOLERANCE = 1e-9  # relative slack for rounding in the affine preprocessing


@dataclass(frozen=True)
class ColumnSupport:
    """The values one model column accepts, in the data's units.

    Attributes:
        family: the likelihood name (``"poisson"``).
        integer: only lattice points ``origin + k * step`` are in the support.
        lo, hi: bounds (±inf when open-ended); ``lo_open`` / ``hi_open``: the bound is excluded.
        step, origin: the lattice of an integer support in data units (step 1, origin 0 for plain integers).
    """

    family: str
    integer: bool
    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False
    step: float = 1.0
    origin: float = 0.0

    def describe(self) -> str:
        """'integers 0..16', 'values in [0, 1]', 'values > 0', 'real numbers'."""
        if self.integer:
            plain = (self.step, self.origin) == (1.0, 0.0)
            kind = "integers" if plain else f"multiples of {self.step:g} from {self.origin:g}"
            if math.isinf(self.hi):
                return f"{kind} >= {self.lo:g}" if not math.isinf(self.lo) else kind
            return f"{kind} {self.lo:g}..{self.hi:g}" if self.hi - self.lo != self.step else \
                f"the two values {self.lo:g} and {self.hi:g}"
        if math.isinf(self.lo) and math.isinf(self.hi):
            return "real numbers"
        if math.isinf(self.hi):
            return f"values {'>' if self.lo_open else '>='} {self.lo:g}"
        if math.isinf(self.lo):
            return f"values {'<' if self.hi_open else '<='} {self.hi:g}"
        return f"values in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"


def _model_space(constraint) -> tuple[bool, float, float, bool, bool] | None:
    """(integer, lo, hi, lo_open, hi_open) of a torch constraint; None for one not understood (no check)."""
    from torch.distributions import constraints as c

    def num(v):
        return float(v.reshape(-1)[0]) if hasattr(v, "reshape") else float(v)

    if isinstance(constraint, c._Boolean):
        return True, 0.0, 1.0, False, False
    if isinstance(constraint, c._IntegerInterval):
        return True, num(constraint.lower_bound), num(constraint.upper_bound), False, False
    if isinstance(constraint, c._IntegerGreaterThan):
        return True, num(constraint.lower_bound), math.inf, False, False
    if isinstance(constraint, c._Interval):
        return False, num(constraint.lower_bound), num(constraint.upper_bound), False, False
    if isinstance(constraint, c._GreaterThan):
        return False, num(constraint.lower_bound), math.inf, True, False
    if isinstance(constraint, c._GreaterThanEq):
        return False, num(constraint.lower_bound), math.inf, False, False
    if isinstance(constraint, c._Real):
        return False, -math.inf, math.inf, False, False
    return None


def _head_constraints(head) -> list:
    """One torch constraint (or a per-feature list element) per model column of a single head."""
    import torch
    from torch.distributions import constraints

    with torch.no_grad():
        support = head.distribution(torch.zeros(1, head.n_raw)).support
    if not isinstance(support, constraints._IntegerInterval):  # only integer ranges depend on parameters;
        support = head.support  # else the head's declared support (a Gamma's is positive, torch's nonnegative)
    n_feat, n_col = head.n_features, getattr(head, "n_columns", head.n_features)
    if n_col != n_feat:  # one-hot blocks: each column is 0 or 1
        return [constraints.boolean] * n_col
    out = []
    for f in range(n_feat):
        hi = getattr(support, "upper_bound", None)
        if isinstance(support, constraints._IntegerInterval) and torch.is_tensor(hi):  # per-feature trials
            hi = hi.reshape(-1)
            out.append(constraints.integer_interval(0, float(hi[f % len(hi)])))
        else:
            out.append(support)
    return out


def _constraints(likelihood) -> list:
    if hasattr(likelihood, "heads"):  # composite: each part over its own model columns
        out = [None] * likelihood.n_columns
        for head, cols in zip(likelihood.heads, likelihood.columns):
            for col, con in zip(cols, _constraints(head)):
                out[col] = con
        return out
    return _head_constraints(likelihood)


def column_supports(likelihood, preprocessor, families: list[str]) -> list[ColumnSupport | None]:
    """The support of each model column in data units (None: not checked).

    Args:
        likelihood: the model's likelihood head (possibly composite).
        preprocessor: its Preprocessor (x -> y = (x + step * u - shift) * scale per column, u in [0, 1)
            when a continuous family models lattice data, else u = 0).
        families: the likelihood name per model column (for messages).
    """
    out = []
    for j, con in enumerate(_constraints(likelihood)):
        space = _model_space(con) if con is not None else None
        if space is None:
            out.append(None)
            continue
        integer, lo, hi, lo_open, hi_open = space
        t = preprocessor.features[j]
        # y = (x - shift) * scale  <=>  x = y / scale + shift
        xs = [y / t.scale + t.shift if math.isfinite(y) else y * math.copysign(1, t.scale) for y in (lo, hi)]
        if t.scale < 0:
            xs, (lo_open, hi_open) = xs[::-1], (hi_open, lo_open)
        if t.step > 0:  # dequantised: the whole cell [x, x + step) must map inside (its interior, for open ends)
            xs[1] -= t.step
            lo_open = hi_open = False
        out.append(ColumnSupport(families[j], integer, xs[0], xs[1], lo_open, hi_open,
                                 step=abs(1 / t.scale) if integer else 0.0, origin=t.shift if integer else 0.0))
    return out


def outside(x: np.ndarray, supports: list[ColumnSupport | None]) -> np.ndarray:
    """Boolean mask of x's shape (n, model columns, data units): True where a value is outside its column's support."""
    bad = np.zeros(x.shape, dtype=bool)
    for j, s in enumerate(supports):
        if s is None:
            continue
        v = x[:, j]
        tol = TOLERANCE * np.maximum(1.0, np.abs(v))
        with np.errstate(invalid="ignore"):
            out = (v < s.lo - tol) | (v > s.hi + tol)
            if s.lo_open:
                out |= v <= s.lo
            if s.hi_open:
                out |= v >= s.hi
            if s.integer:
                k = (v - s.origin) / s.step
                out |= np.abs(k - np.round(k)) > 1e-6 * np.maximum(1.0, np.abs(k))
        bad[:, j] = out & ~np.isnan(v)
    return bad

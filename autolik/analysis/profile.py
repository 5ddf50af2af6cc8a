"""Per-feature and whole-array statistics of a dataset, computed in one streaming pass.

Owned by the profiling work (issue 2, items 2-4). The dataclasses below are the contract the
recommender and the CLI read; ``profile()`` fills them from mergeable partial statistics
(:mod:`autolik.analysis.stats`), chunk by chunk, so memory-mapped data larger than RAM works.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class FeatureProfile:
    """Statistics of one feature (one column of the (n_samples, n_features) view).

    Missing values are NaN (and empty/NA cells in CSV). ``count`` counts finite values.
    ``support`` is filled by :mod:`autolik.analysis.support` (one of SUPPORTS).
    """

    name: str
    dtype: str
    count: int = 0
    n_missing: int = 0
    missing_fraction: float = 0.0
    n_posinf: int = 0
    n_neginf: int = 0
    min: float = float("nan")
    max: float = float("nan")
    mean: float = float("nan")
    variance: float = float("nan")
    skewness: float = float("nan")
    kurtosis: float = float("nan")  # excess kurtosis
    zero_fraction: float = float("nan")
    is_integer: bool = False
    n_distinct: int = 0
    distinct_over_cap: bool = False
    distinct_values: list | None = None  # sorted, when not over the cap and small (<= 64)
    grid_step: float | None = None  # lattice step (e.g. 1/255) when values sit on a grid
    dispersion_index: float | None = None  # var/mean for non-negative integers
    levels: dict[str, int] | None = None  # string columns: level -> count
    is_string: bool = False
    is_datetime: bool = False
    support: str = "real"
    support_detail: dict = field(default_factory=dict)  # e.g. {"low": 0, "high": 255}
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Profile:
    """The whole dataset's profile. ``sample`` is a row sample (model space not applied) for fits."""

    source: str
    shape: tuple
    n_samples: int
    n_features: int
    features: list[FeatureProfile]
    is_image: bool = False
    image_shape: tuple | None = None  # (C, H, W) for image batches
    onehot_blocks: list[list[int]] = field(default_factory=list)
    constant_features: list[int] = field(default_factory=list)
    homogeneous: bool = True
    notes: list[str] = field(default_factory=list)
    sample: np.ndarray | None = field(default=None, repr=False)  # (m, n_features) float64 rows

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("sample", "features")}
        d["features"] = [f.to_dict() for f in self.features]
        return d

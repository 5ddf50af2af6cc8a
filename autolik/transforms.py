"""Invertible per-feature preprocessing, with the log-Jacobian that keeps likelihoods in data units.

Every preprocessing autolik applies is an affine map per feature, ``y = (x - shift) * scale``:
x/255 for 8-bit pixels, {-1,+1} -> {0,1}, [a,b] -> [0,1], {0,255} -> {0,1}, standardisation.
Level-coding of strings and one-hot blocks happens at load time and is a bijection of a discrete
set, so it needs no Jacobian.

Units. A log-likelihood reported by autolik is always in the units of the original data:

* a density on continuous data: ``log p_X(x) = log p_Y(y) + sum_j log|scale_j|``;
* a probability mass on lattice data (integers, or a grid with step h such as 1/255):
  discrete likelihoods need nothing added (an affine bijection of a lattice keeps the mass);
  continuous likelihoods are evaluated on uniformly dequantised data, ``x + h * u`` with
  ``u ~ U(0,1)``, which gives a lower bound on the log mass of the lattice point,
  ``log P(x) >= E_u[log p_X(x + h u)] + log h`` (Theis et al., 2016, "A note on the
  evaluation of generative models"). So a density and a mass on the same integer data compare.

``FeatureTransform`` is plain data that the analyser builds, so this module imports torch only
inside :class:`Preprocessor`'s methods: ``autolik.recommend`` runs without loading torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass
class FeatureTransform:
    """``y = (x + step * u - shift) * scale`` for one feature (``u`` only when dequantising).

    Attributes:
        shift, scale: the affine map into model space.
        step: lattice step of the original data (1 for integers, 1/255 for scaled pixels) when the
            feature is modelled by a continuous likelihood and must be dequantised, else 0.
        continuous: whether the feature's likelihood is a density (adds log|scale|).
        description: human-readable, e.g. ``"x/255"`` or ``"(x - 3.2) / 1.7"``.
    """

    shift: float = 0.0
    scale: float = 1.0
    step: float = 0.0
    continuous: bool = True
    description: str = "none"

    def to_dict(self) -> dict:
        return {"shift": self.shift, "scale": self.scale, "step": self.step,
                "continuous": self.continuous, "description": self.description}

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureTransform":
        return cls(**{k: d[k] for k in ("shift", "scale", "step", "continuous", "description") if k in d})


@dataclass
class Preprocessor:
    """Per-feature affine transforms of an (n, d) array, with log-Jacobians. See module docstring."""

    features: list[FeatureTransform] = field(default_factory=list)

    def __post_init__(self):
        import torch

        f = self.features
        self.shift = torch.tensor([t.shift for t in f], dtype=torch.float64)
        self.scale = torch.tensor([t.scale for t in f], dtype=torch.float64)
        self.step = torch.tensor([t.step for t in f], dtype=torch.float64)
        cont = torch.tensor([t.continuous for t in f], dtype=torch.bool)
        # per-feature log-Jacobian: log|scale| for densities, plus log(step) when dequantised
        logdet = torch.where(cont, self.scale.abs().log(), torch.zeros_like(self.scale))
        self.log_jac = logdet + torch.where(self.step > 0, self.step.clamp_min(1e-300).log(), torch.zeros_like(self.step))

    @property
    def n_features(self) -> int:
        return len(self.features)

    def forward(self, x: torch.Tensor, dequantize: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        """Original units -> model space. NaN (missing) stays NaN. Returns float32 on x's device."""
        import torch

        x = x.to(torch.float64)
        if dequantize and bool((self.step > 0).any()):
            u = torch.rand(x.shape, generator=generator, dtype=torch.float64, device="cpu").to(x.device)
            x = x + self.step.to(x.device) * u
        y = (x - self.shift.to(x.device)) * self.scale.to(x.device)
        return y.to(torch.float32)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Model space -> original units (float64). Lattice features are not rounded here."""
        import torch

        y = y.to(torch.float64)
        return y / self.scale.to(y.device) + self.shift.to(y.device)

    def log_abs_det_jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sample correction, shape (batch,), to add to the model-space log-likelihood.

        Missing entries (NaN) contribute nothing, as they contribute nothing to the likelihood.
        """
        import torch

        observed = ~torch.isnan(x)
        return (observed.to(torch.float64) * self.log_jac.to(x.device)).sum(-1)

    def to_dict(self) -> dict:
        return {"features": [t.to_dict() for t in self.features]}

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessor":
        return cls([FeatureTransform.from_dict(t) for t in d["features"]])

    @classmethod
    def identity(cls, n_features: int) -> "Preprocessor":
        return cls([FeatureTransform() for _ in range(n_features)])

"""Student-t likelihood for heavy-tailed real data."""
from __future__ import annotations

from torch.distributions import StudentT, constraints

from autolik.likelihoods._common import CONC_FLOOR, SCALE_FLOOR
from autolik.likelihoods.base import Likelihood


class StudentTLikelihood(Likelihood):
    """p(x | z) = StudentT(df, loc, scale), loc = raw, scale >= 1e-3, df >= 1e-3 (softplus).

    Both ``df`` (degrees of freedom, default 5) and ``scale`` (default 1) are nuisance parameters:
    fixed / shared / feature (default) / sample, one mode for both, or a dict per parameter, e.g.
    ``mode={"df": "shared", "scale": "sample"}`` (Takahashi et al., 2018, decode both per sample).
    Raw layout per feature: loc, then the decoded ones of scale and df.
    """

    name = "student_t"
    discrete = False
    params = {"loc": constraints.real, "scale": constraints.positive, "df": constraints.positive}
    nuisance = {"scale": 1.0, "df": 5.0}
    default_mode = "feature"
    support = constraints.real
    paper = "Takahashi et al. (2018), Student-t Variational Autoencoder for Robust Density Estimation, IJCAI"

    def make_distribution(self, loc, scale, df):
        return StudentT(df.clamp_min(CONC_FLOOR), loc, scale.clamp_min(SCALE_FLOOR), validate_args=False)

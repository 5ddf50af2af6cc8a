"""A likelihood family from outside autolik, in one file: the Cauchy distribution.

Everything a family needs: its torch Likelihood, its quick scipy fit and its spec, registered with
``register_family`` (on import, as the built-in families are). No file of the package changes:
``tests/test_plugin_family.py`` shows the analyser considering it, ``autolik.fit`` training it
and ``autolik.compare`` trying it as a candidate.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize, stats
from torch.distributions import Cauchy, constraints

from autolik.families import FamilySpec, register_family
from autolik.likelihoods.base import Likelihood


class CauchyLikelihood(Likelihood):
    """p(x | z) = Cauchy(loc, scale), loc = raw, scale = softplus(.) >= 1e-3 (a nuisance parameter)."""

    name = "cauchy"
    discrete = False
    params = {"loc": constraints.real, "scale": constraints.positive}
    nuisance = {"scale": 1.0}
    default_mode = "feature"
    support = constraints.real

    def make_distribution(self, loc, scale):
        return Cauchy(loc, scale.clamp_min(1e-3), validate_args=False)

    def mean(self, raw):
        """The location: a Cauchy has no mean, and its median is the natural reconstruction."""
        return self.parameters_from_raw(raw)["loc"]


def fit_cauchy(train, test, **_):
    """Maximum-likelihood location and scale (from the median and half the interquartile range)."""
    med, half_iqr = np.median(train), max(stats.iqr(train) / 2, 1e-12)
    z = (train - med) / half_iqr

    def nll(p):
        return -stats.cauchy.logpdf(z, p[0], np.exp(p[1])).mean()

    p = optimize.minimize(nll, np.zeros(2), method="BFGS").x
    loc, scale = med + half_iqr * float(p[0]), half_iqr * float(np.exp(p[1]))
    return {"loc": loc, "scale": scale}, stats.cauchy.logpdf(test, loc, scale)


SPEC = register_family(FamilySpec(
    "cauchy", domain="real", supports={"real": 3}, n_params=2, fitter=fit_cauchy,
    likelihood=f"{__name__}.CauchyLikelihood", activations={"loc": "identity", "scale": "softplus"},
    nuisance=("scale",), display="Cauchy", robust_scale=True))

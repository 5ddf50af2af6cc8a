"""Quick maximum-likelihood fits of each family to a 1-D sample, scored on held-out values.

Each fitter takes training and test values *in model space* and returns ``(params, ll)`` where
``ll`` is the log-likelihood of every test value, array of shape (n_test,). Discrete fitters see
integers (``0..n`` for bounded families) and return log-masses; continuous fitters see (dequantised)
values and return log-densities, to which :mod:`autolik.analysis.selection.select` adds the Jacobian of the
preprocessing so all scores are in the data's own units.

Each family's spec (:mod:`autolik.families`) names its fitter here, ``fit_<family>``.
Closed forms where they exist (Gaussian, Laplace, Poisson, binomial, exponential, log-normal),
``scipy.stats`` fits or a small ``scipy.optimize`` search otherwise. Discrete fits work on the
distinct values and their counts, so they cost the same for 1,000 or 100,000 values.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize, special, stats

EPS = 1e-6


def _weighted(x):
    vals, counts = np.unique(x, return_counts=True)
    return vals, counts.astype(np.float64)


def _minimize(nll, x0):
    res = optimize.minimize(nll, np.asarray(x0, dtype=np.float64), method="BFGS", options={"gtol": 1e-5, "maxiter": 200})
    return res.x


# ------------------------------------------------------------------ continuous, real line


def fit_gaussian(tr, te, **_):
    mu, sd = tr.mean(), max(tr.std(), 1e-12)
    return {"loc": mu, "scale": sd}, stats.norm.logpdf(te, mu, sd)


def fit_laplace(tr, te, **_):
    mu = np.median(tr)
    b = max(np.mean(np.abs(tr - mu)), 1e-12)
    return {"loc": mu, "scale": b}, stats.laplace.logpdf(te, mu, b)


def t_logpdf(x, df, loc, scale):
    """Student-t log-density (vectorised; cheaper than ``scipy.stats.t.logpdf`` in a fit loop)."""
    z = (x - loc) / scale
    return (special.gammaln((df + 1) / 2) - special.gammaln(df / 2) - 0.5 * np.log(df * np.pi)
            - np.log(scale) - (df + 1) / 2 * np.log1p(z * z / df))


def fit_student_t(tr, te, **_):
    mu, sd = np.median(tr), max(stats.iqr(tr) / 1.35, 1e-12)
    z = (tr - mu) / sd  # fit on a robustly standardised copy, so the search is scale-free

    def nll(p):
        return -t_logpdf(z, np.exp(p[0]), p[1], np.exp(p[2])).mean()

    p = _minimize(nll, [np.log(5.0), 0.0, 0.0])
    df, loc, scale = float(np.exp(p[0])), mu + sd * float(p[1]), sd * float(np.exp(p[2]))
    return {"df": df, "loc": loc, "scale": scale}, t_logpdf(te, df, loc, scale)


# ------------------------------------------------------------------ continuous, positive


def fit_exponential(tr, te, **_):
    m = max(tr.mean(), 1e-300)
    return {"rate": 1.0 / m}, stats.expon.logpdf(te, scale=m)


def fit_gamma(tr, te, **_):
    tr = np.maximum(tr, 1e-300)
    # closed-form start (Minka 2002), then scipy's profile-likelihood MLE with loc fixed at 0
    a, _, scale = stats.gamma.fit(tr, floc=0)
    return {"concentration": a, "rate": 1.0 / scale}, stats.gamma.logpdf(te, a, scale=scale)


def fit_lognormal(tr, te, **_):
    lt = np.log(np.maximum(tr, 1e-300))
    mu, s = lt.mean(), max(lt.std(), 1e-12)
    return {"loc": mu, "scale": s}, stats.lognorm.logpdf(te, s, scale=np.exp(mu))


# ------------------------------------------------------------------ continuous, unit interval


def cb_log_norm(lam):
    """log C(lambda) of the continuous Bernoulli (Loaiza-Ganem & Cunningham, 2019), stable at 1/2."""
    lam = np.clip(np.asarray(lam, dtype=np.float64), EPS, 1 - EPS)
    t = 1.0 - 2.0 * lam
    small = np.abs(t) < 1e-3
    ts = np.where(small, 0.5, t)
    exact = np.log(2.0 * np.arctanh(ts) / ts)
    taylor = np.log(2.0) + np.log1p(t * t / 3.0 + t ** 4 / 5.0)
    return np.where(small, taylor, exact)


def cb_logpdf(x, lam):
    """Continuous Bernoulli log-density of x in [0, 1]."""
    lam = np.clip(lam, EPS, 1 - EPS)
    return x * np.log(lam) + (1 - x) * np.log1p(-lam) + cb_log_norm(lam)


def fit_continuous_bernoulli(tr, te, **_):
    m = tr.mean()

    def nll(logit):
        return -np.mean(cb_logpdf(m, special.expit(logit)))  # linear in x: the mean suffices

    logit = optimize.minimize_scalar(nll, bounds=(-30, 30), method="bounded").x
    lam = float(special.expit(logit))
    return {"probs": lam}, cb_logpdf(te, lam)


def fit_beta(tr, te, **_):
    tr, te = np.clip(tr, EPS, 1 - EPS), np.clip(te, EPS, 1 - EPS)
    m, v = tr.mean(), max(tr.var(), 1e-12)
    k = max(m * (1 - m) / v - 1, 1e-2)
    lt, l1 = np.log(tr).mean(), np.log1p(-tr).mean()

    def nll(p):  # sufficient statistics mean log x, mean log(1-x)
        a, b = np.exp(p)
        return -((a - 1) * lt + (b - 1) * l1 - special.betaln(a, b))

    a, b = np.exp(_minimize(nll, [np.log(m * k), np.log((1 - m) * k)]))
    return {"concentration1": a, "concentration0": b}, stats.beta.logpdf(te, a, b)


# ------------------------------------------------------------------ counts


def fit_poisson(tr, te, **_):
    lam = max(tr.mean(), 1e-12)
    return {"rate": lam}, stats.poisson.logpmf(te, lam)


def nb_logpmf(x, r, mu):
    """Negative-binomial log-mass with mean ``mu`` and dispersion ``r`` (NB2 parametrisation)."""
    return (special.gammaln(x + r) - special.gammaln(r) - special.gammaln(x + 1)
            + r * np.log(r / (r + mu)) + x * np.log(mu / (r + mu)))


def _nb_fit(vals, w, zi: bool):
    m = np.average(vals, weights=w)
    v = np.average((vals - m) ** 2, weights=w)
    r0 = m * m / (v - m) if v > m else 10.0

    def unpack(p):
        r, mu = np.exp(p[0]), np.exp(p[1])
        pi = special.expit(p[2]) if zi else 0.0
        return r, mu, pi

    def logpmf(x, p):
        r, mu, pi = unpack(p)
        lp = nb_logpmf(x, r, mu)
        if zi:
            lp = np.where(x == 0, np.logaddexp(np.log(pi), np.log1p(-pi) + lp), np.log1p(-pi) + lp)
        return lp

    x0 = [np.log(max(r0, 1e-3)), np.log(max(m, 1e-6))] + ([-2.0] if zi else [])
    p = _minimize(lambda p: -np.sum(w * logpmf(vals, p)) / w.sum(), x0)
    return p, logpmf, unpack


def fit_negative_binomial(tr, te, **_):
    p, logpmf, unpack = _nb_fit(*_weighted(tr), zi=False)
    r, mu, _ = unpack(p)
    return {"total_count": r, "mean": mu}, logpmf(te, p)


def zero_mass_poisson(params: dict, mean: float) -> float:
    """P(X = 0) under a Poisson fit (its ``rate``; else the data's mean)."""
    return float(np.exp(-params.get("rate", mean)))


def zero_mass_negative_binomial(params: dict, mean: float) -> float:
    """P(X = 0) under a negative-binomial fit: (r / (r + mu)) ** r."""
    r, mu = params["total_count"], params["mean"]
    return float((r / (r + mu)) ** r)


def fit_zero_inflated_negative_binomial(tr, te, **_):
    p, logpmf, unpack = _nb_fit(*_weighted(tr), zi=True)
    r, mu, pi = unpack(p)
    return {"total_count": r, "mean": mu, "gate": pi}, logpmf(te, p)


def fit_zero_inflated_poisson(tr, te, **_):
    vals, w = _weighted(tr)

    def logpmf(x, p):
        lam, pi = np.exp(p[0]), special.expit(p[1])
        lp = x * np.log(lam) - lam - special.gammaln(x + 1)
        return np.where(x == 0, np.logaddexp(np.log(pi), np.log1p(-pi) + lp), np.log1p(-pi) + lp)

    p = _minimize(lambda p: -np.sum(w * logpmf(vals, p)) / w.sum(), [np.log(max(tr.mean(), 1e-6)), -2.0])
    return {"rate": float(np.exp(p[0])), "gate": float(special.expit(p[1]))}, logpmf(te, p)


# ------------------------------------------------------------------ bounded integers 0..n


def fit_binomial(tr, te, n=1, **_):
    p = np.clip(tr.mean() / n, EPS, 1 - EPS)
    return {"probs": p}, stats.binom.logpmf(te, n, p)


def fit_beta_binomial(tr, te, n=1, **_):
    vals, w = _weighted(tr)
    m = np.clip(np.average(vals, weights=w) / n, 0.01, 0.99)

    def nll(p):
        return -np.sum(w * stats.betabinom.logpmf(vals, n, *np.exp(p))) / w.sum()

    a, b = np.exp(_minimize(nll, [np.log(2 * m), np.log(2 * (1 - m))]))
    return {"concentration1": a, "concentration0": b}, stats.betabinom.logpmf(te, n, a, b)


def dlogistic_logpmf(x, mu, s, n):
    """Discretised logistic on 0..n with the edge bins taking the tails (Salimans et al., 2017)."""
    upper = np.where(x >= n, np.inf, (x + 0.5 - mu) / s)
    lower = np.where(x <= 0, -np.inf, (x - 0.5 - mu) / s)
    # log(sigmoid(u) - sigmoid(l)) computed stably as log sigmoid(u) + log1p(-exp(l - u) ...)
    lsu = -np.logaddexp(0, -upper)
    lsl = -np.logaddexp(0, -lower)
    diff = np.where(np.isinf(lower), lsu, lsu + np.log(-np.expm1(np.minimum(lsl - lsu, -1e-12))))
    return diff


def fit_discretized_logistic(tr, te, n=1, **_):
    vals, w = _weighted(tr)
    m = np.average(vals, weights=w)
    sd = np.sqrt(np.average((vals - m) ** 2, weights=w)) + 0.5

    def nll(p):
        return -np.sum(w * dlogistic_logpmf(vals, p[0], np.exp(p[1]), n)) / w.sum()

    mu, ls = _minimize(nll, [m, np.log(sd * np.sqrt(3) / np.pi)])
    return {"loc": mu, "scale": float(np.exp(ls))}, dlogistic_logpmf(te, mu, np.exp(ls), n)


def fit_categorical(tr, te, n=1, **_):
    k = int(n) + 1
    counts = np.bincount(tr.astype(np.int64), minlength=k)[:k] + 0.5  # Jeffreys smoothing
    logp = np.log(counts / counts.sum())
    idx = np.clip(te.astype(np.int64), 0, k - 1)
    return {"probs": (counts / counts.sum()).tolist() if k <= 16 else f"{k} levels"}, logp[idx]


def fit_bernoulli(tr, te, **_):
    p = (tr.sum() + 0.5) / (tr.size + 1.0)
    return {"probs": p}, np.where(te > 0.5, np.log(p), np.log1p(-p))


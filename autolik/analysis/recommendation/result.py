"""The analyser's result: :class:`Recommendation` for a dataset, one :class:`FeatureChoice` per feature.

These dataclasses are the contract between the analyser and everything downstream (likelihood
construction, the VAE, the CLI, the model directory). They are built by
:mod:`autolik.analysis.recommendation.build` and returned by
:func:`autolik.analysis.recommendation.recommend.recommend` (which re-exports them). Plain data:
torch is imported only by the methods that build torch objects.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from autolik.transforms import FeatureTransform, Preprocessor


@dataclass
class FeatureChoice:
    """The likelihood chosen for one feature, or for one group of columns (a one-hot block).

    Attributes:
        name: feature name (for a one-hot block, the names joined, e.g. ``"x3..x6"``).
        columns: the dataset columns this choice models (one, or a one-hot block).
        support: the support class from the profile.
        likelihood: registry name (``"poisson"``); ``None`` when the feature is left out.
        options: keyword options for the likelihood (``total_count``, ``n_levels``, ``onehot``,
            ``mode`` for scale/shape parameters).
        transform: the affine preprocessing into model space (with dequantisation step).
        activation: parameter -> activation name, e.g. ``{"loc": "identity", "scale": "softplus"}``.
        loss: what the negative log-likelihood amounts to, e.g. ``"binary cross-entropy"``.
        rationale: one sentence naming the statistics that decided it.
        confidence: in [0, 1].
        alternatives: ranked ``{"likelihood", "score"}`` dicts (score: held-out mean log-likelihood
            per value on the fit sample, or another documented score).
        used: False for features left out of the model (constant, identifier, date/time).
    """

    name: str
    columns: list[int]
    support: str
    likelihood: str | None
    options: dict[str, Any] = field(default_factory=dict)
    transform: FeatureTransform = field(default_factory=FeatureTransform)
    activation: dict[str, str] = field(default_factory=dict)
    loss: str = ""
    rationale: str = ""
    confidence: float = 1.0
    alternatives: list[dict] = field(default_factory=list)
    used: bool = True

    def to_dict(self) -> dict:
        d = asdict(self)
        d["transform"] = self.transform.to_dict()
        d["preprocessing"] = self.transform.description
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureChoice":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        d["transform"] = FeatureTransform.from_dict(d.get("transform", {}))
        return cls(**d)


@dataclass
class Recommendation:
    """The analyser's recommendation for a whole dataset.

    ``likelihood`` is one family when the used features agree, else ``"mixed"`` (then
    ``features`` holds each one's family). ``activation``, ``loss`` and ``preprocessing``
    describe the whole-array choice for display; ``features`` is what models are built from.
    """

    likelihood: str
    activation: dict[str, str]
    loss: str
    preprocessing: list[str]
    rationale: str
    confidence: float
    alternatives: list[dict]
    features: list[FeatureChoice]
    n_columns: int  # columns of the dataset's (n_samples, n_features) view
    image_shape: tuple | None = None  # (C, H, W) when the data is a batch of images
    notes: list[str] = field(default_factory=list)
    # False when a forced family is not a normalised likelihood for this data (e.g. plain
    # Bernoulli on continuous [0,1] values); `caveat` then says why its numbers do not compare.
    comparable: bool = True
    caveat: str = ""

    # -- which columns the model sees ---------------------------------------------------
    @property
    def used(self) -> list[FeatureChoice]:
        return [f for f in self.features if f.used]

    @property
    def used_columns(self) -> list[int]:
        return [c for f in self.used for c in f.columns]

    def preprocessor(self) -> Preprocessor:
        """Affine transforms of the used columns, in ``used_columns`` order."""
        from autolik.likelihoods import likelihood_class

        out = []
        for f in self.used:
            discrete = likelihood_class(f.likelihood).discrete
            for _ in f.columns:
                t = FeatureTransform(**f.transform.to_dict())
                t.continuous = not discrete
                if discrete:
                    t.step = 0.0
                out.append(t)
        return Preprocessor(out)

    def likelihood_module(self):
        """The likelihood over the used columns: one family, or a composite for mixed data."""
        from autolik.likelihoods.composite import build_likelihood

        return build_likelihood(self.used)

    def head(self, in_features: int):
        """A ``LikelihoodHead`` for a user's own decoder: Linear(in_features, n_raw) + likelihood."""
        from autolik.likelihoods import LikelihoodHead

        return LikelihoodHead(in_features, self.likelihood_module())

    def prepare(self, X, dequantize: bool = False):
        """Select the used columns of X (array-like (n, n_columns)) and map them to model space."""
        import torch

        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)[:, self.used_columns]
        return self.preprocessor().forward(torch.from_numpy(X), dequantize=dequantize)

    def activation_modules(self) -> dict:
        """Torch activation module per distribution parameter, for a user's own decoder.

        One family: ``{param: nn.Module}``, e.g. ``{"probs": Sigmoid()}`` for Bernoulli or
        ``{"loc": Identity(), "scale": Softplus()}`` for a Gaussian. Use them to turn raw outputs
        into parameters (e.g. a reconstruction's mean); :meth:`loss_fn` takes the RAW outputs and
        applies them itself (as logits where that is more stable: BCE-with-logits).
        Mixed data: ``{family: {param: nn.Module}}``.
        """
        from autolik.likelihoods import activation_module, likelihood_class

        def one(fam):
            return {p: activation_module(a) for p, a in likelihood_class(fam).output_activations().items()}

        fams = sorted({f.likelihood for f in self.used})
        return one(fams[0]) if len(fams) == 1 else {fam: one(fam) for fam in fams}

    def loss_fn(self):
        """``loss(raw, x) -> (batch,)`` negative log-likelihood in model space.

        ``raw`` is the decoder's raw output of shape (batch, n_raw) with
        ``n_raw = rec.likelihood_module().n_raw``; ``x`` is ``rec.prepare(X)`` (model space).
        Add ``rec.preprocessor().log_abs_det_jacobian(x_original)`` for data-unit numbers.
        """
        lik = self.likelihood_module()

        def loss(raw, x):
            return -lik.log_prob(raw, x)

        loss.likelihood = lik
        return loss

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "features"}
        d["features"] = [f.to_dict() for f in self.features]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Recommendation":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        d["features"] = [FeatureChoice.from_dict(f) for f in d["features"]]
        if d.get("image_shape") is not None:
            d["image_shape"] = tuple(d["image_shape"])
        return cls(**d)


# --------------------------------------------------------------------------- display

MAX_SHOWN = 8  # left-out feature names shown
MAX_ALTERNATIVES = 5
MAX_NOTES = 5


def describe(rec: Recommendation) -> dict[str, str]:
    """The Recommendation's display strings, label -> text, in the order they are shown.

    The one rendering every output uses (``inspect``, ``fit``'s announcement, ``compare``'s
    leaderboard cells); sections without content (no alternatives, nothing left out, no caveat)
    are absent.
    """
    out = {"likelihood": f"{rec.likelihood}  (confidence {rec.confidence:.2f})"}
    if rec.activation:
        out["activation"] = ", ".join(f"{p} -> {a}" for p, a in rec.activation.items())
    pre = rec.preprocessing if isinstance(rec.preprocessing, (list, tuple)) else [str(rec.preprocessing)]
    out.update(loss=rec.loss or "-", preprocessing="; ".join(pre) or "none", why=rec.rationale or "-")
    if rec.alternatives:
        out["alternatives"] = ", ".join(f"{a['likelihood']} ({a['score']:.4f} nats/value)"
                                        for a in rec.alternatives[:MAX_ALTERNATIVES])
    left_out = [f.name for f in rec.features if not f.used]
    if left_out:
        out["left out"] = ", ".join(left_out[:MAX_SHOWN]) + (" ..." if len(left_out) > MAX_SHOWN else "")
    if not rec.comparable and rec.caveat:
        out["caveat"] = rec.caveat
    return out


def render(rec: Recommendation, title: str = "recommendation", notes: bool = True) -> list[str]:
    """The Recommendation as aligned lines: ``title: family (confidence)``, then one indented line per
    section of :func:`describe`, then (``notes``) its first notes."""
    fields = describe(rec)
    lines = [f"{title}: {fields.pop('likelihood')}"]
    lines += [f"  {label + ':':<14} {text}" for label, text in fields.items()]
    if notes:
        lines += [f"  {'note:':<14} {n}" for n in (rec.notes or [])[:MAX_NOTES]]
    return lines

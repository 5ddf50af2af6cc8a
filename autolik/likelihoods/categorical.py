"""Categorical likelihood: softmax + cross-entropy, for K unordered levels per feature."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Categorical, constraints

from autolik.errors import UsageError
from autolik.likelihoods.base import Likelihood


class CategoricalLikelihood(Likelihood):
    """p(x | z) = Categorical(softmax(logits)) per feature, K raw logits per feature (identity).

    Options:
        n_levels: K >= 2, the number of levels (required).
        onehot: False (default): x holds integer codes 0..K-1, one column per feature.
            True: x arrives as a one-hot block of K columns per feature (feature-major: columns
            f*K .. f*K+K-1 are feature f), so ``n_columns = K * n_features``; a block with any NaN
            is missing.

    ``mean`` returns, for one-hot data, the class probabilities (the expected one-hot vector);
    for codes, whose average is meaningless, the most probable code (documented deviation).
    """

    name = "categorical"
    fused = {"logits": ("probs", "softmax")}
    discrete = True
    params = {"logits": constraints.real}
    activations = {"logits": "identity"}
    support = constraints.nonnegative_integer
    paper = "Bishop (2006), Pattern Recognition and Machine Learning, sec. 4.3.4 (softmax + cross-entropy)"
    option_defaults = {"n_levels": None, "onehot": False}

    def check_options(self):
        k = self.options["n_levels"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 2:
            raise UsageError(f"categorical needs n_levels=K (an int >= 2, the number of levels), got {k!r}")
        self.options["onehot"] = bool(self.options["onehot"])

    @property
    def n_levels(self) -> int:
        return self.options["n_levels"]

    def param_width(self, param):
        return self.n_levels

    @property
    def n_columns(self) -> int:
        return self.n_features * (self.n_levels if self.options["onehot"] else 1)

    def make_distribution(self, logits):
        return Categorical(logits=logits, validate_args=False)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """x (batch, n_columns) -> codes (batch, n_features), NaN where missing."""
        if not self.options["onehot"]:
            return x
        block = x.reshape(*x.shape[:-1], self.n_features, self.n_levels)
        codes = block.nan_to_num(0.0).argmax(-1).to(x.dtype)
        return torch.where(torch.isnan(block).any(-1), torch.full_like(codes, float("nan")), codes)

    def log_prob(self, raw, x):
        """Log-probability per sample, shape (batch,); x of shape (batch, n_columns); NaN masked.

        Softmax + cross-entropy straight on the raw layout (K, n_features) with
        ``F.cross_entropy``: the same value as ``Categorical(logits).log_prob``, about 2.5x faster
        than normalising the transposed (n_features, K) logits.
        """
        if raw.shape[-1] != self.n_raw:
            raise ValueError(f"{self.name}: expected {self.n_raw} raw outputs, got {raw.shape[-1]}")
        codes = self.codes(x)
        mask = torch.isnan(codes)
        logits = raw.reshape(-1, self.n_levels, self.n_features)
        target = codes.nan_to_num(0.0).long().reshape(-1, self.n_features)
        lp = -F.cross_entropy(logits, target, reduction="none").reshape(codes.shape)
        return torch.where(mask, torch.zeros((), dtype=lp.dtype), lp).sum(-1)

    def mean(self, raw):
        """(batch, n_columns): class probabilities (one-hot) or the most probable code (codes)."""
        d = self.distribution(raw)
        if self.options["onehot"]:
            return d.probs.flatten(-2)
        return d.probs.argmax(-1).to(raw.dtype)

    def sample(self, raw):
        """(batch, n_columns): a one-hot block per feature, or codes."""
        s = self.distribution(raw).sample()
        if self.options["onehot"]:
            return F.one_hot(s, self.n_levels).flatten(-2).to(raw.dtype)
        return s.to(raw.dtype)

"""Encoder and decoder networks: MLPs for tables, small convolutional nets for image batches.

Every encoder maps x of shape (batch, n_inputs) (NaN already imputed; the missingness mask
optionally concatenated) to ``2 * latent_dim`` numbers (posterior location and raw scale).
Every decoder maps z of shape (batch, latent_dim) to the likelihood's raw outputs,
shape (batch, n_raw).

The convolutional pair follows the usual VAE image architecture (two stride-2 convolutions with
32 and 64 channels, then a linear layer; the decoder mirrors it with transposed convolutions).
The encoder uses kernel 3 / stride 2 / padding 1, so each layer maps a side ``s`` to
``ceil(s / 2)``; the decoder's kernel-4 transposed convolutions double the side, and the output is
cropped to (H, W). Any H, W >= 1 works (28x28 MNIST, 8x8 digits, odd sizes).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU, "tanh": nn.Tanh}
CONV_CHANNELS = (32, 64)


def default_hidden(n_inputs: int) -> list[int]:
    """Two hidden layers of ``min(512, max(64, 2 * n_inputs))`` units."""
    return [min(512, max(64, 2 * int(n_inputs)))] * 2


def default_latent(n_inputs: int) -> int:
    """``min(32, max(2, n_inputs // 4))`` latent dimensions."""
    return min(32, max(2, int(n_inputs) // 4))


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def mlp(n_in: int, hidden: Sequence[int], n_out: int, act: str = "relu") -> nn.Sequential:
    """Linear -> act -> ... -> Linear, from n_in to n_out through the ``hidden`` widths."""
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, int(h)), activation(act)]
        width = int(h)
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def _half(s: int, times: int) -> int:
    for _ in range(times):
        s = math.ceil(s / 2)
    return s


class ConvEncoder(nn.Module):
    """(batch, C*H*W [+ C*H*W mask]) -> (batch, n_out) through two stride-2 convolutions.

    Args:
        image_shape: (C, H, W) of one sample; x is laid out in C, H, W order.
        in_channels: channels fed to the first convolution (C, or 2C with the missingness mask).
        hidden: widths of the linear layers after the convolutions.
        n_out: output width (2 * latent_dim).
    """

    def __init__(self, image_shape: Sequence[int], in_channels: int, hidden: Sequence[int], n_out: int,
                 act: str = "relu"):
        super().__init__()
        _, h, w = (int(s) for s in image_shape)
        self.in_shape = (in_channels, h, w)
        c1, c2 = CONV_CHANNELS
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, stride=2, padding=1), activation(act),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), activation(act),
        )
        self.head = mlp(c2 * _half(h, 2) * _half(w, 2), hidden, n_out, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.reshape(x.shape[0], *self.in_shape))
        return self.head(h.flatten(1))


class ConvDecoder(nn.Module):
    """(batch, latent) -> raw outputs (batch, n_raw) through two stride-2 transposed convolutions.

    When the likelihood lays its raw outputs out as ``raw_per_feature`` blocks of C*H*W values
    (the base ``Likelihood`` layout), the last layer emits ``raw_per_feature * C`` channels at
    H x W and is flattened block-wise, so raw parameter p of pixel (c, i, j) comes from channel
    ``p * C + c``. Otherwise (e.g. a composite or one-hot head) a final linear layer maps the
    flattened feature map to ``n_raw``.

    Args:
        image_shape: (C, H, W) of one sample.
        latent_dim: size of z.
        hidden: widths of the linear layers before the transposed convolutions.
        n_raw: number of raw outputs per sample.
        out_channels: ``raw_per_feature * C`` when the block layout applies, else None.
    """

    def __init__(self, image_shape: Sequence[int], latent_dim: int, hidden: Sequence[int], n_raw: int,
                 out_channels: int | None, act: str = "relu"):
        super().__init__()
        c, h, w = (int(s) for s in image_shape)
        self.h, self.w = h, w
        c1, c2 = CONV_CHANNELS
        self.start = (c2, _half(h, 2), _half(w, 2))
        self.fc = nn.Sequential(mlp(latent_dim, hidden, math.prod(self.start), act), activation(act))
        last = out_channels if out_channels is not None else c1
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), activation(act),
            nn.ConvTranspose2d(c1, last, 4, stride=2, padding=1),
        )
        self.final = None if out_channels is not None else nn.Sequential(activation(act), nn.Linear(last * h * w, n_raw))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.deconv(self.fc(z).reshape(z.shape[0], *self.start))
        h = h[:, :, : self.h, : self.w].flatten(1)
        return h if self.final is None else self.final(h)

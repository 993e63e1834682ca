"""Arbitrary style transfer with adaptive instance normalisation (Huang and Belongie 2017).

The encoder is any backbone of the registry (its taps); this module holds the AdaIN
operation and the trained decoder. Departure from the paper: AdaIN is applied at
several encoder levels (three by default) and the decoder fuses them from the deepest
up, U-Net style, instead of decoding one ``relu4_1`` map. With a small ImageNet
encoder (EfficientNet-Lite0, 80 channels at 1/16) one level alone loses the face's
detail; the shallower levels carry it back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AdaINDecoder", "adaptive_instance_norm", "blend_adain", "mean_std"]


def mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation over positions, each (B, C, 1, 1)."""
    var, mean = torch.var_mean(features, dim=(-2, -1), keepdim=True, correction=0)
    return mean, (var + eps).sqrt()


def adaptive_instance_norm(
    content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y); content (B, C, H, W),
    style statistics (B or 1, C, 1, 1)."""
    mean, std = mean_std(content, eps)
    return (content - mean) / std * style_std + style_mean


def blend_adain(
    content: torch.Tensor,
    styles: Sequence[tuple[torch.Tensor, torch.Tensor]],
    weights: Sequence[float],
    alpha: float = 1.0,
) -> torch.Tensor:
    """``alpha * sum_k w_k AdaIN(content, style_k) + (1 - alpha) * content`` (paper eq. 13-14).

    AdaIN is affine in the style's (mean, std), so the weighted sum of AdaIN outputs is
    AdaIN with the weighted statistics: one normalisation whatever the number of styles.
    """
    mean = sum(w * m for (m, _), w in zip(styles, weights, strict=True))
    std = sum(w * s for (_, s), w in zip(styles, weights, strict=True))
    assert isinstance(mean, torch.Tensor) and isinstance(std, torch.Tensor)
    t = adaptive_instance_norm(content, mean, std)
    return t if alpha >= 1.0 else alpha * t + (1.0 - alpha) * content


def _conv(in_ch: int, out_ch: int, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(in_ch, out_ch, 3)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class AdaINDecoder(nn.Module):
    """Decode AdaIN targets at several encoder levels to an RGB image.

    Args:
        channels: channels of each level, shallow to deep (e.g. (24, 40, 80)).
        strides: the levels' strides relative to the input (e.g. (4, 8, 16)), powers of 2.
        widths: decoder channels at each level (default: twice the level's, at least 16).

    ``forward(features, size)`` takes the level tensors (shallow to deep) and the output
    size (H, W); returns (B, 3, H, W), unclamped.
    """

    def __init__(self, channels: Sequence[int], strides: Sequence[int], widths: Sequence[int] | None = None) -> None:
        super().__init__()
        if len(channels) != len(strides) or not channels:
            raise ValueError("channels and strides need one entry per level")
        if any(s < 1 or s & (s - 1) for s in strides) or list(strides) != sorted(strides):
            raise ValueError(f"strides must be increasing powers of two, got {tuple(strides)}")
        if strides[0] < 2:
            raise ValueError("the shallowest level must have stride >= 2")
        widths = list(widths) if widths is not None else [max(16, min(2 * c, 96)) for c in channels]
        self.channels, self.strides, self.widths = tuple(channels), tuple(strides), tuple(widths)
        self.entry = _conv(channels[-1], widths[-1])
        self.fuse = nn.ModuleList(
            nn.Sequential(_conv(widths[i + 1] + channels[i], widths[i]), _conv(widths[i], widths[i]))
            for i in reversed(range(len(channels) - 1))
        )
        tail: list[nn.Module] = []
        ch, stride = widths[0], strides[0]
        while stride > 2:
            out = max(16, ch // 2)
            tail.append(_conv(ch, out))
            ch, stride = out, stride // 2
        self.tail = nn.ModuleList(tail)
        self.head = _conv(ch, 3, relu=False)

    def forward(self, features: Sequence[torch.Tensor], size: tuple[int, int] | None = None) -> torch.Tensor:
        """``size=None`` upsamples by exact factors of two (inputs whose sides are
        multiples of the deepest stride; the form ONNX export traces)."""
        x = self.entry(features[-1])
        for layer, skip, ratio in zip(self.fuse, reversed(features[:-1]), self._ratios(), strict=True):
            if size is None:
                x = F.interpolate(x, scale_factor=float(ratio), mode="nearest")
            else:
                x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
            x = layer(torch.cat([x, skip], 1))
        if size is None:
            for layer in self.tail:
                x = layer(F.interpolate(x, scale_factor=2.0, mode="nearest"))
            return self.head(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        h, w = size
        for i, layer in enumerate(self.tail):
            # x2 up to ceil(size / 2^k), the sizes the encoder's strided convolutions produced
            k = len(self.tail) - i
            x = layer(F.interpolate(x, size=(-(-h // 2**k), -(-w // 2**k)), mode="nearest"))
        return self.head(F.interpolate(x, size=size, mode="nearest"))

    def _ratios(self) -> list[int]:
        """Upsampling factor into each fused level, deep to shallow."""
        return [self.strides[i + 1] // self.strides[i] for i in reversed(range(len(self.strides) - 1))]

"""Image transformation network for per-style feed-forward transfer.

Johnson et al. 2016 ("Perceptual Losses for Real-Time Style Transfer") with Ulyanov
et al.'s instance normalisation and Odena et al.'s resize-convolution upsampling.
Departure from the paper, measured in ``benchmarks/fast.py``: a CPU-first shape. The
first convolution already has stride 2 and there are three downsamplings (to 1/8, with
16-32-64 channels), three residual blocks, and a single 3x3 convolution at full
resolution (the paper: 9x9 convolutions at full resolution, two downsamplings,
32-64-128 channels, five blocks). That is about 1/5 of the paper's multiply-adds per
pixel, so a 512 px photo takes tens of milliseconds on two CPU cores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TransformerNet", "TransformerNetConfig"]


@dataclass(frozen=True)
class TransformerNetConfig:
    width: int = 16  # channels after the first convolution; doubled at each downsampling
    downsamples: int = 3
    res_blocks: int = 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _ConvNormReLU(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, relu: bool = True) -> None:
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(kernel // 2),
            nn.Conv2d(in_ch, out_ch, kernel, stride),
            nn.InstanceNorm2d(out_ch, affine=True),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class _Residual(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_ConvNormReLU(ch, ch, 3), _ConvNormReLU(ch, ch, 3, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _Upsample(nn.Module):
    """Nearest x2 then convolution (no transposed-convolution checkerboard)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = _ConvNormReLU(in_ch, out_ch, 3)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class TransformerNet(nn.Module):
    """RGB [0, 1] (B, 3, H, W) -> stylised RGB (B, 3, H, W), unclamped. Any H x W works:
    each upsampling returns to the exact size its downsampling came from."""

    def __init__(self, config: TransformerNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or TransformerNetConfig()
        if cfg.width < 1 or cfg.downsamples < 1 or cfg.res_blocks < 0:
            raise ValueError(f"invalid TransformerNetConfig {cfg}")
        chans = [3] + [cfg.width * 2**i for i in range(cfg.downsamples)]
        self.down = nn.ModuleList(_ConvNormReLU(chans[i], chans[i + 1], 3, 2) for i in range(cfg.downsamples))
        self.res = nn.Sequential(*(_Residual(chans[-1]) for _ in range(cfg.res_blocks)))
        self.up = nn.ModuleList(_Upsample(chans[i + 1], chans[i]) for i in reversed(range(1, cfg.downsamples)))
        self.head = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(chans[1], 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = []
        for layer in self.down:
            sizes.append((x.shape[-2], x.shape[-1]))
            x = layer(x)
        x = self.res(x)
        for layer, size in zip(self.up, reversed(sizes[1:]), strict=True):
            x = layer(x, size)
        return self.head(F.interpolate(x, size=sizes[0], mode="nearest"))

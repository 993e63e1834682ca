"""The pencil-sketch preset: a grey, line-led portrait on paper, from the photo alone.

No exemplar and no network: the lines are the photo's own structure (a colour-dodge
of the grey image by its blurred negative, the classic pencil-sketch blend, which
draws edges dark and leaves flat areas as paper), the shading is a procedural pencil
texture (strokes made by smearing noise along a direction, one layer per tone band,
crossing in the shadows), and the paper is a faint grain. The face stays the photo's
geometry, so it stays the person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image

from painterly.errors import ConfigError
from painterly.image import ImageInput, load_image, pil_to_tensor, resize_long_side, tensor_to_pil

__all__ = ["SketchConfig", "SketchResult", "pencil_sketch", "sketch_portrait", "sketch_tensor"]


@dataclass(kw_only=True)
class SketchConfig:
    """``line_width``: blur of the dodge in pixels per 512 px of output (thicker lines
    when larger); ``shading``: how dark the hatching gets (0 = lines only);
    ``stroke_length``: pencil strokes in pixels per 512 px; ``seed``: the texture."""

    size: int | None = 512
    line_width: float = 3.0
    shading: float = 0.55
    stroke_length: float = 15.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 16:
            raise ConfigError(f"size must be at least 16 pixels, got {self.size}")
        for name in ("line_width", "stroke_length"):
            if not getattr(self, name) > 0 or not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be a finite number > 0, got {getattr(self, name)}")
        if not 0.0 <= self.shading <= 1.0:
            raise ConfigError(f"shading must be between 0 and 1, got {self.shading}")


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.pad(x, [radius, radius, 0, 0], mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    x = F.pad(x, [0, 0, radius, radius], mode="replicate")
    return F.conv2d(x, k.view(1, 1, -1, 1))


def _strokes(h: int, w: int, angle: float, length: int, generator: torch.Generator) -> torch.Tensor:
    """(1, 1, H, W) in [0, 1]: noise smeared along ``angle`` (pencil strokes)."""
    noise = (torch.rand(1, 1, h, w, generator=generator) > 0.82).float()
    k = torch.zeros(length, length)
    c = (length - 1) / 2
    for i in range(length):
        t = i - c
        x, y = round(c + t * math.cos(angle)), round(c + t * math.sin(angle))
        k[y, x] = 1.0
    k = k / k.sum()
    pad = length // 2
    out = F.conv2d(F.pad(noise, [pad, length - 1 - pad, pad, length - 1 - pad], mode="circular"), k[None, None])
    return (out / out.amax().clamp_min(1e-6)).clamp(0, 1)


def sketch_tensor(x: torch.Tensor, config: SketchConfig | None = None) -> torch.Tensor:
    """(1, 3, H, W) RGB in [0, 1] -> a grey pencil sketch (1, 3, H, W) in [0, 1]."""
    cfg = config or SketchConfig()
    x = x.float().cpu()
    h, w = x.shape[-2:]
    unit = max(h, w) / 512
    grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).clamp(0, 1)
    # lines: colour dodge of the grey image by its blurred negative
    blurred_negative = _gaussian(1 - grey, max(0.5, cfg.line_width * unit))
    lines = (grey / (1 - blurred_negative).clamp_min(1e-3)).clamp(0, 1)
    lines = lines**2  # a firmer pencil
    # tone: smoothed darkness decides how many hatching layers a place gets
    dark = 1 - _gaussian(grey, max(1.0, 2.5 * unit))
    generator = torch.Generator().manual_seed(cfg.seed)
    length = max(3, int(cfg.stroke_length * unit) | 1)
    shade = torch.zeros_like(grey)
    for band, angle in ((0.25, math.radians(35)), (0.5, math.radians(-55)), (0.72, math.radians(80))):
        layer = _strokes(h, w, angle, length, generator)
        weight = ((dark - band) / 0.2).clamp(0, 1)
        shade = shade + weight * layer
    shade = (shade / 2.2).clamp(0, 1)
    paper = 1 - 0.04 * _gaussian(torch.rand(1, 1, h, w, generator=generator), 0.8 * max(1.0, unit))
    out = (lines * (1 - cfg.shading * shade) * paper).clamp(0, 1)
    return out.expand(-1, 3, -1, -1).contiguous()


def pencil_sketch(photo: ImageInput, config: SketchConfig | None = None) -> Image.Image:
    """A grey pencil sketch of ``photo`` at ``config.size`` (long side; None: as is)."""
    cfg = config or SketchConfig()
    img = load_image(photo)
    if cfg.size is not None:
        img = resize_long_side(img, cfg.size)
    return tensor_to_pil(sketch_tensor(pil_to_tensor(img), cfg))


@dataclass
class SketchResult:
    image: Image.Image
    identity: list[float | None]  # per face found in the photo: dlib distance photo -> sketch
    seconds: float


def sketch_portrait(photo: ImageInput, config: SketchConfig | None = None, *, device: str = "auto") -> SketchResult:
    """:func:`pencil_sketch` plus the identity distance of every face (dlib only measures)."""
    import time

    from painterly.faces.detection import shared_detector
    from painterly.faces.identity import identity_distance

    t0 = time.perf_counter()
    img = load_image(photo)
    sketch = pencil_sketch(img, config)
    ids: list[float | None] = []
    for face in shared_detector(20.0, device)(img):
        try:
            ids.append(identity_distance(img, sketch, face))
        except Exception:  # a face too small or too faint to embed
            ids.append(None)
    return SketchResult(sketch, ids, time.perf_counter() - t0)

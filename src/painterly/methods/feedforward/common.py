"""What the feed-forward stylizers (per-style networks, AdaIN) share: input padding,
the user's output controls (original colours, a region mask), style-mix weights, the
training result and sample tiles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from painterly.errors import ConfigError
from painterly.image import ImageInput, load_image, original_colors, pil_to_tensor, resize_long_side, scaled_size
from painterly.methods.feedforward.options import FastOptions

__all__ = [
    "MIN_SIDE",
    "FastOptions",
    "MemoryCheck",
    "TrainResult",
    "finish_output",
    "load_mask",
    "load_photo",
    "normalised_weights",
    "pad_to_min_side",
    "photo_smooth",
    "sample_tiles",
]

MIN_SIDE = 32  # smaller inputs are padded: instance norm needs > 1 position at 1/8


@dataclass
class TrainResult:
    path: Path
    steps: int
    seconds: float
    history: list[dict[str, Any]]
    skipped: list[tuple[Path, str]]
    backbone: str


class MemoryCheck:
    """Estimate-then-refuse for a forward pass: the activation elements a network makes
    per input pixel, measured once with hooks on a 64 px probe, times the pixels asked
    for, against the device's free memory. Counting every activation (inference frees
    most of them) makes the estimate cautious."""

    def __init__(self, forward: Any, modules: Sequence[torch.nn.Module], device: torch.device) -> None:
        self.forward, self.modules, self.device = forward, list(modules), device
        self._per_pixel: float | None = None

    def per_pixel(self) -> float:
        if self._per_pixel is None:
            count = 0

            def hook(_m: torch.nn.Module, _i: object, out: object) -> None:
                nonlocal count
                if isinstance(out, torch.Tensor):
                    count += out.numel()

            leaves = [m for module in self.modules for m in module.modules() if not list(m.children())]
            handles = [m.register_forward_hook(hook) for m in leaves]
            try:
                with torch.inference_mode():
                    self.forward(torch.zeros(1, 3, 64, 64, device=self.device))
            finally:
                for h in handles:
                    h.remove()
            self._per_pixel = (count + 3 * 64 * 64 * 4) / (64 * 64)  # + input, output and their copies
        return self._per_pixel

    def __call__(self, height: int, width: int, batch: int = 1) -> None:
        """Raise :class:`MemoryBudgetError` when ``batch`` images of ``height`` x
        ``width`` would not fit, with the largest long side that does."""
        from painterly.device import available_memory
        from painterly.errors import MemoryBudgetError

        per_pixel = 4 * self.per_pixel() * batch
        have = int(available_memory(self.device) * 0.8) - (256 << 20)
        need = per_pixel * height * width
        if need <= have:
            return
        scale = math.sqrt(max(have, 0) / per_pixel / (height * width))
        fit = int(max(height, width) * scale)
        raise MemoryBudgetError(
            f"{width}x{height} needs about {need / 2**30:.1f} GB but {max(have, 0) / 2**30:.1f} GB of "
            f"{self.device.type} memory is free; the largest size that fits is about {fit} px (size={fit})"
        )


def pad_to_min_side(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad images smaller than :data:`MIN_SIDE` px (replicate) so every H x W works;
    returns the padded batch and the size to crop back to."""
    h, w = x.shape[-2:]
    ph, pw = max(0, MIN_SIDE - h), max(0, MIN_SIDE - w)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


def finish_output(
    y: torch.Tensor, content: torch.Tensor, colors: str | None, mask: torch.Tensor | None
) -> torch.Tensor:
    """Clamp, then the user's controls: original colours and a region mask
    ((B, 1, H, W) in [0, 1]; 1 = stylised, 0 = the photo)."""
    y = y.clamp(0, 1)
    if colors is not None:
        y = original_colors(y, content, colors)
    if mask is not None:
        y = mask * y + (1 - mask) * content
    return y


def photo_smooth(y: torch.Tensor, content: torch.Tensor, radius: int | None = None, eps: float = 1e-4) -> torch.Tensor:
    """Photorealistic smoothing of stylised ``y`` (B, 3, H, W) with ``content`` as the
    guide: the fast guided filter (:func:`~painterly.image.smooth.guided_filter`) fits
    the local colour mapping from the photo to ``y`` on 4x smaller images and applies it
    to the full-size photo, so every edge of the photo stays. Radius: 1/32 of the long
    side unless given (measured in benchmarks/photo.py)."""
    from painterly.image.smooth import guided_filter

    long_side = max(y.shape[-2:])
    r = radius if radius is not None else max(2, round(long_side / 32))
    sub = 4 if long_side >= 256 else 1
    out = []
    for yi, ci in zip(y, content, strict=True):
        g = ci.permute(1, 2, 0).float().cpu().numpy()
        f = guided_filter(g, yi.permute(1, 2, 0).float().cpu().numpy(), r, eps, subsample=sub)
        out.append(torch.from_numpy(f).permute(2, 0, 1))
    return torch.stack(out).to(y.device, y.dtype).clamp(0, 1)


def load_photo(content: ImageInput, size: int | None, check_memory: MemoryCheck) -> Image.Image:
    """The photo as RGB, its long side resized to ``size`` (None: as is); the size is
    checked against memory before the resize allocates it."""
    img = load_image(content)
    if size is not None:
        check_memory(*scaled_size(img.height, img.width, size))
        img = resize_long_side(img, size)
    return img


def load_mask(mask: ImageInput | torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A mask image (white = stylise) or tensor -> (1, 1, H, W) in [0, 1] at ``size`` (W, H)."""
    if isinstance(mask, torch.Tensor):
        m = mask.float()
        while m.dim() < 4:
            m = m.unsqueeze(0)
        return F.interpolate(m[:, :1], size=(size[1], size[0]), mode="bilinear")
    img = load_image(mask, name=None).convert("L").resize(size, Image.Resampling.BILINEAR)
    return pil_to_tensor(img.convert("RGB"))[:, :1]


def normalised_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    """Style-mix weights, checked and summing to 1 (equal weights when None)."""
    if n == 0:
        raise ConfigError("at least one style image is needed")
    w = [1.0] * n if weights is None else [float(v) for v in weights]
    if len(w) != n:
        raise ConfigError(f"{len(w)} style weights given for {n} style images")
    if any(not (v >= 0) or v == float("inf") for v in w) or sum(w) <= 0:
        raise ConfigError(f"style weights must be finite numbers >= 0, not all 0; got {w}")
    return [v / sum(w) for v in w]


def sample_tiles(images: Sequence[Image.Image], n: int = 4, side: int = 256) -> list[torch.Tensor]:
    """The first ``n`` training images at ``side`` px, for the sample sheets."""
    return [pil_to_tensor(resize_long_side(img, side)) for img in images[:n]]

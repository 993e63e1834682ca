"""Photorealistic style transfer (Luan et al. 2017, "Deep Photo Style Transfer"):
photo in, photo out.

Gatys' style term, region by region (face to face, sky to sky, the rest to the rest:
:mod:`painterly.image.regions`, or the user's mask pairs), plus the matting-Laplacian
regulariser ``sum_c V_c^T L V_c``: L is the closed-form matting Laplacian of the
content (Levin et al. 2008, built by ``pymatting``), whose null space is the images
that are locally affine functions of the content's colours, so edges stay where they
are and only colours and tones move. A guided filter with the photo as guide finishes.

The Laplacian is built once per optimisation scale; its memory is estimated first and
a size that would not fit is refused with the largest that does.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from painterly.device import available_memory
from painterly.errors import ConfigError, MemoryBudgetError
from painterly.events import Callback
from painterly.image import ImageInput, load_image, pil_to_tensor, scaled_size, tensor_to_pil
from painterly.losses import SpatialControl, StyleRegion

__all__ = ["MattingTerm", "PhotoConfig", "PhotoResult", "laplacian_bytes", "load_mask_pairs", "stylize_photo"]

logger = logging.getLogger("painterly")

# Peak bytes per pixel while L is built at radius 1 (pymatting's float64 CSR with 25
# entries a row and its intermediates, then the torch copy): measured 690, 647 and 639
# at 256, 512 and 1024 px squared (benchmarks/photo.py --memory prints it again).
_LAPLACIAN_BYTES_PER_PIXEL = 700


def laplacian_bytes(height: int, width: int) -> int:
    """Predicted peak memory to build one (H*W)^2 matting Laplacian (radius 1)."""
    return _LAPLACIAN_BYTES_PER_PIXEL * height * width


@dataclass(kw_only=True)
class PhotoConfig:
    """``laplacian_weight``: strength of the matting regulariser (per pixel, over the
    three channels); ``regions``: automatic face/hair/sky/rest matching; ``smooth``:
    the final guided filter (radius: 1/64 of the long side unless given)."""

    laplacian_weight: float = 3e3
    epsilon: float = 1e-7
    regions: bool = True
    smooth: bool = True
    smooth_radius: int | None = None
    smooth_eps: float = 1e-4
    memory_limit: int | None = None  # bytes for L; default 80% of what is free
    init: str = "colours"  # "colours": region-wise colour transfer, one scale; "content": the photo, all scales

    def __post_init__(self) -> None:
        if not (self.laplacian_weight >= 0 and math.isfinite(self.laplacian_weight)):
            raise ConfigError(f"the Laplacian weight must be a finite number >= 0, got {self.laplacian_weight}")
        if not self.epsilon > 0 or not self.smooth_eps > 0:
            raise ConfigError("epsilon and smooth_eps must be > 0")
        if self.init not in ("colours", "content"):
            raise ConfigError(f"photo init must be 'colours' or 'content', got {self.init!r}")


class _QuadraticForm(torch.autograd.Function):
    """``sum(V * (L V))`` for symmetric sparse L; its gradient is ``2 L V``."""

    @staticmethod
    def forward(ctx: Any, v: torch.Tensor, lap: torch.Tensor) -> torch.Tensor:
        lv = lap @ v
        ctx.save_for_backward(lv)
        return (v * lv).sum()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (lv,) = ctx.saved_tensors
        return 2.0 * grad * lv, None


class MattingTerm:
    """The matting-Laplacian regulariser for one content photo, its L built per size.

    ``around(loss, (h, w))`` wraps an objective: it adds ``weight * mean over pixels of
    sum_c V_c^T L V_c`` for images (1, 3, h, w), reported as the ``matting`` term.
    """

    def __init__(self, content: torch.Tensor, weight: float, epsilon: float = 1e-7,
                 memory_limit: int | None = None) -> None:
        self.content, self.weight, self.epsilon = content, weight, epsilon
        self.memory_limit = memory_limit
        self._cache: dict[tuple[int, int], torch.Tensor] = {}

    def check(self, h: int, w: int) -> None:
        limit = self.memory_limit if self.memory_limit is not None else int(available_memory(torch.device("cpu")) * 0.8)
        need = laplacian_bytes(h, w)
        if need > limit:
            fit = int(max(h, w) * math.sqrt(limit / need))
            raise MemoryBudgetError(
                f"the matting Laplacian of {w}x{h} needs about {need / 2**30:.1f} GB but {limit / 2**30:.1f} GB is "
                f"available; the largest size that fits is about {fit} px (--size {fit})")

    def laplacian(self, h: int, w: int) -> torch.Tensor:
        if (h, w) not in self._cache:
            from pymatting import cf_laplacian

            self.check(h, w)
            c = self.content
            if c.shape[-2:] != (h, w):
                c = F.interpolate(c, size=(h, w), mode="area")
            img = c[0].permute(1, 2, 0).double().cpu().numpy()
            lap = cf_laplacian(img, epsilon=self.epsilon, radius=1).tocsr()
            with warnings.catch_warnings():  # "sparse CSR support is in beta": matmul is all we use
                warnings.simplefilter("ignore", UserWarning)
                t = torch.sparse_csr_tensor(torch.from_numpy(lap.indptr).long(),
                                            torch.from_numpy(lap.indices).long(),
                                            torch.from_numpy(lap.data).float(), size=lap.shape)
            self._cache[(h, w)] = t.to(self.content.device)
        return self._cache[(h, w)]

    def value(self, x: torch.Tensor) -> torch.Tensor:
        """Mean over pixels of sum_c V_c^T L V_c for ``x`` (1, 3, h, w)."""
        h, w = x.shape[-2:]
        v = x[0].reshape(3, -1).t().contiguous()
        return _QuadraticForm.apply(v, self.laplacian(h, w)) / (h * w)

    def around(self, loss: Any, size: tuple[int, int]) -> Any:
        self.laplacian(*size)  # built (or refused) before the scale starts

        def with_matting(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            total, terms = loss(x)
            m = self.value(x)
            return total + self.weight * m, {**terms, "matting": m}

        return with_matting


@dataclass
class PhotoResult:
    image: Image.Image
    result: Any  # the StylizeResult before smoothing
    regions: list[str] = field(default_factory=list)
    faces: list[Any] = field(default_factory=list)


def _mask_image(spec: ImageInput, size: tuple[int, int], what: str, notes: list[str]) -> np.ndarray:
    img = load_image(spec, name=f"{what} {spec}" if isinstance(spec, str) else what)
    if img.size != size:
        notes.append(f"{what} {spec} is {img.width}x{img.height}; resized to {size[0]}x{size[1]}")
        img = img.resize(size, Image.Resampling.BILINEAR)
    m = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    if m.max() < 1 / 255:
        raise ConfigError(f"{what} {spec} is all black: it selects nothing")
    return m


def load_mask_pairs(
    content_masks: Sequence[ImageInput], style_masks: Sequence[ImageInput], content_size: tuple[int, int],
    style_size: tuple[int, int],
) -> tuple[list[tuple[str, np.ndarray, np.ndarray | None]], list[str]]:
    """The user's (content mask, style mask) pairs as regions (white = in), plus what
    the masks leave uncovered on both sides as a last region; and notes (resizes)."""
    if len(content_masks) != len(style_masks):
        raise ConfigError(f"{len(content_masks)} --content-mask and {len(style_masks)} --style-mask given; "
                          "masks come in pairs, one of each per region")
    notes: list[str] = []
    pairs: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    for i, (cm, sm) in enumerate(zip(content_masks, style_masks, strict=True)):
        pairs.append((f"mask {i + 1}", _mask_image(cm, content_size, "content mask", notes),
                      _mask_image(sm, style_size, "style mask", notes)))
    c_rest = np.clip(1.0 - sum(p[1] for p in pairs), 0, 1)
    s_rest = np.clip(1.0 - sum(p[2] for p in pairs if p[2] is not None), 0, 1)
    if c_rest.mean() > 0.01:
        pairs.append(("rest", c_rest, s_rest if s_rest.mean() > 0.01 else None))
    return pairs, notes


def _as_tensor(m: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))[None, None].to(device)


def stylize_photo(
    stylizer: Any,
    content: ImageInput,
    config: PhotoConfig | None = None,
    *,
    regions: Sequence[tuple[str, np.ndarray, np.ndarray | None]] | None = None,
    faces: Sequence[Any] | None = None,
    callback: Callback | None = None,
) -> PhotoResult:
    """Photorealistic Gatys with ``stylizer`` (a :class:`~painterly.methods.gatys.Stylizer`
    holding the style photo). ``regions``: (name, content mask at the output size, style
    mask at the style image's size or None for the whole style); default: automatic
    face/hair/sky/rest matching (``config.regions``), faces from ``faces`` or MTCNN."""
    from painterly.image.regions import match_regions, segment
    from painterly.methods.feedforward.common import photo_smooth

    cfg = config or PhotoConfig()
    img = load_image(content)
    h, w = scaled_size(img.height, img.width, stylizer.config.size)
    sized = img.resize((w, h), Image.Resampling.LANCZOS)
    full = pil_to_tensor(sized, stylizer.device)
    matting = MattingTerm(full, cfg.laplacian_weight, cfg.epsilon, cfg.memory_limit)
    matting.check(h, w)  # refuse before any work
    if regions is None and cfg.regions:
        from painterly.faces.detection import shared_detector

        detector = shared_detector(20.0, stylizer.device)
        if faces is None:
            faces = detector(img)
        scale = w / img.width
        c_regions = segment(sized, [f.moved(scale, scale) for f in faces])
        style_img = stylizer.style_images[0]
        s_regions = segment(style_img, detector(style_img))
        regions = match_regions(c_regions, s_regions)
    spatial = None
    names: list[str] = []
    init = None
    if cfg.init == "colours":
        from painterly.image.regions import transfer_colours

        pairs = regions or [("all", np.ones((h, w), np.float32), None)]
        style_rgb = np.asarray(stylizer.style_images[0].convert("RGB"), dtype=np.float32) / 255.0
        moved = transfer_colours(full[0].permute(1, 2, 0).cpu().numpy(), style_rgb, pairs)
        init = torch.from_numpy(moved).permute(2, 0, 1)[None].to(stylizer.device)
        init = photo_smooth(init, full, cfg.smooth_radius, cfg.smooth_eps)
    if regions:
        total = sum(float(cm.mean()) for _, cm, _ in regions)
        spatial = SpatialControl(style_regions=[
            StyleRegion(mask=_as_tensor(cm, stylizer.device), weight=float(cm.mean()) / total,
                        style_mask=None if sm is None else _as_tensor(sm, stylizer.device))
            for _, cm, sm in regions])
        names = [n for n, _, _ in regions]
        logger.info("photo regions: %s", ", ".join(names))
    result = stylizer.stylize(img, callback=callback, spatial=spatial, init=init,
                              regulariser=matting.around if cfg.laplacian_weight > 0 else None)
    out = result.tensor.to(stylizer.device)
    if cfg.smooth:
        guide = full if full.shape == out.shape else F.interpolate(full, size=out.shape[-2:], mode="area")
        out = photo_smooth(out, guide, cfg.smooth_radius, cfg.smooth_eps)
    return PhotoResult(tensor_to_pil(out), result, names, list(faces or []))

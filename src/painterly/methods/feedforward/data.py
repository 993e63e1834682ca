"""Training data for the feed-forward networks: image folders, random crops with
their optional face masks."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from painterly.errors import ImageError
from painterly.faces.detection import shared_detector
from painterly.faces.masks import face_mask
from painterly.files import IMAGE_EXTENSIONS, list_image_files
from painterly.image import load_image, pil_to_tensor

__all__ = ["CropSampler", "face_weight_masks", "list_images", "load_images"]

logger = logging.getLogger("painterly")


def list_images(folder: str | os.PathLike, *, what: str = "content") -> list[Path]:
    """Image files in ``folder`` (recursively, sorted). One-line errors for a missing
    folder, a file, or a folder without images."""
    root = Path(folder)
    if not root.exists():
        raise ImageError(f"{root}: no such {what} folder")
    if not root.is_dir():
        raise ImageError(f"{root}: expected a folder of {what} images, got a file")
    files = list_image_files(root, recursive=True)
    if not files:
        raise ImageError(f"{root}: no images in this {what} folder (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    return files


def load_images(
    paths: Sequence[Path], *, max_side: int | None = None, what: str = "content"
) -> tuple[list[Image.Image], list[tuple[Path, str]]]:
    """Load what can be loaded; the rest comes back as (path, reason) and is logged.
    Raises :class:`ImageError` when nothing loads."""
    images: list[Image.Image] = []
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        try:
            img = load_image(path)
        except ImageError as exc:
            skipped.append((path, str(exc)))
            logger.info("skipped %s", exc)
            continue
        if max_side is not None and max(img.size) > max_side:
            img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        images.append(img)
    if not images:
        raise ImageError(f"none of the {len(paths)} {what} image(s) could be read")
    return images, skipped


class CropSampler:
    """Random square crops for training: each image is rescaled so its short side is
    between ``crop`` and ``crop * max_zoom`` (new strokes scale per step), cropped at a
    random place and flipped left-right half of the time. Images smaller than the crop
    are upscaled first."""

    def __init__(
        self,
        images: Sequence[Image.Image],
        crop: int,
        *,
        max_zoom: float = 2.0,
        seed: int = 0,
        masks: Sequence[torch.Tensor] | None = None,
    ) -> None:
        # a mask (1, 1, H, W) per image rides along as a 4th channel: same crop, scale, flip
        self.tensors = [pil_to_tensor(img) for img in images]
        if masks is not None:
            self.tensors = [torch.cat([t, m.to(t)], 1) for t, m in zip(self.tensors, masks, strict=True)]
        self.crop = crop
        self.max_zoom = max_zoom
        self.rng = random.Random(seed)

    def one(self) -> torch.Tensor:
        x = self.tensors[self.rng.randrange(len(self.tensors))]
        h, w = x.shape[-2:]
        short = self.rng.uniform(self.crop, self.crop * self.max_zoom)
        short = min(short, max(self.crop, min(h, w)))  # never upscale past the original, unless it is too small
        scale = short / min(h, w)
        size = (max(self.crop, round(h * scale)), max(self.crop, round(w * scale)))
        if size != (h, w):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)
        top = self.rng.randrange(size[0] - self.crop + 1)
        left = self.rng.randrange(size[1] - self.crop + 1)
        x = x[..., top : top + self.crop, left : left + self.crop]
        if self.rng.random() < 0.5:
            x = x.flip(-1)
        return x.clamp(0, 1)

    def batch(self, n: int) -> torch.Tensor:
        """(n, 3, crop, crop), or (n, 4, crop, crop) with the masks as the 4th channel."""
        return torch.cat([self.one() for _ in range(n)])

    def state(self) -> Any:
        return self.rng.getstate()

    def set_state(self, state: Any) -> None:
        self.rng.setstate(state)


def face_weight_masks(images: Sequence[Image.Image], *, device: str = "cpu") -> tuple[list[torch.Tensor], int]:
    """Soft face masks (1, 1, H, W) for each image (MTCNN + landmark ellipses), and the
    number of faces found: where they are 1, training weights the content loss up."""
    detector = shared_detector(device=device)
    masks, count = [], 0
    for img in images:
        faces = detector(img)
        count += len(faces)
        masks.append(face_mask(faces, img.height, img.width))
    return masks, count

"""What the face pass does, as settings (no torch: the onnxruntime path uses them too)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from painterly.errors import ConfigError
from painterly.faces.face import Face

__all__ = ["FAST_FACE_PASS", "PORTRAIT_FACE_PASS", "VIDEO_FACE_PASS", "VIDEO_TRACK_EVERY", "FacePassConfig"]


@dataclass(frozen=True)
class FacePassConfig:
    """Which faces get a second pass, on what crop, and how it is blended back.

    ``below``: faces narrower than this (output pixels) are re-stylised; None = every
    face whose zoom is worth it (> ``min_zoom``). ``margin``: the crop's half-side as a multiple
    of the face box's larger side. The crop is enlarged so the face is ``target_width``
    px wide (None: by ``max_zoom``), by at most ``max_zoom``, and then, with
    ``side_range``, its long side is clamped to that range. ``blend``: ``"mask"`` puts
    the new face in through the feathered landmark mask; ``"low-frequency"`` takes only
    the new crop's detail and keeps the first result's low frequencies (no seam in
    colour or light). A face whose crop would be enlarged ``min_zoom`` times or less gets
    no pass (re-running a feed-forward network at the same scale changes nothing).
    """

    below: float | None = None
    margin: float = 0.9
    target_width: float | None = 224.0
    max_zoom: float = 4.0
    side_range: tuple[int, int] | None = None
    blend: str = "mask"
    min_zoom: float = 1.05

    def __post_init__(self) -> None:
        if self.target_width is not None and self.target_width < 32:
            raise ConfigError(f"face pass target_width must be >= 32 px, got {self.target_width}")
        if self.max_zoom < 1:
            raise ConfigError(f"face pass max_zoom must be >= 1, got {self.max_zoom}")
        if self.blend not in ("mask", "low-frequency"):
            raise ConfigError(f"face pass blend must be 'mask' or 'low-frequency', got {self.blend!r}")

    def replace(self, **changes: Any) -> FacePassConfig:
        return dataclasses.replace(self, **changes)

    def window(self, face: Face, height: int, width: int, *, force: bool = False) -> tuple[int, int, int, int,
                                                                                                 float] | None:
        """The crop (left, top, right, bottom) around ``face`` in an image of
        ``height`` x ``width`` and its zoom, or None when this face gets no second pass
        (wide enough already, too close to the edge, or not worth enlarging). ``force``
        passes every face that has a crop."""
        if not force and self.below is not None and face.width >= self.below:
            return None
        x0, y0, x1, y1 = face.box
        half = self.margin * max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        left, top = max(0, int(cx - half)), max(0, int(cy - half))
        right, bottom = min(width, int(cx + half) + 1), min(height, int(cy + half) + 1)
        if right - left < 8 or bottom - top < 8:
            return None
        zoom = self.zoom(face.width, max(right - left, bottom - top))
        if not force and zoom <= self.min_zoom:
            return None
        return left, top, right, bottom, zoom

    def zoom(self, face_width: float, crop_side: int) -> float:
        """How much the crop around a face of ``face_width`` px is enlarged."""
        zoom = self.max_zoom
        if self.target_width is not None:
            zoom = min(zoom, self.target_width / max(face_width, 1.0))
        if self.side_range is not None:
            lo, hi = self.side_range
            zoom = min(hi, max(lo, crop_side * zoom)) / crop_side
        return zoom


FAST_FACE_PASS = FacePassConfig()  # faces under 224 px, zoomed to 224 px (at most 4x)
# video: every frame pays for the crop; 160 px kept identity as 224 did on carphone (median 0.42 vs 0.44)
# at 9.7 fps instead of 7.6 (128 px: 0.50, 10 fps; none: 0.59, 15.8 fps). A margin of 0.75 (a crop 1.5x
# the face box, not 1.8x) on onnxruntime: median 0.452 / worst 0.575 vs 0.467 / 0.556, 17.6 fps vs 15.9
VIDEO_FACE_PASS = FacePassConfig(target_width=160.0, margin=0.75)
VIDEO_TRACK_EVERY = 8  # video: MTCNN on every 8th frame, faces followed by optical flow in between
# Gatys portraits: every face under 128 px, even when its crop is not enlarged (min_zoom 0): the
# pass starts from the photo's crop, which restores the features. Skipping it at zoom <= 1.05
# left a 110 px face at identity 0.365 after 3 extra rounds with no paint (obama.jpg upscaled
# to 3200x4000, whose box came out 7% taller); with the pass: 0.305 at full paint, 21 vs 28.5 s
PORTRAIT_FACE_PASS = FacePassConfig(below=128, margin=1.2, target_width=None, max_zoom=2.0, side_range=(256, 384),
                                    blend="low-frequency", min_zoom=0.0)

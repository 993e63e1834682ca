"""A detected face: its box, score and five landmarks."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Face", "Landmarks"]


@dataclass(frozen=True)
class Landmarks:
    """Five facial landmarks as (x, y) pixels. "left"/"right" are as seen in the image."""

    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    nose: tuple[float, float]
    mouth_left: tuple[float, float]
    mouth_right: tuple[float, float]

    def as_array(self) -> np.ndarray:
        """(5, 2) float array in the field order."""
        return np.array([self.left_eye, self.right_eye, self.nose, self.mouth_left, self.mouth_right], dtype=np.float64)


@dataclass(frozen=True)
class Face:
    """One detected face: box (x1, y1, x2, y2) in pixels, score in [0, 1], landmarks."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: Landmarks

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def moved(self, sx: float = 1.0, sy: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> Face:
        """This face in another frame: coordinates shifted by (dx, dy), then scaled by (sx, sy)."""
        pts = [((x + dx) * sx, (y + dy) * sy) for x, y in self.landmarks.as_array().tolist()]
        x1, y1, x2, y2 = self.box
        return Face(((x1 + dx) * sx, (y1 + dy) * sy, (x2 + dx) * sx, (y2 + dy) * sy), self.score, Landmarks(*pts))

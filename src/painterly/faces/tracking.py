"""Faces through a video: detect every few frames, follow by optical flow in between,
smooth the boxes and landmarks, so face masks and face passes do not jump.

A detection every ``every`` frames (MTCNN); in between, each face moves with the
median DIS flow inside its box (computed on a window around the box only). Detected
faces are matched to the tracks by box overlap, and a track's landmarks follow
``smooth * previous (moved) + (1 - smooth) * detected``. A track not seen by
``patience`` detections in a row is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from painterly.faces.face import Face, Landmarks

__all__ = ["FaceTracker", "box_iou"]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _blend(old: Face, new: Face, keep: float) -> Face:
    box = tuple(keep * o + (1 - keep) * n for o, n in zip(old.box, new.box, strict=True))
    pts = keep * old.landmarks.as_array() + (1 - keep) * new.landmarks.as_array()
    return Face(box, new.score, Landmarks(*map(tuple, pts.tolist())))  # type: ignore[arg-type]


@dataclass
class _Track:
    face: Face
    missed: int = 0


class FaceTracker:
    """``tracker(frame)`` -> the faces of this frame (frames in order, (H, W, 3) uint8 RGB).

    Args:
        detect: frame -> faces (e.g. a :class:`~painterly.faces.detection.FaceDetector`
            on a PIL image).
        every: run the detector on every ``every``-th frame (1: every frame).
        smooth: share of the moved previous landmarks kept at a detection (0: jump to
            the detection).
        patience: detections a track may miss before it is dropped.
    """

    def __init__(self, detect: Callable[[np.ndarray], list[Face]], *, every: int = 8, smooth: float = 0.5,
                 patience: int = 2) -> None:
        if every < 1 or not 0 <= smooth < 1:
            raise ValueError("every must be >= 1 and smooth in [0, 1)")
        self.detect, self.every, self.smooth, self.patience = detect, every, smooth, patience
        self.tracks: list[_Track] = []
        self.frames = 0
        self._prev: np.ndarray | None = None

    def _move(self, frame: np.ndarray) -> None:
        """Move every track by the median flow inside its box, previous frame -> this one.
        The flow is computed on a window around the box (twice its size), not the frame:
        a 100 px face in a 720p frame costs what a 200 px image does."""
        from painterly.image.flow import dis_flow, grey

        assert self._prev is not None
        h, w = frame.shape[:2]
        for t in self.tracks:
            bx1, by1, bx2, by2 = t.face.box
            bw, bh = bx2 - bx1, by2 - by1
            wx1, wy1 = max(0, round(bx1 - bw / 2)), max(0, round(by1 - bh / 2))
            wx2, wy2 = min(w, round(bx2 + bw / 2)), min(h, round(by2 + bh / 2))
            qx, qy = bw / 4, bh / 4  # the box's inner half: the face, not what moves behind it
            x1, y1 = max(wx1, round(bx1 + qx)), max(wy1, round(by1 + qy))
            x2, y2 = min(wx2, round(bx2 - qx)), min(wy2, round(by2 - qy))
            if x2 <= x1 or y2 <= y1 or wx2 - wx1 < 16 or wy2 - wy1 < 16:
                continue
            flow = dis_flow(grey(self._prev[wy1:wy2, wx1:wx2]), grey(frame[wy1:wy2, wx1:wx2]), preset="fast")
            inner = flow[y1 - wy1 : y2 - wy1, x1 - wx1 : x2 - wx1]
            dx, dy = np.median(inner.reshape(-1, 2), axis=0).tolist()
            t.face = t.face.moved(dx=dx, dy=dy)

    def __call__(self, frame: np.ndarray) -> list[Face]:
        if self._prev is not None and self._prev.shape == frame.shape:
            self._move(frame)
        if self.frames % self.every == 0:
            self._update(self.detect(frame))
        self._prev = frame
        self.frames += 1
        return [t.face for t in self.tracks]

    def _update(self, found: list[Face]) -> None:
        unmatched = list(found)
        for t in self.tracks:
            best = max(unmatched, key=lambda f: box_iou(f.box, t.face.box), default=None)
            if best is not None and box_iou(best.box, t.face.box) > 0.3:
                t.face = _blend(t.face, best, self.smooth)
                t.missed = 0
                unmatched.remove(best)
            else:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.patience] + [_Track(f) for f in unmatched]

"""Faces through a video: detected every few frames, followed by optical flow."""

from __future__ import annotations

import numpy as np
import pytest

from painterly.faces.face import Face, Landmarks
from painterly.faces.tracking import FaceTracker


def _face(x: float, y: float, side: float = 40.0) -> Face:
    pts = [(x + side * u, y + side * v) for u, v in ((0.3, 0.35), (0.7, 0.35), (0.5, 0.55), (0.35, 0.75), (0.65, 0.75))]
    return Face((x, y, x + side, y + side), 0.99, Landmarks(*pts))


def _clip(n: int, step: tuple[float, float]) -> tuple[list[np.ndarray], list[tuple[float, float]]]:
    """A textured square moving over a textured background by ``step`` px a frame."""
    import cv2

    rng = np.random.default_rng(0)  # smooth textures, as in photos (pixel noise defeats any optical flow)
    background = cv2.GaussianBlur((rng.random((120, 160, 3)) * 80).astype(np.uint8), (0, 0), 2.0)
    patch = cv2.GaussianBlur((rng.random((40, 40, 3)) * 175 + 80).astype(np.uint8), (0, 0), 1.5)
    frames, where = [], []
    for t in range(n):
        x, y = 30 + step[0] * t, 25 + step[1] * t
        f = background.copy()
        f[round(y) : round(y) + 40, round(x) : round(x) + 40] = patch
        frames.append(f)
        where.append((round(x), round(y)))
    return frames, where


def test_tracked_faces_follow_the_motion_between_detections() -> None:
    frames, where = _clip(17, (3.0, 2.0))
    calls = []

    def detect(frame: np.ndarray) -> list[Face]:
        x, y = where[len(calls) * 8]  # the true place on the frames it is called for
        calls.append(x)
        return [_face(x, y)]

    tracker = FaceTracker(detect, every=8, smooth=0.0)
    for t, f in enumerate(frames):
        faces = tracker(f)
        assert len(faces) == 1
        x1, y1 = faces[0].box[:2]
        assert abs(x1 - where[t][0]) <= 1.5 and abs(y1 - where[t][1]) <= 1.5, (t, faces[0].box, where[t])
    assert len(calls) == 3  # frames 0, 8 and 16


def test_smoothing_steadies_jittery_detections() -> None:
    frames, where = _clip(12, (0.0, 0.0))  # a still face, detected with jitter
    rng = np.random.default_rng(1)

    def noisy(frame: np.ndarray) -> list[Face]:
        dx, dy = rng.normal(0, 3, 2)
        return [_face(where[0][0] + dx, where[0][1] + dy)]

    raw = [noisy(f)[0].box[0] for f in frames]
    tracker = FaceTracker(noisy, every=1, smooth=0.7)
    steady = [tracker(f)[0].box[0] for f in frames]
    assert np.std(np.diff(steady)) < 0.6 * np.std(np.diff(raw))


def test_a_lost_face_is_dropped_and_a_new_one_starts_a_track() -> None:
    frames, where = _clip(10, (0.0, 0.0))
    answers = iter([[_face(*where[0])], [], [], [], [_face(100, 60)]])
    tracker = FaceTracker(lambda f: next(answers), every=2, patience=2)
    counts = [len(tracker(f)) for f in frames]
    assert counts[0] == 1 and counts[-1] == 1
    assert tracker.tracks[0].face.box[0] == pytest.approx(100, abs=2)  # the old track is gone, the new one kept

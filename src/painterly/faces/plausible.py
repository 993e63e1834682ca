"""Rejecting false faces: MTCNN boxes whose landmarks, size or colour do not look like
a face.

MTCNN's O-Net scores texture, not anatomy: beads on a dress, a knot in wood or a
swirl in a painting can score 0.9. A real face, even a small or turned one, has its
five landmarks in a face's order (both eyes above the nose, the nose above the
mouth, the mouth about as wide as the eyes are apart), its eyes a plausible
fraction of the box apart, and, when the photo has colour at all, skin-coloured
pixels around the nose. Faces much smaller than the main face of the photo must
also score high to count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from painterly.faces.face import Face

__all__ = ["DEFAULT_CHECK", "FaceCheck", "landmark_problem", "plausible_faces", "skin_fraction"]


@dataclass(frozen=True)
class FaceCheck:
    """Thresholds of the plausibility check (measured on ../shared/data and held-out
    photos, see ``benchmarks/false_faces.py``)."""

    min_score: float = 0.92  # O-Net probability: real faces in our photos score >= 0.968, false ones 0.81-0.90
    eye_distance: tuple[float, float] = (0.22, 0.75)  # inter-ocular distance / box width
    mouth_to_eyes: tuple[float, float] = (0.35, 1.6)  # mouth width / inter-ocular distance
    eyes_to_mouth: tuple[float, float] = (0.4, 3.0)  # eye-line-to-mouth distance / inter-ocular distance
    max_roll_deg: float = 60.0  # eye line tilt
    small_face: float = 0.35  # faces narrower than this x the largest one need ...
    small_face_score: float = 0.97  # ... at least this score
    min_skin: float = 0.12  # fraction of skin-coloured pixels around the nose (colour photos only)
    grey_saturation: float = 0.08  # below this mean saturation the photo counts as grey: no skin test


DEFAULT_CHECK = FaceCheck()


def _rotate(points: np.ndarray, angle: float, origin: np.ndarray) -> np.ndarray:
    c, s = math.cos(-angle), math.sin(-angle)
    rot = np.array([[c, -s], [s, c]])
    return (points - origin) @ rot.T


def landmark_problem(face: Face, check: FaceCheck = DEFAULT_CHECK) -> str | None:
    """Why the landmarks cannot be a face's, or None when they can."""
    lm = face.landmarks.as_array()
    left_eye, right_eye, mouth_l, mouth_r = lm[0], lm[1], lm[3], lm[4]
    eye_vec = right_eye - left_eye
    eye_dist = float(np.hypot(*eye_vec))
    if eye_dist < 1e-6 or face.width <= 0:
        return "eyes on one point"
    angle = math.atan2(eye_vec[1], eye_vec[0])
    if abs(math.degrees(angle)) > check.max_roll_deg:
        return f"eye line tilted {math.degrees(angle):.0f} degrees"
    # in the face's own frame: x along the eye line, y down the face
    p = _rotate(lm, angle, (left_eye + right_eye) / 2)
    eyes_y = (p[0, 1] + p[1, 1]) / 2
    mouth_y = (p[3, 1] + p[4, 1]) / 2
    if not (eyes_y < p[2, 1] < mouth_y):
        return "eyes, nose and mouth out of order"
    ratio = eye_dist / face.width
    if not check.eye_distance[0] <= ratio <= check.eye_distance[1]:
        return f"eyes {ratio:.2f} of the box apart"
    mouth_w = float(np.hypot(*(mouth_r - mouth_l)))
    if not check.mouth_to_eyes[0] <= mouth_w / eye_dist <= check.mouth_to_eyes[1]:
        return f"mouth {mouth_w / eye_dist:.2f} x the eye distance wide"
    if not check.eyes_to_mouth[0] <= (mouth_y - eyes_y) / eye_dist <= check.eyes_to_mouth[1]:
        return f"mouth {(mouth_y - eyes_y) / eye_dist:.2f} eye distances below the eyes"
    if p[3, 0] >= p[4, 0]:
        return "mouth corners swapped"
    return None


def _saturation(rgb: np.ndarray) -> np.ndarray:
    mx, mn = rgb.max(-1), rgb.min(-1)
    return (mx - mn) / np.maximum(mx, 1e-6)


def skin_fraction(image: np.ndarray, face: Face) -> float:
    """Fraction of skin-coloured pixels (YCrCb box of Chai and Ngan 1999, widened for
    dark and light skin) in the square around the nose spanning the eyes and mouth."""
    lm = face.landmarks.as_array()
    half = max(2.0, 0.5 * float(np.hypot(*(lm[1] - lm[0]))))
    cx, cy = lm[2]
    h, w = image.shape[:2]
    x0, x1 = int(max(0, cx - half)), int(min(w, cx + half + 1))
    y0, y1 = int(max(0, cy - half)), int(min(h, cy + half + 1))
    patch = image[y0:y1, x0:x1].astype(np.float64)
    if patch.size == 0:
        return 0.0
    r, g, b = patch[..., 0], patch[..., 1], patch[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    skin = (cr >= 130) & (cr <= 180) & (cb >= 75) & (cb <= 135) & (y > 25)
    return float(skin.mean())


def plausible_faces(
    faces: Sequence[Face], image: np.ndarray | None = None, check: FaceCheck = DEFAULT_CHECK
) -> tuple[list[Face], list[tuple[Face, str]]]:
    """Split ``faces`` into (kept, [(rejected, reason)]). ``image`` (H, W, 3) uint8 RGB
    enables the skin test; grey images skip it."""
    kept: list[Face] = []
    rejected: list[tuple[Face, str]] = []
    largest = max((f.width for f in faces), default=0.0)
    grey = image is None or float(_saturation(image[::4, ::4] / 255.0).mean()) < check.grey_saturation
    for face in faces:
        problem = None if face.score >= check.min_score else f"score {face.score:.3f} < {check.min_score}"
        problem = problem or landmark_problem(face, check)
        if problem is None and face.width < check.small_face * largest and face.score < check.small_face_score:
            problem = (f"{face.width:.0f} px beside a {largest:.0f} px face with score {face.score:.3f} "
                       f"(< {check.small_face_score})")
        if problem is None and not grey:
            assert image is not None
            skin = skin_fraction(image, face)
            if skin < check.min_skin:
                problem = f"{skin:.0%} skin-coloured pixels around the nose"
        if problem is None:
            kept.append(face)
        else:
            rejected.append((face, problem))
    return kept, rejected

"""Soft face masks from the five landmarks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from painterly.faces.face import Face

if TYPE_CHECKING:
    import torch

__all__ = ["face_ellipse", "face_mask", "face_mask_array", "face_parts_mask"]


def face_ellipse(face: Face) -> tuple[float, float, float, float, float]:
    """(cx, cy, half-width, half-height, angle in radians) of an ellipse covering the
    face from forehead to chin, aligned with the eye line."""
    lm = face.landmarks.as_array()
    eyes = (lm[0] + lm[1]) / 2
    mouth = (lm[3] + lm[4]) / 2
    eye_dist = float(((lm[1] - lm[0]) ** 2).sum() ** 0.5)
    em = float(((mouth - eyes) ** 2).sum() ** 0.5)
    angle = math.atan2(lm[1][1] - lm[0][1], lm[1][0] - lm[0][0])
    # forehead ~1.1 eye-mouth distances above the eyes, chin ~0.9 below the mouth
    top, bottom = -1.1 * em, em + 0.9 * em
    cy_local = (top + bottom) / 2
    half_h = (bottom - top) / 2
    half_w = max(1.05 * eye_dist, 0.62 * half_h)
    # local "down" is perpendicular to the eye line
    down = (-math.sin(angle), math.cos(angle))
    cx, cy = eyes[0] + down[0] * cy_local, eyes[1] + down[1] * cy_local
    return float(cx), float(cy), half_w, half_h, angle


def face_mask_array(faces: Sequence[Face], height: int, width: int, *, feather: float = 0.25) -> np.ndarray:
    """Soft mask (H, W) float32 in [0, 1]: 1 inside each face ellipse, falling to 0 over
    ``feather`` x the ellipse's half-width outside it (smoothstep). Faces union by max."""
    ys = np.arange(height, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(width, dtype=np.float32)[None, :] + 0.5
    mask = np.zeros((height, width), dtype=np.float32)
    for face in faces:
        cx, cy, a, b, ang = face_ellipse(face)
        dx, dy = xs - np.float32(cx), ys - np.float32(cy)
        u = dx * np.float32(math.cos(ang)) + dy * np.float32(math.sin(ang))
        v = -dx * np.float32(math.sin(ang)) + dy * np.float32(math.cos(ang))
        r = np.sqrt((u / np.float32(a)) ** 2 + (v / np.float32(b)) ** 2)  # 1 on the ellipse
        t = np.clip((1 + feather - r) / feather, 0, 1)
        mask = np.maximum(mask, t * t * (3 - 2 * t))
    return mask.astype(np.float32)


def face_mask(
    faces: Sequence[Face], height: int, width: int, *, feather: float = 0.25, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """:func:`face_mask_array` as a tensor (1, 1, H, W) on ``device``."""
    import torch

    return torch.from_numpy(face_mask_array(faces, height, width, feather=feather))[None, None].to(device)


def _blob(xs: torch.Tensor, ys: torch.Tensor, cx: float, cy: float, a: float, b: float, ang: float,
          feather: float) -> torch.Tensor:
    import torch

    """Soft ellipse: 1 inside, smoothstep to 0 over ``feather`` x the radius outside."""
    dx, dy = xs - cx, ys - cy
    u = dx * math.cos(ang) + dy * math.sin(ang)
    v = -dx * math.sin(ang) + dy * math.cos(ang)
    r = torch.sqrt((u / max(a, 1e-3)) ** 2 + (v / max(b, 1e-3)) ** 2)
    t = ((1 + feather - r) / feather).clamp(0, 1)
    return t * t * (3 - 2 * t)


def face_parts_mask(
    faces: Sequence[Face], height: int, width: int, *, feather: float = 0.6, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Soft mask (1, 1, H, W) in [0, 1] over the parts of a face where identity lives:
    each eye with its brow, the nose from the bridge to the tip, and the mouth. Cheeks,
    forehead, hair and the face's outline are outside it. Sizes are fractions of the
    eye distance d (eye+brow blob 0.36 d x 0.34 d, raised 0.12 d; nose 0.2 d wide;
    mouth half its width + 0.18 d across, 0.26 d high)."""
    import torch

    ys = torch.arange(height, dtype=torch.float32, device=device)[:, None] + 0.5
    xs = torch.arange(width, dtype=torch.float32, device=device)[None, :] + 0.5
    mask = torch.zeros(height, width, device=device)
    for face in faces:
        lm = face.landmarks.as_array()
        d = float(np.hypot(*(lm[1] - lm[0])))
        ang = math.atan2(lm[1][1] - lm[0][1], lm[1][0] - lm[0][0])
        up = (math.sin(ang), -math.cos(ang))  # towards the forehead
        parts = []
        for eye in (lm[0], lm[1]):
            parts.append((eye[0] + up[0] * 0.12 * d, eye[1] + up[1] * 0.12 * d, 0.36 * d, 0.34 * d, ang))
        bridge = (lm[0] + lm[1]) / 2
        nose = lm[2]
        length = float(np.hypot(*(nose - bridge)))
        mid = (bridge + nose) / 2
        nose_ang = math.atan2(nose[1] - bridge[1], nose[0] - bridge[0])
        parts.append((mid[0], mid[1], max(length / 2 + 0.12 * d, 1.0), 0.2 * d, nose_ang))
        mouth = (lm[3] + lm[4]) / 2
        mouth_w = float(np.hypot(*(lm[4] - lm[3])))
        parts.append((mouth[0], mouth[1], mouth_w / 2 + 0.18 * d, 0.26 * d, ang))
        for cx, cy, a, b, angle in parts:
            mask = torch.maximum(mask, _blob(xs, ys, float(cx), float(cy), a, b, angle, feather))
    return mask[None, None]

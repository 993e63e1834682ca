"""Semantic regions for photorealistic transfer: face, hair, sky and the rest, from the
face landmarks and simple colour/position rules, so sky takes the style's sky and a
face the style's face (Luan et al. 2017 use a segmentation network; none ships here).

* face: the landmark-fitted ellipse of each detected face (:func:`face_mask_array`);
* hair: around the top and sides of each face, pixels whose colour is far from the
  face's skin;
* sky: low-texture pixels connected to the top border through low-texture pixels,
  not far in colour from the top border's flat part (day, dusk or night alike);
* rest: everything else.

Masks are float32 (H, W) in [0, 1]. Torch-free (numpy and OpenCV).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from painterly.faces.face import Face

__all__ = ["REGIONS", "match_regions", "segment", "transfer_colours"]

REGIONS = ("face", "hair", "sky", "rest")
MIN_SHARE = 0.01  # a region under 1% of either image is merged into the rest


def _lab(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _texture(lab: np.ndarray) -> np.ndarray:
    """Local gradient energy of L, smoothed (0 on flat areas)."""
    import cv2

    gx = cv2.Sobel(lab[..., 0], cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lab[..., 0], cv2.CV_32F, 0, 1, ksize=3)
    return cv2.blur(np.hypot(gx, gy), (7, 7))


def _sky(lab: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    import cv2

    h, w = lab.shape[:2]
    flat = _texture(lab) < 6.0  # L in 0..100: a gentle gradient, not an edge
    top = flat[: max(2, h // 20)] & (exclude[: max(2, h // 20)] < 0.5)
    if top.mean() < 0.2:  # the top border is mostly texture (trees, roofs): no sky
        return np.zeros((h, w), np.float32)
    ref = np.median(lab[: max(2, h // 20)][top], axis=0)
    # flat, and not far from the top's colour (a sky brightens towards the horizon);
    # connected to the top border through flat pixels only
    close = np.linalg.norm(lab - ref, axis=-1) < 40.0
    rows = np.arange(h)[:, None] < int(h * 0.75)
    cand = flat & close & rows & (exclude < 0.5)
    cand = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    n, labels = cv2.connectedComponents(cand)
    touching = set(np.unique(labels[0])) - {0}
    sky = np.isin(labels, list(touching)) if touching and n > 1 else np.zeros((h, w), bool)
    sky = cv2.morphologyEx(sky.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    return cv2.GaussianBlur(sky.astype(np.float32), (0, 0), 2.0)


def _hair(lab: np.ndarray, faces: Sequence[Face], face: np.ndarray) -> np.ndarray:
    h, w = lab.shape[:2]
    out = np.zeros((h, w), np.float32)
    for f in faces:
        x1, y1, x2, y2 = f.box
        fw, fh = x2 - x1, y2 - y1
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        ix1, iy1 = int(max(0, cx - 0.35 * fw)), int(max(0, cy - 0.2 * fh))
        ix2, iy2 = int(min(w, cx + 0.35 * fw)), int(min(h, cy + 0.35 * fh))
        if ix2 <= ix1 or iy2 <= iy1:
            continue
        skin = np.median(lab[iy1:iy2, ix1:ix2].reshape(-1, 3), axis=0)
        bx1, by1 = int(max(0, x1 - 0.4 * fw)), int(max(0, y1 - 0.6 * fh))
        bx2, by2 = int(min(w, x2 + 0.4 * fw)), int(min(h, y1 + 0.55 * fh))
        far = np.linalg.norm(lab[by1:by2, bx1:bx2] - skin, axis=-1) > 20.0
        out[by1:by2, bx1:bx2] = np.maximum(out[by1:by2, bx1:bx2], far.astype(np.float32))
    return out * (1.0 - face)


def segment(image: Image.Image, faces: Sequence[Face] = ()) -> dict[str, np.ndarray]:
    """``image``'s regions as float32 (H, W) masks in [0, 1], one per name of
    :data:`REGIONS` that is present; they sum to 1 at every pixel."""
    from painterly.faces.masks import face_mask_array

    rgb = np.asarray(image.convert("RGB"))
    h, w = rgb.shape[:2]
    lab = _lab(rgb)
    masks: dict[str, np.ndarray] = {}
    face = face_mask_array(list(faces), h, w).astype(np.float32) if faces else np.zeros((h, w), np.float32)
    if face.max() > 0:
        masks["face"] = face
        masks["hair"] = _hair(lab, faces, face)
    taken = np.maximum(face, masks.get("hair", 0.0))
    masks["sky"] = _sky(lab, taken) * (1.0 - taken)
    rest = np.clip(1.0 - sum(masks.values()), 0.0, 1.0)
    masks["rest"] = rest
    total = sum(masks.values())
    assert isinstance(total, np.ndarray)
    return {k: (v / np.maximum(total, 1e-6)).astype(np.float32) for k, v in masks.items() if v.mean() > 0}


def match_regions(
    content: dict[str, np.ndarray], style: dict[str, np.ndarray], min_share: float = MIN_SHARE
) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """Pairs (name, content mask, style mask) for the regions both images have (at
    least ``min_share`` of each); the content's unmatched regions join the rest, which
    takes the style's rest (or the whole style when the style has none)."""
    pairs: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    leftover = np.zeros_like(next(iter(content.values())))
    for name, cm in content.items():
        if name == "rest":
            continue
        sm = style.get(name)
        if sm is not None and cm.mean() >= min_share and sm.mean() >= min_share:
            pairs.append((name, cm, sm))
        else:
            leftover = leftover + cm
    rest = content.get("rest", np.zeros_like(leftover)) + leftover
    if rest.mean() > 0:
        style_rest = style.get("rest")
        pairs.append(("rest", np.clip(rest, 0, 1), style_rest if style_rest is not None and
                      style_rest.mean() >= min_share else None))
    return pairs


def _weighted_stats(lab: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    flat = lab.reshape(-1, 3)
    if mask is None:
        return flat.mean(0), flat.std(0) + 1e-3
    m = mask.reshape(-1, 1).astype(np.float64)
    total = max(float(m.sum()), 1e-6)
    mean = (flat * m).sum(0) / total
    std = np.sqrt(((flat - mean) ** 2 * m).sum(0) / total) + 1e-3
    return mean, std


def transfer_colours(
    content: np.ndarray, style: np.ndarray, pairs: Sequence[tuple[str, np.ndarray, np.ndarray | None]]
) -> np.ndarray:
    """Region by region, move the content's Lab mean and standard deviation to the
    matched style region's (Reinhard et al. 2001, per region); ``content`` and ``style``
    (H, W, 3) float in [0, 1], ``pairs`` from :func:`match_regions` (content masks at the
    content's size, style masks at the style's). Returns (H, W, 3) float32 in [0, 1]."""
    import cv2

    lab_c = cv2.cvtColor(content.astype(np.float32), cv2.COLOR_RGB2Lab)
    lab_s = cv2.cvtColor(style.astype(np.float32), cv2.COLOR_RGB2Lab)
    out = np.zeros_like(lab_c)
    weight = np.zeros(lab_c.shape[:2], np.float32)
    for _name, cm, sm in pairs:
        mc, sc = _weighted_stats(lab_c, cm)
        ms, ss = _weighted_stats(lab_s, sm)
        moved = (lab_c - mc) / sc * ss + ms
        out += moved * cm[..., None]
        weight += cm
    out = out / np.maximum(weight, 1e-6)[..., None]
    out[..., 0] = np.clip(out[..., 0], 0, 100)
    return np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_Lab2RGB), 0, 1)

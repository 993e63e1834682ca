"""Edge-preserving smoothing for photorealistic outputs: the guided filter (He, Sun and
Tang 2010) with the content photo as the colour guide.

Inside every (2r+1)^2 window the output is an affine function of the guide's RGB, so
the photo's edges come back while the stylised colours stay: the step FastPhotoStyle
calls photorealistic smoothing, in its guided-filter form. Box means come from OpenCV
(``cv2.boxFilter``); the 3x3 solves are batched in numpy. Torch-free.
"""

from __future__ import annotations

import numpy as np

__all__ = ["guided_filter"]


def _box(x: np.ndarray, r: int) -> np.ndarray:
    import cv2

    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int = 8, eps: float = 1e-3, *,
                  subsample: int = 1) -> np.ndarray:
    """Filter ``src`` (H, W, C) guided by ``guide`` (H, W, 3), both float in [0, 1].

    Args:
        radius: window radius in pixels; larger follows the stylised colours over larger
            areas.
        eps: regularisation of the local fit; smaller keeps more of the guide's edges.

        subsample: fit the local affine models on images this many times smaller and
            apply the upsampled coefficients to the full-size guide (the fast guided
            filter, He and Sun 2015): the output keeps every edge of the full-size guide
            even where ``src`` is blurred.

    Returns (H, W, C) float32.
    """
    if guide.ndim != 3 or guide.shape[2] != 3 or src.shape[:2] != guide.shape[:2]:
        raise ValueError(f"guide (H, W, 3) and src (H, W, C) of one size needed, got {guide.shape} and {src.shape}")
    import cv2

    full = guide.astype(np.float32)
    g: np.ndarray = full
    p: np.ndarray = src.astype(np.float32).reshape(*src.shape[:2], -1)
    h0, w0 = p.shape[:2]
    if subsample > 1:
        size = (max(1, w0 // subsample), max(1, h0 // subsample))
        g = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
        p = cv2.resize(p, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1)
        radius = max(1, radius // subsample)
    h, w, c = p.shape
    mean_g = _box(g, radius)  # (H, W, 3)
    mean_p = _box(p, radius)  # (H, W, C)
    # covariance of the guide (H, W, 3, 3) and guide-source cross covariance (H, W, 3, C)
    gg = np.stack([_box(g * g[..., i : i + 1], radius) for i in range(3)], axis=-1)
    cov_g = gg - mean_g[..., :, None] * mean_g[..., None, :]
    gp = np.stack([_box(g * p[..., k : k + 1], radius) for k in range(c)], axis=-1)
    cov_gp = gp - mean_g[..., :, None] * mean_p[..., None, :]
    a = np.linalg.solve(cov_g + eps * np.eye(3, dtype=np.float32), cov_gp)  # (H, W, 3, C)
    b = mean_p - np.einsum("hwi,hwic->hwc", mean_g, a)
    mean_a = _box(a.reshape(h, w, 3 * c), radius)
    mean_b = _box(b, radius).reshape(h, w, c)
    if (h, w) != (h0, w0):
        mean_a = cv2.resize(mean_a, (w0, h0), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (w0, h0), interpolation=cv2.INTER_LINEAR).reshape(h0, w0, c)
    out = np.einsum("hwi,hwic->hwc", full, mean_a.reshape(h0, w0, 3, c)) + mean_b
    return out.reshape(src.shape).astype(np.float32)

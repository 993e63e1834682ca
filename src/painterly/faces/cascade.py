"""What both MTCNN cascades share (the torch one in :mod:`painterly.faces.detection`,
the onnxruntime + numpy one in :mod:`painterly.faces.light`), without torch."""

from __future__ import annotations

__all__ = ["pyramid_scales"]


def pyramid_scales(height: int, width: int, min_face_size: float, scale_factor: float) -> list[float]:
    """Image pyramid scales: the first maps ``min_face_size`` to P-Net's 12 px window,
    each next one is ``scale_factor`` smaller, down to a 12 px short side."""
    scale = 12.0 / min_face_size
    side = min(height, width) * scale
    out = []
    while side >= 12:
        out.append(scale)
        scale *= scale_factor
        side *= scale_factor
    return out

"""Identity over a video: the dlib distance between the faces of the input frames and
the same places in the stylised frames, on the frames the caller samples."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from painterly.errors import PainterlyError

__all__ = ["ClipIdentity", "clip_identity"]


@dataclass
class ClipIdentity:
    per_frame: dict[int, float] = field(default_factory=dict)  # frame index -> worst face's distance

    @property
    def median(self) -> float | None:
        return statistics.median(self.per_frame.values()) if self.per_frame else None

    @property
    def worst(self) -> tuple[int, float] | None:
        return max(self.per_frame.items(), key=lambda kv: kv[1]) if self.per_frame else None

    def line(self) -> str:
        if not self.per_frame:
            return "identity over the clip: no face found in the sampled frames"
        frame, dist = self.worst  # type: ignore[misc]
        return (f"identity over the clip ({len(self.per_frame)} sampled frames with faces): median "
                f"{self.median:.3f}, worst {dist:.3f} at frame {frame + 1} (same person below 0.6)")


def clip_identity(frames: Iterable[tuple[int, np.ndarray, np.ndarray]], *, detector: Any = None) -> ClipIdentity:
    """``frames``: (frame index, input (H, W, 3) uint8, stylised frame, any size) for the
    frames to measure. Faces are found on the inputs by ``detector`` (PIL image -> faces;
    default: the process-wide MTCNN on torch)."""
    from painterly.faces.identity import identity_distance

    if detector is None:
        from painterly.faces.detection import shared_detector

        detector = shared_detector(20.0, "cpu")
    result = ClipIdentity()
    for t, inp, outp in frames:
        src, out = Image.fromarray(inp), Image.fromarray(outp)
        dists = []
        for face in detector(src):
            try:
                dists.append(identity_distance(src, out, face))
            except PainterlyError:  # too small to align and embed
                continue
        if dists:
            result.per_frame[t] = max(dists)
    return result

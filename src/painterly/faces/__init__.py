"""Faces: MTCNN detection, dlib identity embeddings, verification and recognition."""

from typing import TYPE_CHECKING

from painterly.lazy import lazy_exports

if TYPE_CHECKING:
    from painterly.faces.detection import Face, FaceDetector, Landmarks, detect
    from painterly.faces.gallery import Gallery, Identification, identify
    from painterly.faces.identity import NoFaceError, Verification, embed, face_distance, identity_distance, verify

__getattr__ = lazy_exports(globals(), {
    "Face": "painterly.faces.face", "Landmarks": "painterly.faces.face",
    "FaceDetector": "painterly.faces.detection", "detect": "painterly.faces.detection",
    "Gallery": "painterly.faces.gallery", "Identification": "painterly.faces.gallery",
    "identify": "painterly.faces.gallery",
    "NoFaceError": "painterly.faces.identity", "Verification": "painterly.faces.identity",
    "embed": "painterly.faces.identity", "face_distance": "painterly.faces.identity",
    "identity_distance": "painterly.faces.identity", "verify": "painterly.faces.identity",
})

__all__ = [
    "Face",
    "FaceDetector",
    "Gallery",
    "Identification",
    "Landmarks",
    "NoFaceError",
    "Verification",
    "detect",
    "embed",
    "face_distance",
    "identify",
    "identity_distance",
    "verify",
]

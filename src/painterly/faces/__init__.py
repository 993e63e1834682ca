"""Faces: MTCNN detection, dlib identity embeddings, verification and recognition."""

from painterly.faces.detect import Face, FaceDetector, Landmarks, detect
from painterly.faces.gallery import Gallery, Identification, identify
from painterly.faces.identity import NoFaceError, Verification, embed, face_distance, identity_distance, verify

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

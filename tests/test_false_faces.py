"""The false-face check: boxes whose landmarks, score, size or colour are not a face's
are rejected; every real face in ../shared/data/faces is kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from painterly.faces.detection import FaceDetector
from painterly.faces.face import Face, Landmarks
from painterly.faces.plausible import landmark_problem, plausible_faces


def _face(x: float, y: float, w: float, score: float = 0.99, **moves: tuple[float, float]) -> Face:
    """A frontal face box at (x, y) of width w with textbook landmarks (then ``moves``)."""
    pts = {"left_eye": (x + 0.3 * w, y + 0.4 * w), "right_eye": (x + 0.7 * w, y + 0.4 * w),
           "nose": (x + 0.5 * w, y + 0.6 * w), "mouth_left": (x + 0.35 * w, y + 0.8 * w),
           "mouth_right": (x + 0.65 * w, y + 0.8 * w)}
    pts.update(moves)
    return Face((x, y, x + w, y + 1.2 * w), score, Landmarks(**pts))


def test_landmark_geometry() -> None:
    assert landmark_problem(_face(10, 10, 100)) is None
    upside_down = _face(10, 10, 100, nose=(60, 40), mouth_left=(45, 30), mouth_right=(75, 30))
    assert "order" in landmark_problem(upside_down)
    far_eyes = _face(10, 10, 100, left_eye=(-80, 50), right_eye=(200, 50))
    assert "apart" in landmark_problem(far_eyes)
    huge_mouth = _face(10, 10, 100, mouth_left=(-100, 90), mouth_right=(220, 90))
    assert "mouth" in landmark_problem(huge_mouth)


def test_small_low_score_box_beside_a_face_is_rejected_but_a_small_real_face_alone_is_kept() -> None:
    big, beads = _face(100, 100, 200, score=0.999), _face(400, 500, 25, score=0.90)
    kept, rejected = plausible_faces([big, beads])
    assert kept == [big] and rejected[0][0] == beads
    small_alone = _face(10, 10, 25, score=0.99)  # a small face with nothing bigger beside it
    assert plausible_faces([small_alone])[0] == [small_alone]
    # a small face next to a large one survives when MTCNN is sure of it (a group photo)
    sure = _face(400, 500, 40, score=0.995)
    assert sure in plausible_faces([big, sure])[0]


def test_skin_test_only_in_colour_photos() -> None:
    face = _face(20, 20, 100)
    blue = np.zeros((200, 200, 3), np.uint8)
    blue[..., 2] = 200
    assert plausible_faces([face], blue)[0] == []
    grey = np.full((200, 200, 3), 128, np.uint8)
    assert plausible_faces([face], grey)[0] == [face]
    skin = np.zeros((200, 200, 3), np.uint8)
    skin[...] = (224, 172, 140)
    assert plausible_faces([face], skin)[0] == [face]


def test_real_images(shared_data: Path) -> None:
    det = FaceDetector(device="cpu")
    expected = {"two_people.jpg": 2}
    for path in sorted((shared_data / "faces").iterdir()):
        assert len(det(path)) == expected.get(path.name, 1), path.name  # the ~52 px face of obama-240p too
    # a scene that MTCNN alone finds a 20 px "face" in (score 0.83) at twice its size
    img = Image.open(shared_data / "content" / "tubingen.jpg").convert("RGB")
    big = img.resize((img.width * 2, img.height * 2))
    assert len(det.candidates(big)) >= 1 and det(big) == []
    kept, rejected = det.detect_with_rejections(big)
    assert kept == [] and rejected and "score" in rejected[0][1]

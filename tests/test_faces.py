from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.cli.main import main
from painterly.faces import Gallery, detect, embed, face_distance, identify, verify
from painterly.faces.detection import _square, box_iou, nms
from painterly.faces.mtcnn import ONet, PNet, RNet, load_mtcnn_weights

# number of faces per file, from ../shared/data/README.md
EXPECTED = {"32bit.png": 1, "biden.jpg": 1, "biden2.jpg": 1, "obama-240p.jpg": 1, "obama.jpg": 1, "obama2.jpg": 1,
            "obama3.jpg": 1, "obama_partial_face.jpg": 1, "two_people.jpg": 2}
PERSON = {"32bit.png": "obama", "biden.jpg": "biden", "biden2.jpg": "biden", "obama-240p.jpg": "obama",
          "obama.jpg": "obama", "obama2.jpg": "obama", "obama3.jpg": "obama", "obama_partial_face.jpg": "obama"}


def test_box_iou_and_nms_by_hand() -> None:
    a = torch.tensor([[0.0, 0, 10, 10]])
    b = torch.tensor([[5.0, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    # overlap 5x10 = 50; union 100 + 100 - 50 = 150
    assert torch.allclose(box_iou(a, b)[0], torch.tensor([50 / 150, 0.0, 25 / 100]))
    assert torch.allclose(box_iou(a, b, "min")[0], torch.tensor([0.5, 0.0, 1.0]))
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 9, 10]])
    scores = torch.tensor([0.9, 0.95, 0.5, 0.3])
    # box 1 (best) suppresses 0 (IoU 81/119) and 3; box 2 is apart
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 0, 2, 3]  # nothing suppressed: score order


def test_square_keeps_centre() -> None:
    sq = _square(torch.tensor([[10.0, 20, 30, 60]]))
    assert sq.tolist() == [[0.0, 20.0, 40.0, 60.0]]


def test_stages_load_converted_weights_and_have_known_shapes() -> None:
    p, r, o = PNet(), RNet(), ONet()
    load_mtcnn_weights(p, r, o)
    with torch.no_grad():
        reg, prob = p(torch.zeros(1, 3, 12, 12))
        assert reg.shape == (1, 4, 1, 1) and prob.shape == (1, 1, 1)
        reg, prob = p(torch.zeros(1, 3, 30, 40))  # stride 2, 12 px window
        assert prob.shape == (1, 10, 15)
        r_reg, r_prob = r(torch.zeros(2, 3, 24, 24))
        o_reg, marks, o_prob = o(torch.zeros(2, 3, 48, 48))
    assert r_reg.shape == (2, 4) and o_reg.shape == (2, 4) and marks.shape == (2, 10)
    assert ((o_prob >= 0) & (o_prob <= 1)).all()
    # a flat grey patch is not a face
    assert float(o_prob[0]) < 0.5 and float(r_prob[0]) < 0.5


@pytest.fixture(scope="module")
def shared_faces(shared_data: Path) -> dict[str, list]:
    return {name: detect(shared_data / "faces" / name) for name in EXPECTED}


def test_finds_exactly_the_listed_faces_matching_dlib_hog(shared_faces, shared_data: Path) -> None:
    import dlib

    hog = dlib.get_frontal_face_detector()
    for name, faces in shared_faces.items():
        assert len(faces) == EXPECTED[name], name
        img = np.asarray(Image.open(shared_data / "faces" / name).convert("RGB"))
        ref = torch.tensor([[r.left(), r.top(), r.right(), r.bottom()] for r in hog(img, 1)], dtype=torch.float32)
        assert len(ref) == EXPECTED[name]
        iou = box_iou(torch.tensor([f.box for f in faces]), ref)
        assert (iou.max(1).values >= 0.5).all(), (name, iou)


def test_landmarks_inside_box_and_in_anatomical_order(shared_faces) -> None:
    for name, faces in shared_faces.items():
        for f in faces:
            x1, y1, x2, y2 = f.box
            for x, y in f.landmarks.as_array():
                assert x1 - 2 <= x <= x2 + 2 and y1 - 2 <= y <= y2 + 2, name
            lm = f.landmarks
            eyes_y = max(lm.left_eye[1], lm.right_eye[1])
            mouth_y = min(lm.mouth_left[1], lm.mouth_right[1])
            assert eyes_y < lm.nose[1] < mouth_y, name
            assert lm.left_eye[0] < lm.right_eye[0] and lm.mouth_left[0] < lm.mouth_right[0], name


def test_verification_on_shared_pairs(shared_data: Path) -> None:
    files = list(PERSON)
    emb = {f: embed(shared_data / "faces" / f) for f in files}
    for a, b in itertools.combinations(files, 2):
        d = face_distance(emb[a], emb[b])
        if PERSON[a] == PERSON[b]:
            assert d < 0.6, (a, b, d)
        else:
            assert d > 0.6, (a, b, d)
    v = verify(shared_data / "faces" / "obama.jpg", shared_data / "faces" / "biden.jpg")
    assert not v.same and v.threshold == 0.6


def test_gallery_identifies_caches_and_skips_bad_files(tmp_path: Path, shared_data: Path, caplog) -> None:
    faces = shared_data / "faces"
    root = tmp_path / "gallery"
    (root / "obama").mkdir(parents=True)
    (root / "biden").mkdir()
    Image.open(faces / "obama.jpg").save(root / "obama" / "a.jpg")
    Image.open(faces / "biden2.jpg").save(root / "biden" / "a.jpg")
    (root / "biden" / "broken.jpg").write_text("not a jpeg")
    Image.new("RGB", (64, 64), "gray").save(root / "biden" / "blank.png")
    cache = tmp_path / "cache.json"
    g = Gallery.load(root, cache=cache)
    assert g.computed == 4 and sorted(g.embeddings) == ["biden", "obama"]
    assert {f for f, _ in g.skipped} == {"biden/broken.jpg", "biden/blank.png"}
    assert identify(faces / "obama3.jpg", g).name == "obama"
    assert identify(faces / "biden.jpg", g).name == "biden"
    assert identify(faces / "obama3.jpg", g, threshold=0.05).name == "unknown"
    # adding a person computes only that person's photo
    (root / "obama2").mkdir()
    Image.open(faces / "obama2.jpg").save(root / "obama2" / "x.jpg")
    g2 = Gallery.load(root, cache=cache)
    assert g2.computed == 1 and "obama2" in g2.embeddings
    assert json.loads(cache.read_text())["files"]["obama2/x.jpg"]["embedding"]


def test_faces_cli_detect_annotate_json_verify_identify(tmp_path: Path, shared_data: Path, capsys) -> None:
    faces = shared_data / "faces"
    out = tmp_path / "boxes.png"
    assert main(["faces", "detect", str(faces / "two_people.jpg"), "--annotate", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["faces"]) == 2 and set(report["faces"][0]["landmarks"]) >= {"left_eye", "nose"}
    assert Image.open(out).size == Image.open(faces / "two_people.jpg").size
    assert main(["faces", "verify", str(faces / "obama.jpg"), str(faces / "obama2.jpg")]) == 0
    assert capsys.readouterr().out.startswith("same person")
    root = tmp_path / "g"
    (root / "biden").mkdir(parents=True)
    Image.open(faces / "biden.jpg").save(root / "biden" / "1.jpg")
    code = main(["faces", "identify", str(faces / "obama.jpg"), "--gallery", str(root), "--cache",
                 str(tmp_path / "c.json")])
    assert code == 0 and capsys.readouterr().out.startswith("unknown")


def test_faces_cli_bad_input(tmp_path: Path, capsys) -> None:
    (tmp_path / "x.jpg").write_text("nope")
    for argv in (["faces", "detect", str(tmp_path / "missing.jpg")],
                 ["faces", "detect", str(tmp_path / "x.jpg")],
                 ["faces", "verify", str(tmp_path / "x.jpg"), str(tmp_path / "x.jpg")],
                 ["faces", "identify", str(tmp_path / "x.jpg"), "--gallery", str(tmp_path / "none")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_no_face_is_reported_not_crashed(tmp_path: Path, capsys) -> None:
    Image.new("RGB", (200, 150), "white").save(tmp_path / "blank.png")
    assert main(["faces", "detect", str(tmp_path / "blank.png")]) == 0
    assert "0 faces" in capsys.readouterr().out
    assert main(["faces", "verify", str(tmp_path / "blank.png"), str(tmp_path / "blank.png")]) == 2


def test_one_detector_per_process_and_resolved_device() -> None:
    from painterly.device import resolve_device
    from painterly.faces.detection import shared_detector

    assert shared_detector(20.0, "auto") is shared_detector(20, str(resolve_device("auto")))
    assert shared_detector(20.0, "cpu") is shared_detector(20.0, "cpu")


def test_detect_on_copy_scans_a_smaller_copy_and_maps_faces_back() -> None:
    from painterly.faces.detection import detect_on_copy
    from painterly.faces.face import Face, Landmarks

    seen: list[tuple[int, int]] = []

    def fake(image: Image.Image) -> list[Face]:  # one face at fixed copy pixels
        seen.append(image.size)
        pts = [(10.0, 10.0), (20.0, 10.0), (15.0, 15.0), (11.0, 20.0), (19.0, 20.0)]
        return [Face((5.0, 5.0, 25.0, 25.0), 0.99, Landmarks(*pts))]

    image = Image.new("RGB", (400, 300))
    (face,) = detect_on_copy(fake, image, 0.25)
    assert seen == [(100, 75)]
    assert face.box == pytest.approx((20.0, 20.0, 100.0, 100.0))
    assert face.landmarks.nose == pytest.approx((60.0, 60.0))
    seen.clear()
    (face,) = detect_on_copy(fake, image, 3.0)  # never enlarged: the image itself
    assert seen == [(400, 300)] and face.box == (5.0, 5.0, 25.0, 25.0)

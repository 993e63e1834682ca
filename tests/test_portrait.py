from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from painterly import GatysConfig, Stylizer
from painterly.cli.main import main
from painterly.errors import ConfigError
from painterly.faces import detect
from painterly.faces.face import Face, Landmarks
from painterly.faces.masks import face_ellipse, face_mask
from painterly.methods.portrait import PortraitConfig, stylize_portrait


@pytest.fixture(scope="module")
def portrait_small(shared_data: Path, tmp_path_factory) -> Path:
    """obama.jpg cropped around the face and shrunk to 160 px: a small, fast portrait."""
    img = Image.open(shared_data / "faces" / "obama.jpg").convert("RGB").crop((250, 0, 730, 560))
    path = tmp_path_factory.mktemp("portrait") / "sitter.png"
    img.resize((137, 160), Image.Resampling.LANCZOS).save(path)
    return path


def test_face_mask_covers_face_and_feathers(shared_data: Path) -> None:
    face = detect(shared_data / "faces" / "obama.jpg")[0]
    img = Image.open(shared_data / "faces" / "obama.jpg")
    mask = face_mask([face], img.height, img.width)
    assert mask.shape == (1, 1, img.height, img.width)
    lm = face.landmarks
    for x, y in (lm.left_eye, lm.right_eye, lm.nose, lm.mouth_left, lm.mouth_right):
        assert mask[0, 0, int(y), int(x)] == 1.0
    assert mask[0, 0, 5, 5] == 0.0 and mask[0, 0, -5, -5] == 0.0  # corners: background
    values = mask.unique()
    assert ((values > 0) & (values < 1)).any()  # a soft edge, not a cut-out
    _cx, cy, a, b, _ = face_ellipse(face)
    assert b > a > 0 and face.box[1] - 40 < cy - b < lm.left_eye[1]


def test_portrait_config_rejects_bad_values() -> None:
    for kw in ({"face_content_weight": -1.0}, {"face_style_weight": float("nan")}, {"keep_identity": 0.0},
               {"min_face_size": 5.0}, {"identity_budget": 0.0}, {"identity_budget": float("nan")},
               {"identity_budget": -0.2}, {"face_paint": 1.5}, {"face_paint": float("nan")}):
        with pytest.raises(ConfigError):
            PortraitConfig(**kw)


def _stylizer(style: Path, lite0, **kw) -> Stylizer:
    cfg = GatysConfig(size=160, iterations=25, coarse_iterations=15, min_size=80, backbone="efficientnet-lite0", **kw)
    return Stylizer(style, cfg, backbone=lite0)


@pytest.mark.slow
def test_face_aware_keeps_identity_better_than_plain(portrait_small: Path, shared_data: Path, lite0) -> None:
    st = _stylizer(shared_data / "styles" / "starry_night.jpg", lite0, style_weight=30.0)
    plain = stylize_portrait(st, portrait_small, PortraitConfig(face_aware=False))
    aware = stylize_portrait(st, portrait_small, PortraitConfig(face_pass=False))
    assert aware.face_aware and not plain.face_aware
    assert aware.identity[0] is not None and plain.identity[0] is not None
    assert aware.identity[0] < plain.identity[0]


def test_face_aware_run_on_a_small_portrait(portrait_small: Path, shared_data: Path, lite0) -> None:
    st = _stylizer(shared_data / "styles" / "starry_night.jpg", lite0)
    result = stylize_portrait(st, portrait_small, PortraitConfig(face_pass=False))
    assert result.face_aware and len(result.faces) == 1
    assert result.identity[0] is not None and 0 <= result.identity[0] < 0.6
    assert result.image.size == (137, 160)


def test_identity_budget_takes_paint_back_when_it_is_exceeded(portrait_small: Path, shared_data: Path,
                                                              lite0) -> None:
    st = _stylizer(shared_data / "styles" / "starry_night.jpg", lite0)
    r = stylize_portrait(st, portrait_small, PortraitConfig(face_pass=False, identity_budget=1e-6, budget_rounds=2))
    assert r.keep_identity_reached is False and any("over the budget" in n for n in r.notes)
    assert r.identity_before_last_scale is not None  # measured before the last scale ...
    assert r.face_paint == 0.0  # ... where the paint was taken back
    # paint already 0: each extra round doubles the content on the face's features
    assert r.face_content_weight == 4 * PortraitConfig().face_content_weight
    assert r.result.steps == 15 + 25 + 2 * 25  # paint already spent: each round runs the whole final scale


def test_paint_is_cut_before_the_last_scale_only_when_noface_pass_follows(portrait_small: Path) -> None:
    from painterly.image import pil_to_tensor
    from painterly.methods.portrait_budget import BudgetSchedule

    photo = Image.open(portrait_small).convert("RGB")
    faces = detect(photo)
    assert faces
    # a coarse result that has lost the face: far over any budget
    lost = pil_to_tensor(photo.resize((17, 20), Image.Resampling.BOX).resize(photo.size))
    lost = torch.flip(lost, dims=[-2])
    paints = {}
    for follows in (True, False):
        pcfg = PortraitConfig(face_pass=follows, identity_budget=0.05)
        schedule = BudgetSchedule(pcfg, photo, faces, lambda *a: None)
        schedule(0, 2, lost[..., ::2, ::2])
        schedule(1, 2, lost)
        assert schedule.measured is not None and schedule.measured > 1.6 * 0.05
        paints[follows] = schedule.paint
    assert paints[True] == 1.0  # the face pass repaints the face; the final measurement holds the budget
    assert paints[False] < 1.0


def test_a_generous_budget_keeps_the_face_painted(portrait_small: Path, shared_data: Path, lite0) -> None:
    st = _stylizer(shared_data / "styles" / "starry_night.jpg", lite0)
    r = stylize_portrait(st, portrait_small, PortraitConfig(face_pass=False, identity_budget=0.95))
    assert r.keep_identity_reached is True and r.face_paint == 1.0
    assert r.result.steps == 15 + 25  # no extra round
    assert r.identity[0] is not None and r.identity[0] <= 0.95
    # the budget was far from spent before the last scale: the face took more style there
    assert r.identity_before_last_scale is not None and r.identity_before_last_scale < 0.95
    assert 1.0 < r.face_style_boost <= PortraitConfig().face_style_boost
    off = stylize_portrait(st, portrait_small, PortraitConfig(face_pass=False, identity_budget=0.95,
                                                              face_style_boost=1.0))
    assert off.face_style_boost == 1.0 and not torch.equal(off.result.tensor, r.result.tensor)


def test_face_paint_weights_run_from_the_old_default_to_painted() -> None:
    cfg = PortraitConfig()
    assert cfg.weights(0.0) == (cfg.face_content_weight, cfg.face_style_weight, cfg.face_content_weight)
    skin, style, parts = cfg.weights(1.0)
    assert skin == 1.0 and style == cfg.painted_face_style and parts == cfg.face_parts_weight
    assert PortraitConfig(keep_identity=0.3).identity_budget == 0.3  # the older name still works


def test_no_face_means_plain_stylisation_with_a_note(tiny_images, lite0) -> None:
    content, style = tiny_images
    st = Stylizer(style, GatysConfig(size=48, iterations=3, coarse_iterations=2, min_size=24,
                                     backbone="efficientnet-lite0"), backbone=lite0)
    r = stylize_portrait(st, content)
    assert not r.face_aware and r.faces == [] and any("no face" in n for n in r.notes)


def test_face_pass_and_background_style_run(portrait_small: Path, shared_data: Path, lite0) -> None:
    st = _stylizer(shared_data / "styles" / "starry_night.jpg", lite0)
    r = stylize_portrait(st, portrait_small, PortraitConfig(
        face_pass=True, background_style=str(shared_data / "styles" / "the_scream.jpg")))
    assert any("face pass" in n for n in r.notes)
    assert r.image.size == (137, 160)


def test_selim_needs_a_portrait_style(portrait_small: Path, tiny_images, lite0, shared_data: Path) -> None:
    _, noise_style = tiny_images
    st = _stylizer(noise_style, lite0)
    with pytest.raises(ConfigError, match="portrait style"):
        stylize_portrait(st, portrait_small, PortraitConfig(selim=True, face_pass=False))
    # none of the shared paintings has a face MTCNN finds; a posterised photo portrait
    # stands in for a painted one
    from PIL import ImageFilter, ImageOps

    painted = ImageOps.posterize(Image.open(shared_data / "faces" / "biden2.jpg").convert("RGB"), 3)
    painted = painted.filter(ImageFilter.ModeFilter(5)).resize((300, 300))
    painted.save(portrait_small.parent / "painted.png")
    st2 = _stylizer(portrait_small.parent / "painted.png", lite0)
    r = stylize_portrait(st2, portrait_small, PortraitConfig(selim=True, face_pass=False))
    assert r.identity[0] is not None


def test_cli_portrait_reports_identity(portrait_small: Path, shared_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "o.png"
    code = main(["stylize", str(portrait_small), "-s", str(shared_data / "styles" / "starry_night.jpg"),
                 "-o", str(out), "--size", "160", "--iterations", "10", "--coarse-iterations", "6",
                 "--min-size", "80", "-q", "--backbone", "efficientnet-lite0", "--snapshot-every", "8",
                 "--no-face-pass", "--contact-sheet", str(tmp_path / "sheet.png")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "identity distance input->output" in err and "step 8: identity distance" in err
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["portrait"]["face_aware"] is True and len(record["portrait"]["identity_distance"]) == 1
    code = main(["stylize", str(portrait_small), "-s", str(shared_data / "styles" / "starry_night.jpg"),
                 "-o", str(tmp_path / "p.png"), "--size", "64", "--iterations", "2", "--coarse-iterations", "0",
                 "-q", "--backbone", "efficientnet-lite0", "--no-face-aware"])
    assert code == 0
    assert json.loads((tmp_path / "p.json").read_text())["portrait"]["face_aware"] is False


def test_cli_portrait_bad_input(tiny_images, tmp_path: Path, capsys) -> None:
    content, style = tiny_images
    for extra in (["--face-content-weight", "-2"], ["--keep-identity", "0"], ["--background-style", "nope.jpg"],
                  ["--identity-budget", "0"], ["--identity-budget", "nan"], ["--identity-budget", "-1"],
                  ["--face-paint", "2"], ["--face-style-boost", "0.5"], ["--preset", "watercolour"]):
        code = main(["stylize", str(content), "-s", str(style), "-o", str(tmp_path / "o.png"), "-q", *extra])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1, (extra, err)
        assert not (tmp_path / "o.png").exists()


def test_sketch_preset_is_grey_same_size_and_keeps_the_person(portrait_small: Path, tmp_path: Path, capsys) -> None:
    import numpy as np

    from painterly.methods.sketch import SketchConfig, pencil_sketch

    photo = Image.open(portrait_small)
    sketch = pencil_sketch(photo, SketchConfig(size=None))
    arr = np.asarray(sketch).astype(int)
    assert sketch.size == photo.size
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()  # grey
    assert arr.mean() > 150 and arr.min() < 60  # paper with dark pencil lines
    out = tmp_path / "sketch.png"
    code = main(["stylize", str(portrait_small), "--preset", "sketch", "-o", str(out)])  # no --style needed
    err = capsys.readouterr().err
    assert code == 0 and "pencil sketch" in err, err
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["preset"] == "sketch" and record["identity_distance"][0] < 0.6
    code = main(["stylize", str(portrait_small), "-o", str(tmp_path / "x.png")])  # neither style nor preset
    assert code == 2 and "--style" in capsys.readouterr().err


def test_face_pass_runs_one_scale_from_the_photo_crop(portrait_small: Path, shared_data: Path, lite0,
                                                      monkeypatch) -> None:
    import painterly.methods.portrait as portrait

    calls: list[tuple[int, bool]] = []  # (iterations, started from the content itself)
    real = portrait.Stylizer.stylize

    def spy(self, content, **kw):
        init = kw.get("init")
        calls.append((self.config.iterations,
                      isinstance(content, torch.Tensor) and init is not None and torch.equal(init, content)))
        return real(self, content, **kw)

    monkeypatch.setattr(portrait.Stylizer, "stylize", spy)
    st = _stylizer(shared_data / "styles" / "starry_night.jpg", lite0)
    stylize_portrait(st, portrait_small, PortraitConfig(face_pass=True, identity_budget=None, face_pass_iterations=4))
    assert calls == [(st.config.iterations, False), (4, True)]  # main run; face pass: 4 steps from the photo crop
    calls.clear()
    stylize_portrait(st, portrait_small, PortraitConfig(face_pass=True, identity_budget=None,
                                                        face_pass_iterations=None))
    assert calls == [(st.config.iterations, False), (st.config.iterations, False)]  # a whole run on the crop
    with pytest.raises(ConfigError, match="face-pass-iterations"):
        PortraitConfig(face_pass_iterations=0)
    with pytest.raises(ConfigError, match="face-style-boost"):
        PortraitConfig(face_style_boost=0.5)


def _face(x0: float, y0: float, x1: float, y1: float) -> Face:
    w, h = x1 - x0, y1 - y0
    marks = Landmarks((x0 + 0.3 * w, y0 + 0.4 * h), (x0 + 0.7 * w, y0 + 0.4 * h), (x0 + 0.5 * w, y0 + 0.6 * h),
                      (x0 + 0.35 * w, y0 + 0.8 * h), (x0 + 0.65 * w, y0 + 0.8 * h))
    return Face((x0, y0, x1, y1), 0.99, marks)


def test_the_budget_counts_on_a_face_pass_exactly_when_one_runs() -> None:
    from painterly.faces.face_pass import FacePass
    from painterly.methods.portrait_budget import face_pass_config, face_pass_follows

    h, w = 512, 410
    tall = _face(150, 40, 260, 195)  # 110 px wide, 155 tall: its crop (372 px) is not enlarged (zoom 1.03)
    small = _face(170, 60, 230, 140)  # enlarged 1.6x
    large = _face(100, 40, 300, 300)  # 200 px: no pass
    pcfg = PortraitConfig()
    cfg = face_pass_config(pcfg)
    assert cfg.zoom(tall.width, 372) < 1.05
    for face, expected in ((tall, True), (small, True), (large, False)):
        assert face_pass_follows(pcfg, [face], h, w) is expected
        calls: list[tuple[int, ...]] = []

        def restyle(crop: torch.Tensor, _face: Face, calls: list[tuple[int, ...]] = calls) -> torch.Tensor:
            calls.append(tuple(crop.shape))
            return crop

        passer = FacePass(cfg)
        passer(restyle, torch.rand(1, 3, h, w), torch.rand(1, 3, h, w), [[face]])
        assert (passer.faces_seen == 1) is expected and bool(calls) is expected
    assert face_pass_follows(PortraitConfig(face_pass=True), [large], h, w)
    assert not face_pass_follows(PortraitConfig(face_pass=False), [small], h, w)
    # the feed-forward pass still skips crops it would not enlarge
    from painterly.faces.face_pass import FAST_FACE_PASS

    assert FAST_FACE_PASS.window(_face(0, 0, 220, 260), 600, 600) is None


def test_faces_are_found_on_a_copy_at_most_twice_the_output_and_given_in_photo_pixels(
        shared_data: Path, lite0) -> None:
    from painterly.faces.detection import shared_detector
    from painterly.methods.portrait import find_faces

    photo = Image.open(shared_data / "faces" / "obama.jpg").convert("RGB")
    big = photo.resize((photo.width * 2, photo.height * 2), Image.Resampling.BICUBIC)
    detector = shared_detector()
    seen: list[tuple[int, int]] = []

    def recording(image: Image.Image) -> list[Face]:
        seen.append(image.size)
        return detector(image)

    st = _stylizer(shared_data / "styles" / "starry_night.jpg", lite0)  # a 160 px output
    found = find_faces(st, big, recording)
    assert seen and max(seen[0]) <= 2 * 160 and max(seen[0]) >= 2 * 160 - 1  # the copy, not the photo
    full = detector(big)
    assert len(found) == len(full) == 1

    def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
        ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
        return ix * iy / (area - ix * iy)

    assert iou(found[0].box, full[0].box) > 0.7  # in the photo's pixels
    eye_gap = abs(found[0].landmarks.left_eye[0] - full[0].landmarks.left_eye[0])
    assert eye_gap < 0.1 * full[0].width
    # an output as large as the photo: the photo itself, never an enlarged copy
    seen.clear()
    find_faces(Stylizer(shared_data / "styles" / "starry_night.jpg", st.config.replace(size=big.width),
                        backbone=lite0), big, recording)
    assert seen == [big.size]

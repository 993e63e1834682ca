"""The light paths: the CLI's start and painterly fast on onnxruntime import no torch,
and the bundled ONNX copies give the torch networks' pixels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painterly.cli.main import main


def _modules_after(argv: list[str]) -> tuple[int, set[str], str]:
    # the command runs to its real end: the CLI may leave by os._exit (painterly.cli.main.finish)
    code = ("import os, runpy, sys\n"
            f"sys.argv = {['painterly', *argv]!r}\n"
            "def report():\n"
            "    print('MODULES', ' '.join(m for m in ('torch', 'fastapi', 'dlib', 'ray', 'matplotlib', 'onnxruntime')"
            " if m in sys.modules), flush=True)\n"
            "_exit = os._exit\n"
            "def exit_now(rc):\n    report(); _exit(rc)\n"
            "os._exit = exit_now\n"
            "try:\n    runpy.run_module('painterly', run_name='__main__')\n"
            "except SystemExit as e:\n    report(); sys.exit(e.code)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    line = next(x for x in res.stdout.splitlines() if x.startswith("MODULES"))
    return res.returncode, set(line.split()[1:]), res.stderr


def test_help_imports_nothing_heavy() -> None:
    rc, modules, _ = _modules_after(["--help"])
    assert rc == 0 and not modules & {"torch", "fastapi", "dlib", "ray", "matplotlib"}
    rc, modules, _ = _modules_after(["fast", "--help"])
    assert rc == 0 and "torch" not in modules


@pytest.mark.parametrize("face_pass", [[], ["--no-face-pass"]])
def test_fast_on_onnxruntime_does_not_import_torch(face_pass: list[str], tmp_path: Path, shared_data: Path) -> None:
    pytest.importorskip("onnxruntime")
    content = shared_data / "faces" / "obama-240p.jpg"  # a small face: the face pass has work to do
    out = tmp_path / "o.png"
    rc, modules, err = _modules_after(["fast", str(content), "--model", "the_scream", *face_pass, "-o", str(out)])
    assert rc == 0, err
    assert "onnxruntime" in modules and "torch" not in modules and "(onnxruntime)" in err
    assert ("re-stylised" in err) == (not face_pass)
    assert Image.open(out).size == Image.open(content).size


def test_light_detector_finds_what_the_torch_detector_finds(shared_data: Path) -> None:
    pytest.importorskip("onnxruntime")
    from painterly.faces.detection import FaceDetector
    from painterly.faces.light import LightFaceDetector
    from painterly.image import load_image

    light, full = LightFaceDetector(), FaceDetector(device="cpu")
    for path in sorted((shared_data / "faces").glob("*.*")):
        img = load_image(path)
        a, b = light(img), full(img)
        assert len(a) == len(b), path.name
        for fa, fb in zip(a, b, strict=True):
            assert np.abs(np.asarray(fa.box) - np.asarray(fb.box)).max() < 1.0, path.name
            assert np.abs(fa.landmarks.as_array() - fb.landmarks.as_array()).max() < 1.0, path.name
            assert abs(fa.score - fb.score) < 1e-3


def test_area_resize_is_torchs_area_interpolation() -> None:
    import torch
    import torch.nn.functional as F

    from painterly.faces.light import area_resize, nms_array

    x = np.random.default_rng(0).random((3, 37, 53)).astype(np.float32)
    for size in ((12, 13), (26, 38), (37, 53), (5, 50)):
        ref = F.interpolate(torch.from_numpy(x)[None], size=size, mode="area")[0].numpy()
        assert np.abs(area_resize(x, *size) - ref).max() < 1e-5
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=np.float32)
    assert nms_array(boxes, np.array([0.5, 0.9, 0.7]), 0.5).tolist() == [1, 2]


def test_light_face_pass_matches_the_torch_face_pass(shared_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    photo = shared_data / "faces" / "obama-240p.jpg"
    outs = {}
    for runtime in ("onnx", "torch"):
        for fp in ("--face-pass", "--no-face-pass"):
            out = tmp_path / f"{runtime}{fp}.png"
            assert main(["fast", str(photo), "--runtime", runtime, fp, "-o", str(out)]) == 0
            outs[runtime, fp] = np.asarray(Image.open(out)).astype(int)
    changed = np.abs(outs["torch", "--face-pass"] - outs["torch", "--no-face-pass"]).mean()
    gap = np.abs(outs["onnx", "--face-pass"] - outs["torch", "--face-pass"]).mean()
    assert changed > 0.5 and gap < changed / 10  # the face pass does something, and the same thing


@pytest.mark.parametrize("model", ["starry_night", "the_scream"])
def test_onnx_copies_match_the_torch_networks(model: str, tmp_path: Path, shared_data: Path) -> None:
    pytest.importorskip("onnxruntime")
    photo = shared_data / "faces" / "obama-240p.jpg"
    for runtime in ("onnx", "torch"):
        assert main(["fast", str(photo), "--model", model, "--runtime", runtime, "--no-face-pass", "-o",
                     str(tmp_path / f"{runtime}.png")]) == 0
    a = np.asarray(Image.open(tmp_path / "onnx.png")).astype(int)
    b = np.asarray(Image.open(tmp_path / "torch.png")).astype(int)
    assert np.abs(a - b).max() <= 2 and np.abs(a - b).mean() < 0.05


def test_runtime_onnx_where_it_does_not_apply_is_one_line(tiny_images, tmp_path: Path, capsys) -> None:
    content, style = tiny_images
    code = main(["fast", str(content), "--style", str(style), "--runtime", "onnx", "-o", str(tmp_path / "o.png")])
    assert code == 2 and "does not apply here: AdaIN" in capsys.readouterr().err


def test_onnx_path_refuses_sizes_past_memory(tiny_images, tmp_path: Path, capsys) -> None:
    pytest.importorskip("onnxruntime")
    content, _ = tiny_images
    code = main(["fast", str(content), "--runtime", "onnx", "--size", "100000", "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2 and "the largest size that fits" in err and not (tmp_path / "o.png").exists()


def test_a_missing_engine_is_one_line(tiny_images, tmp_path: Path) -> None:
    """With torch hidden, commands that need it say what to install; fast on onnxruntime runs."""
    content, style = tiny_images
    code = ("import sys\nsys.modules['torch'] = None\nfrom painterly.cli.main import main\n"
            f"a = main(['stylize', {str(content)!r}, '--style', {str(style)!r}, '-o', {str(tmp_path / 'a.png')!r}])\n"
            f"b = main(['fast', {str(content)!r}, '-o', {str(tmp_path / 'b.png')!r}])\n"
            "print('RC', a, b)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "RC 2 0" in res.stdout, res.stderr[-2000:]
    assert "'painterly stylize' here needs torch: pip install torch" in res.stderr and "Traceback" not in res.stderr
    assert (tmp_path / "b.png").exists() and not (tmp_path / "a.png").exists()


def test_fast_video_on_onnxruntime_imports_no_torch_and_matches_torch(shared_data: Path, tmp_path: Path) -> None:
    """A video on the light path: the network and the tracked face pass on onnxruntime,
    no torch, the same frames as the torch pipeline (within the face pass's own effect)."""
    pytest.importorskip("onnxruntime")
    import imageio_ffmpeg

    from painterly.image.video import read_frames

    clip = tmp_path / "clip.mp4"  # 12 frames of a small face in a moving car
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i",
                    str(shared_data / "video" / "carphone.mp4"), "-frames:v", "12", "-c:v", "libx264", "-qp", "0",
                    str(clip)], check=True)
    out = tmp_path / "light.mp4"
    rc, modules, err = _modules_after(["fast", str(clip), "--size", "240", "-o", str(out)])
    assert rc == 0, err
    assert "onnxruntime" in modules and "torch" not in modules and "(onnxruntime)" in err
    assert "identity over the clip (2 sampled frames with faces)" in err
    frames = {}
    for runtime, fp in (("torch", "--face-pass"), ("torch", "--no-face-pass")):
        path = tmp_path / f"{runtime}{fp}.mp4"
        assert main(["fast", str(clip), "--size", "240", "--runtime", runtime, fp, "-o", str(path)]) == 0
        frames[runtime, fp] = np.stack(list(read_frames(path))).astype(int)
    light = np.stack(list(read_frames(out))).astype(int)
    assert light.shape == frames["torch", "--face-pass"].shape and light.shape[0] == 12
    changed = np.abs(frames["torch", "--face-pass"] - frames["torch", "--no-face-pass"]).mean()
    gap = np.abs(light - frames["torch", "--face-pass"]).mean()
    # the face pass does something, and nearly the same thing (a box a pixel off moves the crop's strokes: 1.3
    # against a change of 5.8 on carphone; the networks alone differ by 0.03)
    assert changed > 0.3 and gap < changed / 3, (changed, gap)


def test_fast_stylizer_on_its_onnx_copy_keeps_the_torch_extras(shared_data: Path) -> None:
    """FastStylizer(onnx=...) runs only the network on onnxruntime: the pixels of the
    torch network, and masks / original colours still apply (a video with them uses it)."""
    pytest.importorskip("onnxruntime")
    import torch

    from painterly.image import load_image, pil_to_tensor, resize_long_side
    from painterly.methods.feedforward import FastStylizer
    from painterly.methods.feedforward.onnx_runtime import onnx_model_for

    x = pil_to_tensor(resize_long_side(load_image(shared_data / "faces" / "obama-240p.jpg"), 96))
    plain = FastStylizer("starry_night", device="cpu")
    light = FastStylizer("starry_night", device="cpu", onnx=onnx_model_for("starry_night"))
    assert light.onnx is not None and plain.onnx is None
    assert (light.stylize_tensor(x) - plain.stylize_tensor(x)).abs().max() < 2 / 255
    mask = torch.zeros(1, 1, *x.shape[-2:])
    mask[..., :, : x.shape[-1] // 2] = 1  # style on the left half only
    y = light.stylize_tensor(x, mask=mask, original_colors="luminance")
    assert (y[..., x.shape[-1] // 2 + 4 :] - x[..., x.shape[-1] // 2 + 4 :]).abs().max() < 1e-5
    assert (y - plain.stylize_tensor(x, mask=mask, original_colors="luminance")).abs().max() < 2 / 255

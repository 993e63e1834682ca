from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painterly.cli.main import build_parser, main
from painterly.cli.stylize import config_from_args
from painterly.methods import GatysConfig

FAST = ["--size", "40", "--iterations", "3", "--coarse-iterations", "2", "--min-size", "20", "-q",
        "--backbone", "efficientnet-lite0"]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def test_flags_map_to_config_and_defaults_come_from_the_library() -> None:
    parser = build_parser()
    args = parser.parse_args(["stylize", "c.png", "-s", "a.png", "-s", "b.png", "--style-weights", "0.7,0.3",
                              "-o", "o.png", "--layer-weights", "deep-heavy", "--style-weight", "3",
                              "--no-multiscale", "--optimizer", "adam", "--content-layers", "block2,block4"])
    cfg = config_from_args(args)
    assert cfg.style_blend == (0.7, 0.3) and cfg.layer_weights == "deep-heavy" and cfg.style_weight == 3.0
    assert cfg.multiscale is False and cfg.optimizer == "adam" and cfg.content_layers == ("block2", "block4")
    defaults = config_from_args(parser.parse_args(["stylize", "c.png", "-s", "a.png", "-o", "o.png"]))
    assert defaults == GatysConfig()


def test_stylize_writes_image_config_log_plot_and_sheet(tiny_images, tmp_path: Path, capsys) -> None:
    content, style = tiny_images
    out = tmp_path / "out" / "result.png"
    code, err = _run(["stylize", str(content), "--style", str(style), "-o", str(out), *FAST,
                      "--log", str(tmp_path / "log.jsonl"), "--loss-plot", str(tmp_path / "curve.png"),
                      "--contact-sheet", str(tmp_path / "sheet.png"), "--snapshot-every", "2"], capsys)
    assert code == 0, err
    assert Image.open(out).size == (40, 33)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["backbone"]["name"] == "efficientnet-lite0" and record["config"]["size"] == 40
    assert record["steps"] == 5 and "total" in record["final_losses"]
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert len(lines) == 5 and {"step", "total", "content", "style", "tv"} <= set(json.loads(lines[0]))
    assert Image.open(tmp_path / "curve.png").size[0] > 300
    assert Image.open(tmp_path / "sheet.png").size[0] > 100
    assert sorted(p.name for p in (out.parent / "result_snapshots").iterdir()) == ["step_00002.png", "step_00004.png"]
    assert "backbone: efficientnet-lite0" in err


def _bad_inputs(tmp_path: Path, style: Path) -> dict[str, list[str]]:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("hello")
    Image.fromarray(np.zeros((300, 300, 3), np.uint8) + 90).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    s = str(style)
    return {
        "missing": [str(tmp_path / "nope.jpg"), "-s", s],
        "directory": [str(tmp_path), "-s", s],
        "not image": [str(tmp_path / "notes.jpg"), "-s", s],
        "truncated": [str(tmp_path / "cut.jpg"), "-s", s],
        "zero size": [str(tmp_path / "empty.jpg"), "-s", s],
        "missing style": [s, "-s", str(tmp_path / "nope.jpg")],
        "unknown backbone": [s, "-s", s, "--backbone", "alexnet"],
        "negative weight": [s, "-s", s, "--style-weight", "-1"],
        "nan weight": [s, "-s", s, "--content-weight", "nan"],
        "bad blend": [s, "-s", s, "--style-weights", "0.5,x"],
        "blend count": [s, "-s", s, "--style-weights", "0.5,0.5"],
        "bad layer": [s, "-s", s, "--style-layers", "conv9_9"],
        "cuda missing": [s, "-s", s, "--device", "cuda"],
    }


def test_bad_input_gives_one_line_and_exit_2_and_writes_nothing(tiny_images, tmp_path: Path, capsys) -> None:
    _, style = tiny_images
    for label, argv in _bad_inputs(tmp_path, style).items():
        if label == "cuda missing":
            import torch

            if torch.cuda.is_available():
                continue
        out = tmp_path / f"out_{label.replace(' ', '_')}.png"
        code, err = _run(["stylize", *argv, "-o", str(out), *FAST[:-2]], capsys)
        assert code == 2, (label, err)
        assert len(err.strip().splitlines()) == 1, (label, err)
        assert "Traceback" not in err and "error" in err, (label, err)
        assert not out.exists() and not out.with_suffix(".json").exists(), label


def test_vgg_weights_missing_offline(tiny_images, tmp_path: Path, capsys, monkeypatch) -> None:
    content, style = tiny_images
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    # no network here or in CI: make the download fail fast and deterministically
    import torch.hub

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    code, err = _run(["stylize", str(content), "-s", str(style), "-o", str(tmp_path / "o.png"),
                      "--backbone", "vgg19", "-q"], capsys)
    assert code == 2
    assert "vgg19-dcbb9e9d.pth" in err and str(tmp_path / "torch") in err and "efficientnet-lite0" in err
    # the library names parameters; the command line prints its flags
    assert "--weights PATH" in err and "--backbone efficientnet-lite0" in err and "weights=" not in err


def test_library_parameters_become_flags_on_the_command_line() -> None:
    from painterly.cli.main import as_flags, flag_names

    flags = flag_names(build_parser())
    assert flags["fit_memory"] == "--fit-memory" and flags["face_aware"] == "--face-aware"
    text = "about 900 px (size=900), or pass fit_memory=True; use device=cpu; levels=x"
    assert as_flags(text, flags) == "about 900 px (--size 900), or pass --fit-memory; use --device cpu; levels=x"


def test_never_overwrites_an_input(tiny_images, capsys) -> None:
    content, style = tiny_images
    before = content.read_bytes()
    code, err = _run(["stylize", str(content), "-s", str(style), "-o", str(content), *FAST], capsys)
    assert code == 2 and "refusing to overwrite" in err
    assert content.read_bytes() == before


def test_unusual_modes_are_accepted(tmp_path: Path, tiny_images, capsys) -> None:
    content, style = tiny_images
    rgba = np.zeros((30, 36, 4), np.uint8)
    rgba[..., :3] = 120
    rgba[..., 3] = 200
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.open(content).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.open(content).convert("P").save(tmp_path / "pal.png")
    Image.fromarray(np.asarray(Image.open(content).convert("L"), np.uint16) * 257).save(tmp_path / "g16.png")
    for name in ["rgba.png", "cmyk.jpg", "pal.png", "g16.png"]:
        code, err = _run(["stylize", str(tmp_path / name), "-s", str(style), "-o", str(tmp_path / f"o_{name}.png"),
                          *FAST], capsys)
        assert code == 0, (name, err)
        if name == "rgba.png":
            assert "note:" in err and "alpha" in err


def test_ctrl_c_writes_best_image_and_exits_130(tiny_images, tmp_path: Path) -> None:
    content, style = tiny_images
    out = tmp_path / "o.png"
    log = tmp_path / "log.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "painterly", "stylize", str(content), "-s", str(style), "-o", str(out),
         "--size", "64", "--iterations", "100000", "--no-multiscale", "--backbone", "efficientnet-lite0",
         "-q", "--log", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # SIGABRT below dumps every thread's stack
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 3):
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"still running 60 s after Ctrl-C; its stacks:\n{err[-6000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "best image so far" in err
    assert Image.open(out).size == (64, 53)
    assert json.loads(out.with_suffix(".json").read_text())["interrupted"] is True
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_the_console_script_ends_without_teardown_and_keeps_its_output_and_code(tiny_images, tmp_path: Path) -> None:
    content, style = tiny_images
    out = tmp_path / "o.png"
    # a pipe, as under a shell or a CI log: the last lines must not be lost with os._exit
    ok = subprocess.run([sys.executable, "-m", "painterly", "stylize", str(content), "-s", str(style), "-o", str(out),
                         *FAST], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-1500:]
    assert out.exists() and Image.open(out).size == (40, 33)  # 48x40 at a long side of 40
    assert json.loads(out.with_suffix(".json").read_text())["final_losses"]["total"] > 0
    bad = subprocess.run([sys.executable, "-m", "painterly", "stylize", str(tmp_path / "missing.png"), "-s", str(style),
                          "-o", str(tmp_path / "x.png")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("painterly: error:")
    # the fast exit was taken: an atexit handler registered by the caller does not run
    code = ("import atexit, runpy, sys; sys.argv = ['painterly', 'backbones']; "
            "atexit.register(lambda: print('TEARDOWN', flush=True)); "
            "runpy.run_module('painterly', run_name='__main__')")
    listed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0 and "efficientnet-lite0" in listed.stdout and "TEARDOWN" not in listed.stdout


def test_the_fast_exit_waits_for_threads_and_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from painterly.cli import main as cli_main

    monkeypatch.delitem(sys.modules, "ray", raising=False)
    assert cli_main._can_skip_teardown()
    release = threading.Event()
    worker = threading.Thread(target=release.wait)  # non-daemon: the interpreter's exit joins it
    worker.start()
    try:
        assert not cli_main._can_skip_teardown()
    finally:
        release.set()
        worker.join()
    monkeypatch.setitem(sys.modules, "ray", object())  # Ray's exit handler stops the processes it started
    assert not cli_main._can_skip_teardown()
    with pytest.raises(SystemExit) as exc:
        cli_main.finish(3)
    assert exc.value.code == 3

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
    code = ("import sys, runpy\n"
            f"sys.argv = {['painterly', *argv]!r}\n"
            "try:\n    runpy.run_module('painterly', run_name='__main__')\n"
            "except SystemExit as e:\n    rc = e.code\n"
            "print('MODULES', ' '.join(m for m in ('torch', 'fastapi', 'dlib', 'ray', 'matplotlib', 'onnxruntime')"
            " if m in sys.modules))\n"
            "sys.exit(rc)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    line = next(x for x in res.stdout.splitlines() if x.startswith("MODULES"))
    return res.returncode, set(line.split()[1:]), res.stderr


def test_help_imports_nothing_heavy() -> None:
    rc, modules, _ = _modules_after(["--help"])
    assert rc == 0 and not modules & {"torch", "fastapi", "dlib", "ray", "matplotlib"}
    rc, modules, _ = _modules_after(["fast", "--help"])
    assert rc == 0 and "torch" not in modules


def test_fast_on_onnxruntime_does_not_import_torch(tiny_images, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    content, _ = tiny_images
    out = tmp_path / "o.png"
    rc, modules, err = _modules_after(["fast", str(content), "--model", "the_scream", "--no-face-pass", "-o", str(out)])
    assert rc == 0, err
    assert "onnxruntime" in modules and "torch" not in modules and "(onnxruntime)" in err
    assert Image.open(out).size == Image.open(content).size


@pytest.mark.parametrize("model", ["starry_night", "the_scream"])
def test_onnx_copies_match_the_torch_networks(model: str, tmp_path: Path, shared_data: Path) -> None:
    pytest.importorskip("onnxruntime")
    photo = shared_data / "faces" / "obama-240p.jpg"
    for runtime in ("onnx", "torch"):
        assert main(["fast", str(photo), "--model", model, "--runtime", runtime, "-o",
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

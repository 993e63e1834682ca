from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painterly.errors import ImageError
from painterly.image import histogram_match, load_image, match_color_stats, pil_to_tensor, save_image


def _gradient(w: int = 20, h: int = 10) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 12, yy * 25, np.full_like(xx, 128)], -1).astype(np.uint8)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA", "I;16", "I", "F"])
def test_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    img = Image.fromarray(_gradient())
    if mode == "I;16":
        img = Image.fromarray(np.asarray(img.convert("L"), dtype=np.uint16) * 257)
    elif mode in ("I", "F"):
        img = img.convert("L").convert(mode)
    else:
        img = img.convert(mode)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I", "F") else "x.png")
    img.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (20, 10)
    arr = np.asarray(out)
    assert arr.max() > 100  # 16-bit values were scaled, not clipped to black/white


def test_rgba_alpha_is_composited_with_a_note(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:2, :, 3] = 255  # top half opaque red, bottom transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    with caplog.at_level("INFO", logger="painterly"):
        out = np.asarray(load_image(tmp_path / "a.png"))
    assert tuple(out[0, 0]) == (255, 0, 0) and tuple(out[3, 3]) == (255, 255, 255)
    assert "alpha" in caplog.text


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    img = Image.fromarray(_gradient(20, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").size == (10, 20)


def test_bad_files_raise_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    Image.fromarray(_gradient(200, 200)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    cases = {
        tmp_path / "missing.png": "no such file",
        tmp_path: "is a directory",
        tmp_path / "empty.png": "empty",
        tmp_path / "text.png": "not an image",
        tmp_path / "cut.jpg": "truncated",
    }
    for path, reason in cases.items():
        with pytest.raises(ImageError, match=reason) as info:
            load_image(path)
        assert "\n" not in str(info.value)


def test_save_is_atomic_and_refuses_to_overwrite_inputs(tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    Image.fromarray(_gradient()).save(src)
    before = src.read_bytes()
    with pytest.raises(ImageError, match="refusing to overwrite"):
        save_image(Image.new("RGB", (3, 3)), src, protect=[src])
    assert src.read_bytes() == before
    out = save_image(Image.new("RGB", (3, 3)), tmp_path / "sub" / "out.png")
    assert out.exists() and not list(out.parent.glob(".*tmp"))


def test_colour_matching_matches_mean_and_covariance() -> None:
    rng = np.random.default_rng(1)
    src = pil_to_tensor(Image.fromarray((rng.random((16, 16, 3)) * 120).astype(np.uint8)))
    ref = pil_to_tensor(Image.fromarray((rng.random((16, 16, 3)) * 60 + 150).astype(np.uint8)))
    out = match_color_stats(src, ref)
    assert np.allclose(out.mean((0, 2, 3)).numpy(), ref.mean((0, 2, 3)).numpy(), atol=2e-3)
    hm = histogram_match(src, ref)
    assert np.allclose(np.sort(hm[0, 0].flatten().numpy()), np.sort(ref[0, 0].flatten().numpy()), atol=1e-6)

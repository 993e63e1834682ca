"""Careless and hostile input: nothing of the user's is overwritten, image bombs are
refused from their header, and library inputs of the wrong shape get one clear line."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painterly.cli.main import main
from painterly.errors import ConfigError, ImageError, PainterlyError
from painterly.image import load_image, save_image


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that claims width x height pixels: header only, a few bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("side", [15000, 20000])  # over Pillow's warning and its error threshold
def test_bombs_are_refused_from_the_header(tmp_path: Path, side: int, tiny_images, capsys) -> None:
    bomb = _png_header(tmp_path / "bomb.png", side, side)
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(bomb)
    _, style = tiny_images
    code = main(["stylize", str(bomb), "-s", str(style), "-o", str(tmp_path / "o.png"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "bomb" in err


def test_a_bomb_in_a_folder_is_skipped_and_listed(tmp_path: Path, tiny_images, capsys) -> None:
    content, _ = tiny_images
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(content).save(folder / "ok.png")
    _png_header(folder / "bomb.png", 20000, 20000)
    code = main(["fast", str(folder), "--model", "starry_night", "-o", str(tmp_path / "out"), "--no-face-pass"])
    err = capsys.readouterr().err
    assert code == 0 and (tmp_path / "out" / "ok_starry_night.png").exists()
    assert "skipped 1" in err and "bomb.png" in err


def test_outputs_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = save_image(Image.new("RGB", (4, 4)), tmp_path / "o.png")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_library_inputs_of_the_wrong_kind() -> None:
    chw = np.random.default_rng(0).random((3, 20, 30))
    assert load_image(chw).size == (30, 20)  # channels first, as torch keeps them: converted
    with pytest.raises(ImageError, match="NaN"):
        load_image(np.full((20, 30, 3), np.nan))
    with pytest.raises(ImageError, match="shape"):
        load_image(np.zeros((2, 20, 30, 3)))
    with pytest.raises(ImageError, match="None"):
        load_image(None)  # type: ignore[arg-type]
    import painterly

    with pytest.raises(ImageError, match="None"):
        painterly.stylize(np.zeros((20, 30, 3)), None, size=16, iterations=1)  # type: ignore[arg-type]


def test_unknown_style_names_list_the_built_in_styles(tiny_images, tmp_path: Path, capsys) -> None:
    content, _ = tiny_images
    code = main(["stylize", str(content), "-s", "starry_nite", "-o", str(tmp_path / "o.png"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "starry_night" in err and "the_scream" in err


def test_training_never_writes_over_or_into_its_inputs(tmp_path: Path, tiny_images) -> None:
    from painterly.methods.feedforward import FastTrainConfig, train_transformer

    content, style = tiny_images
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.open(content).save(photos / "a.png")
    before = style.read_bytes()
    cfg = FastTrainConfig(styles=(str(style),), steps=1, crop_size=32, batch_size=1, device="cpu",
                          backbone="efficientnet-lite0")
    with pytest.raises(PainterlyError, match="refusing to"):
        train_transformer(photos, cfg, style)  # -o is the style image

    assert style.read_bytes() == before
    with pytest.raises(ConfigError, match="inside the input folder"):
        train_transformer(photos, cfg, photos / "model.pt")
    with pytest.raises(ConfigError, match="inside the input folder"):
        train_transformer(photos, cfg, tmp_path / "m.pt", report_dir=photos / "report")
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    with pytest.raises(ConfigError, match="not a painterly model file"):
        train_transformer(photos, cfg, notes)
    assert notes.read_text() == "mine"


def test_gallery_cache_never_replaces_a_file_that_is_not_one(tmp_path: Path, shared_data: Path) -> None:
    from painterly.faces import Gallery

    people = tmp_path / "people" / "obama"
    people.mkdir(parents=True)
    Image.open(shared_data / "faces" / "obama2.jpg").save(people / "1.jpg")
    text = tmp_path / "notes.txt"
    text.write_text("not a cache")
    with pytest.raises(PainterlyError, match="not a painterly gallery cache"):
        Gallery.load(tmp_path / "people", cache=text)
    assert text.read_text() == "not a cache"


def _one_line(code: int, err: str) -> bool:
    return code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_paths_of_the_wrong_kind_are_refused_before_any_work(tiny_images, tmp_path: Path, capsys,
                                                              monkeypatch) -> None:
    import torch

    content, style = tiny_images
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    junk_video = tmp_path / "junk.mp4"
    junk_video.write_bytes(b"\0not a video" * 100)
    (tmp_path / "cache_dir").mkdir()
    not_vgg = tmp_path / "not_vgg.pt"
    torch.save({"a": torch.zeros(2)}, not_vgg)
    base = ["stylize", str(content), "-s", str(style), "-q"]
    cases = {
        "parent is a file": [*base, "-o", str(a_file / "out.png")],
        "snapshot dir is a file": [*base, "-o", str(tmp_path / "o.png"), "--snapshot-every", "1", "--snapshot-dir",
                                   str(a_file)],
        "not VGG-19 weights": [*base, "-o", str(tmp_path / "o.png"), "--backbone", "vgg19", "--weights", str(not_vgg)],
        "junk video": ["fast", str(junk_video), "-o", str(tmp_path / "o.mp4")],
        "size past memory": ["fast", str(content), "--model", "starry_night", "--size", "100000", "-o",
                             str(tmp_path / "big.png")],
        "gallery cache is a folder": ["faces", "identify", str(content), "--gallery", str(tmp_path), "--cache",
                                      str(tmp_path / "cache_dir")],
    }
    for label, argv in cases.items():
        code = main(argv)
        err = capsys.readouterr().err
        assert _one_line(code, err), (label, err)
    monkeypatch.setattr("painterly.files.os.access", lambda *_a: False)
    code = main([*base, "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert _one_line(code, err) and "not writable" in err and not (tmp_path / "o.png").exists()


def test_onnx_export_without_onnx_names_the_extra(tmp_path: Path, capsys, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    code = main(["fast", "--model", "starry_night", "--export-onnx", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    assert _one_line(code, err) and "painterly[onnx]" in err


def test_fast_size_check_comes_before_the_resize(tiny_images, tmp_path: Path, capsys) -> None:
    content, _ = tiny_images
    code = main(["fast", str(content), "--model", "starry_night", "--size", "100000", "-o", str(tmp_path / "b.png")])
    err = capsys.readouterr().err
    assert _one_line(code, err) and "largest size that fits" in err and "--size" in err


def test_a_gif_to_a_png_is_an_image(tiny_images, tmp_path: Path, capsys) -> None:
    content, _ = tiny_images
    gif = tmp_path / "in.gif"
    Image.open(content).save(gif)
    code = main(["fast", str(gif), "--model", "starry_night", "-o", str(tmp_path / "o.png"), "--no-face-pass"])
    assert code == 0, capsys.readouterr().err
    assert Image.open(tmp_path / "o.png").size == Image.open(content).size


def test_training_crops_past_memory_are_refused_before_any_work(tmp_path: Path, tiny_images) -> None:
    from painterly.errors import MemoryBudgetError
    from painterly.methods.feedforward import FastTrainConfig, train_transformer

    content, style = tiny_images
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.open(content).save(photos / "a.png")
    cfg = FastTrainConfig(styles=(str(style),), steps=1, crop_size=30000, batch_size=4, device="cpu",
                          backbone="efficientnet-lite0")
    with pytest.raises(MemoryBudgetError, match="lower crop_size or batch_size"):
        train_transformer(photos, cfg, tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_server_answers_a_bomb_with_413(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from painterly.web.app import create_app
    from painterly.web.settings import ServerSettings

    bomb = _png_header(tmp_path / "bomb.png", 20000, 20000).read_bytes()
    with TestClient(create_app(ServerSettings(data_dir=tmp_path / "d", rate_per_minute=0))) as client:
        for route, field, data in (("/api/jobs", "content", {"style_name": "starry_night"}),
                                   ("/api/fast", "content", {"model": "starry_night"}), ("/api/faces", "image", {})):
            res = client.post(route, files={field: ("b.png", bomb, "image/png")}, data=data)
            assert res.status_code == 413, (route, res.status_code, res.text)


def test_resume_without_a_checkpoint_says_so(tmp_path: Path, tiny_images, caplog) -> None:
    import logging

    from painterly.methods.feedforward import FastTrainConfig, train_transformer

    content, style = tiny_images
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.open(content).save(photos / "a.png")
    cfg = FastTrainConfig(styles=(str(style),), steps=1, crop_size=32, batch_size=1, device="cpu", width=4,
                          res_blocks=1, backbone="efficientnet-lite0")
    with caplog.at_level(logging.INFO, logger="painterly"):
        result = train_transformer(photos, cfg, tmp_path / "m.pt", resume=True)
    assert result.steps == 1 and any("no checkpoint" in r.getMessage() for r in caplog.records)


def test_serving_beyondis_loopback_is_recognised() -> None:
    from painterly.cli.serve import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")


def test_adain_training_and_inference_keep_the_same_rules(tmp_path: Path, tiny_images, capsys) -> None:
    from painterly.methods.feedforward import AdaINTrainConfig, train_adain

    content, style = tiny_images
    photos, paintings = tmp_path / "photos", tmp_path / "paintings"
    photos.mkdir()
    paintings.mkdir()
    Image.open(content).save(photos / "a.png")
    Image.open(style).save(paintings / "s.png")
    cfg = AdaINTrainConfig(steps=1, crop_size=32, batch_size=1, device="cpu", backbone="efficientnet-lite0")
    for output in (paintings / "adain.pt", photos / "adain.pt"):
        with pytest.raises(ConfigError, match="inside the input folder"):
            train_adain(photos, paintings, cfg, output)
    with pytest.raises(PainterlyError, match="refusing to"):
        train_adain(photos, paintings, cfg, paintings / "s.png")
    assert Image.open(paintings / "s.png").size == Image.open(style).size
    code = main(["fast", str(content), "--style", str(style), "--size", "100000", "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert _one_line(code, err) and "largest size that fits" in err

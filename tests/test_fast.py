"""Feed-forward style transfer: networks, training, checkpoints, inference, ONNX, CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.cli.main import main
from painterly.errors import ConfigError
from painterly.methods.feedforward import (
    AdaINStylizer,
    AdaINTrainConfig,
    FastStylizer,
    FastTrainConfig,
    export_onnx,
    list_fast_models,
    train_adain,
    train_transformer,
)
from painterly.methods.feedforward.training import CHECKPOINT_VERSION, load_checkpoint, save_checkpoint
from painterly.models import AdaINDecoder, TransformerNet, adaptive_instance_norm, blend_adain, mean_std
from painterly.models.transformer_net import TransformerNetConfig

TINY_NET = {"width": 4, "downsamples": 2, "res_blocks": 1}
TINY_TRAIN = {"batch_size": 2, "crop_size": 32, "style_size": 48, "checkpoint_every": 4,
              "backbone": "efficientnet-lite0", "device": "cpu"}  # CPU: exact resume (cuDNN is not deterministic)


def _picture(seed: int, h: int = 60, w: int = 72) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([np.sin(xx / (3 + seed)) , np.cos(yy / (4 + seed)), np.sin((xx + yy) / 7)], -1) * 100 + 128
    return (base + rng.normal(0, 10, base.shape)).clip(0, 255).astype(np.uint8)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    content, styles = tmp_path / "content", tmp_path / "styles"
    content.mkdir()
    styles.mkdir()
    for i in range(3):
        Image.fromarray(_picture(i)).save(content / f"c{i}.png")
    for i in range(2):
        Image.fromarray((np.random.default_rng(10 + i).random((50, 50, 3)) * 255).astype(np.uint8)).save(
            styles / f"s{i}.png")
    return content, styles


@pytest.fixture
def trained(folders, tmp_path: Path) -> Path:
    content, styles = folders
    cfg = FastTrainConfig(styles=(str(styles / "s0.png"),), steps=4, **TINY_NET, **TINY_TRAIN)
    return train_transformer(content, cfg, tmp_path / "style.pt").path


@pytest.fixture
def trained_adain(folders, tmp_path: Path) -> Path:
    content, styles = folders
    cfg = AdaINTrainConfig(steps=2, batch_size=2, crop_size=32, checkpoint_every=2, backbone="efficientnet-lite0")
    return train_adain(content, styles, cfg, tmp_path / "adain.pt").path


# -- networks ---------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(37, 53), (64, 64), (33, 90)])
def test_transformer_net_keeps_any_size(size: tuple[int, int]) -> None:
    net = TransformerNet(TransformerNetConfig(**TINY_NET))
    assert net(torch.rand(2, 3, *size)).shape == (2, 3, *size)


def test_adain_matches_style_statistics_and_blends_linearly() -> None:
    c, s1, s2 = torch.randn(1, 8, 9, 11), torch.randn(1, 8, 7, 5) * 3 + 2, torch.randn(1, 8, 6, 6) * 0.5 - 1
    out = adaptive_instance_norm(c, *mean_std(s1))
    for a, b in zip(mean_std(out), mean_std(s1), strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    mixed = blend_adain(c, [mean_std(s1), mean_std(s2)], [0.25, 0.75])
    by_hand = 0.25 * adaptive_instance_norm(c, *mean_std(s1)) + 0.75 * adaptive_instance_norm(c, *mean_std(s2))
    torch.testing.assert_close(mixed, by_hand, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(blend_adain(c, [mean_std(s1)], [1.0], alpha=0.0), c)


def test_decoder_sizes_and_exact_factor_mode() -> None:
    dec = AdaINDecoder((24, 40, 80), (4, 8, 16))
    feats = [torch.rand(1, 24, 16, 24), torch.rand(1, 40, 8, 12), torch.rand(1, 80, 4, 6)]
    assert dec(feats, (64, 96)).shape == (1, 3, 64, 96)
    torch.testing.assert_close(dec(feats, None), dec(feats, (64, 96)))


# -- training ---------------------------------------------------------------------------

def test_style_training_lowers_the_loss_and_writes_reports(folders, tmp_path: Path) -> None:
    content, styles = folders
    cfg = FastTrainConfig(styles=(str(styles / "s0.png"),), steps=24, lr=1e-2, **{**TINY_NET, **TINY_TRAIN,
                                                                                   "checkpoint_every": 12})
    res = train_transformer(content, cfg, tmp_path / "m.pt")
    totals = [h["total"] for h in res.history]
    assert len(totals) == 24
    assert np.mean(totals[-4:]) < 0.8 * np.mean(totals[:4])
    report = tmp_path / "m_report"
    assert (report / "loss.png").is_file() and (report / "samples_000024.png").is_file()
    data = load_checkpoint(res.path, "transformer")
    assert data["config"]["steps"] == 24 and data["arch"] == {**TINY_NET} and data["step"] == 24


def test_adain_training_lowers_the_loss(folders, tmp_path: Path) -> None:
    content, styles = folders
    cfg = AdaINTrainConfig(steps=16, batch_size=2, crop_size=32, lr=3e-3, checkpoint_every=16,
                           backbone="efficientnet-lite0")
    res = train_adain(content, styles, cfg, tmp_path / "a.pt")
    totals = [h["total"] for h in res.history]
    assert np.mean(totals[-4:]) < 0.8 * np.mean(totals[:4])


def test_resume_continues_exactly_where_it_stopped(folders, tmp_path: Path) -> None:
    content, styles = folders
    cfg = FastTrainConfig(styles=(str(styles / "s0.png"),), steps=8, **TINY_NET, **TINY_TRAIN)
    straight = train_transformer(content, cfg, tmp_path / "straight.pt")
    torch.manual_seed(123)  # resuming must restore the RNG itself
    half = FastTrainConfig(**{**cfg.to_dict(), "steps": 4})
    train_transformer(content, half, tmp_path / "resumed.pt")
    # the resumed run keeps its saved config except for the step budget we extend here
    data = load_checkpoint(tmp_path / "resumed.pt")
    data["config"]["steps"] = 8
    save_checkpoint(tmp_path / "resumed.pt", {k: v for k, v in data.items() if k not in ("format", "version")})
    resumed = train_transformer(content, cfg, tmp_path / "resumed.pt", resume=True)
    assert [h["step"] for h in resumed.history] == list(range(1, 9))
    a = load_checkpoint(straight.path)["state_dict"]
    b = load_checkpoint(resumed.path)["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_checkpoint_reloads_to_identical_outputs(trained: Path) -> None:
    data = load_checkpoint(trained)
    net = TransformerNet(TransformerNetConfig(**data["arch"]))
    net.load_state_dict(data["state_dict"])
    x = torch.rand(2, 3, 45, 50)
    with torch.no_grad():
        expected = net.eval()(x).clamp(0, 1)
    got = FastStylizer(trained, device="cpu").stylize_tensor(x)
    assert torch.equal(got, expected)


def test_half_checkpoint_is_fp16_and_not_resumable(folders, tmp_path: Path) -> None:
    content, styles = folders
    cfg = FastTrainConfig(styles=(str(styles / "s0.png"),), steps=2, **TINY_NET, **TINY_TRAIN)
    res = train_transformer(content, cfg, tmp_path / "h.pt", half=True)
    data = load_checkpoint(res.path)
    assert "optimizer" not in data
    assert all(v.dtype == torch.float16 for v in data["state_dict"].values() if v.is_floating_point())
    with pytest.raises(ConfigError, match="cannot be resumed"):
        train_transformer(content, cfg, res.path, resume=True)


def test_foreign_checkpoints_are_refused(trained: Path, trained_adain: Path, tmp_path: Path) -> None:
    data = load_checkpoint(trained)
    old = tmp_path / "old.pt"
    torch.save({**data, "version": CHECKPOINT_VERSION + 1}, old)
    with pytest.raises(ConfigError, match="format version"):
        FastStylizer(old)
    with pytest.raises(ConfigError, match="is a 'adain' model, expected 'transformer'"):
        FastStylizer(trained_adain)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ConfigError, match="not a painterly model file"):
        FastStylizer(other)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(ConfigError, match="not a painterly model file"):
        FastStylizer(text)
    wrong = tmp_path / "wrong.pt"
    torch.save({**data, "arch": {**data["arch"], "width": 8}}, wrong)
    with pytest.raises(ConfigError, match="do not fit"):
        FastStylizer(wrong)


def test_empty_content_folder_is_a_clear_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    code = main(["train", "style", "--style", "starry_night", "--content", str(tmp_path / "empty"),
                 "-o", str(tmp_path / "m.pt"), "--steps", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "no images" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.pt").exists()


# -- inference --------------------------------------------------------------------------

def test_tiny_and_odd_images_work(trained: Path) -> None:
    st = FastStylizer(trained, device="cpu")
    for size in [(5, 7), (31, 1), (33, 47)]:
        assert st.stylize_tensor(torch.rand(1, 3, *size)).shape == (1, 3, *size)


def test_mask_and_original_colors(trained: Path) -> None:
    st = FastStylizer(trained, device="cpu")
    x = torch.rand(1, 3, 40, 48)
    mask = torch.zeros(1, 1, 40, 48)
    mask[..., :, 24:] = 1
    y = st.stylize_tensor(x, mask=mask)
    torch.testing.assert_close(y[..., :24], x[..., :24])
    assert not torch.allclose(y[..., 24:], x[..., 24:])
    from painterly.image import rgb_to_yiq

    def chroma_error(img: torch.Tensor) -> float:  # clamping to [0, 1] keeps it from being exactly 0
        return float((rgb_to_yiq(img)[:, 1:] - rgb_to_yiq(x)[:, 1:]).abs().mean())

    plain = st.stylize_tensor(x)
    assert chroma_error(st.stylize_tensor(x, original_colors="luminance")) < 0.5 * chroma_error(plain)
    matched = st.stylize_tensor(x, original_colors="histogram")  # global colour statistics follow the photo
    torch.testing.assert_close(matched.mean((2, 3)), x.mean((2, 3)), atol=0.05, rtol=0)
    assert (matched.mean((2, 3)) - x.mean((2, 3))).abs().max() < (plain.mean((2, 3)) - x.mean((2, 3))).abs().max()


def test_adain_controls(trained_adain: Path, tmp_path: Path) -> None:
    st = AdaINStylizer(trained_adain, device="cpu")
    x = torch.rand(1, 3, 48, 64)
    s1 = st.style_stats(Image.fromarray(_picture(5)), 64)
    s2 = st.style_stats(Image.fromarray(_picture(7)), 64)
    one = st.stylize_tensor(x, [s1])
    torch.testing.assert_close(st.stylize_tensor(x, [s1, s2], weights=[1, 0]), one)
    assert not torch.allclose(st.stylize_tensor(x, [s1, s2], weights=[0.5, 0.5]), one)
    assert not torch.allclose(st.stylize_tensor(x, [s1], alpha=0.3), one)
    torch.testing.assert_close(st.stylize_tensor(x, [s1], mask=torch.zeros(1, 1, 48, 64)), x)
    with pytest.raises(ConfigError, match="alpha"):
        st.stylize_tensor(x, [s1], alpha=1.5)
    with pytest.raises(ConfigError, match="style weights"):
        st.stylize_tensor(x, [s1, s2], weights=[1.0])


def test_onnx_export_matches_pytorch(trained: Path, trained_adain: Path, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    onnx_path = export_onnx(trained, tmp_path / "style.onnx")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 3, 45, 70)  # not the export example's size
    (got,) = sess.run(None, {"image": x.numpy()})
    expected = FastStylizer(trained, device="cpu").stylize_tensor(x)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)

    onnx_adain = export_onnx(trained_adain, tmp_path / "adain.onnx")
    sess = ort.InferenceSession(str(onnx_adain), providers=["CPUExecutionProvider"])
    x, s = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 80, 48)
    (got,) = sess.run(None, {"image": x.numpy(), "style": s.numpy()})
    st = AdaINStylizer(trained_adain, device="cpu")
    with torch.no_grad():
        expected = st.onnx_module()(x, s)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-3)


# -- bundled models ---------------------------------------------------------------------

def test_bundled_models_are_small_fp16_and_work() -> None:
    models = list_fast_models()
    assert {"starry_night", "the_scream", "shipwreck", "mondrian_cropped", "adain", "wct"} <= set(models)
    assert sum(p.stat().st_size for p in models.values()) < 30 * 2**20
    x = torch.rand(1, 3, 64, 80)
    for name, path in models.items():
        data = load_checkpoint(path)
        assert all(v.dtype == torch.float16 for v in data["state_dict"].values() if v.is_floating_point())
        assert data["trained_on"]["content"], name
        if data["kind"] in ("adain", "wct"):
            from painterly.methods.feedforward.wct import WCTStylizer

            st = AdaINStylizer(name, device="cpu") if data["kind"] == "adain" else WCTStylizer(name, device="cpu")
            y = st.stylize_tensor(x, [st.style_stats("starry_night", 80)])
        else:
            y = FastStylizer(name, device="cpu").stylize_tensor(x)
        assert torch.isfinite(y).all() and (y - x).abs().mean() > 0.05, name


# -- command line -----------------------------------------------------------------------

def test_cli_folder_skips_corrupt_images_and_does_the_rest(trained: Path, folders, tmp_path: Path, capsys) -> None:
    content, _ = folders
    (content / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (content / "odd.png").write_bytes(b"")
    out = tmp_path / "out"
    code = main(["fast", str(content), "--model", str(trained), "-o", str(out), "--batch-size", "2"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["c0_style.png", "c1_style.png", "c2_style.png"]
    assert "broken.jpg" in err and "odd.png" in err and "skipped 2" in err
    assert Image.open(out / "c1_style.png").size == (72, 60)


def test_cli_single_image_adain_and_bad_inputs(trained_adain: Path, folders, tmp_path: Path, capsys) -> None:
    content, styles = folders
    out = tmp_path / "one.png"
    code = main(["fast", str(content / "c0.png"), "--style", str(styles / "s0.png"), "--style", str(styles / "s1.png"),
                 "--style-weights", "0.7,0.3", "--alpha", "0.8", "--adain-model", str(trained_adain), "-o", str(out)])
    assert code == 0 and Image.open(out).size == (72, 60)
    capsys.readouterr()
    for argv, text in (
        (["fast", str(content / "c0.png"), "--model", str(tmp_path / "nope.pt"), "-o", str(out)], "no such model"),
        (["fast", str(tmp_path / "missing.png"), "--model", "starry_night", "-o", str(out)], "no such file"),
        (["fast", str(content / "c0.png"), "--model", "starry_night", "-o", str(content / "c0.png")], "overwrite"),
        (["fast", str(content / "c0.png"), "--style", str(tmp_path / "nostyle.png"), "-o", str(out)], "no such file"),
    ):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2 and text in err and len(err.strip().splitlines()) == 1, (argv, err)


def _make_video(path: Path, audio: bool) -> None:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
           "testsrc=size=62x46:rate=10:duration=1"]
    if audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-shortest", str(path)]
    subprocess.run(cmd, check=True)


@pytest.mark.parametrize("audio", [True, False])
def test_cli_video_keeps_frames_and_audio(trained: Path, tmp_path: Path, audio: bool, capsys) -> None:
    from painterly.image.video import probe_video, read_frames

    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    _make_video(src, audio)
    code = main(["fast", str(src), "--model", str(trained), "-o", str(dst), "--batch-size", "3"])
    assert code == 0, capsys.readouterr().err
    info = probe_video(dst)
    assert info.size == (62, 46)
    assert sum(1 for _ in read_frames(dst)) == sum(1 for _ in read_frames(src)) == 10
    assert (info.audio_codec is not None) == audio
    assert not list(tmp_path.glob(".out.mp4*"))  # no temporary files left


def test_cli_export_onnx_and_list(trained: Path, tmp_path: Path, capsys) -> None:
    assert main(["fast", "--model", str(trained), "--export-onnx", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").stat().st_size > 1000
    capsys.readouterr()
    assert main(["fast", "--list"]) == 0
    assert "starry_night" in capsys.readouterr().out


def test_cli_train_maps_flags_and_records_config(folders, tmp_path: Path, capsys) -> None:
    content, styles = folders
    out = tmp_path / "cli.pt"
    code = main(["train", "style", "--style", str(styles / "s0.png"), "--content", str(content), "-o", str(out),
                 "--steps", "2", "--batch-size", "1", "--crop-size", "32", "--style-size", "40", "--width", "4",
                 "--downsamples", "2", "--res-blocks", "1", "--style-weight", "5", "--backbone", "efficientnet-lite0"])
    assert code == 0, capsys.readouterr().err
    cfg = load_checkpoint(out)["config"]
    assert cfg["style_weight"] == 5 and cfg["width"] == 4 and cfg["steps"] == 2
    assert cfg["content_weight"] == FastTrainConfig().content_weight  # untouched flags: the library's defaults
    assert main(["train", "style", "--style", "x", "--content", str(content), "-o", str(out),
                 "--style-weight", "-1"]) == 2


def test_face_pass_changes_only_the_face(trained: Path, shared_data: Path) -> None:
    from painterly.faces.face_pass import FacePass, FacePassConfig
    from painterly.image import load_image, pil_to_tensor, resize_long_side

    st = FastStylizer(trained, device="cpu")
    x = pil_to_tensor(resize_long_side(load_image(shared_data / "faces" / "obama.jpg"), 256))
    fp = FacePass(FacePassConfig(target_width=160))
    faces = fp.detect(x)
    assert len(faces) == 1
    plain = st.stylize_tensor(x)
    with_pass = st.stylize_tensor(x, face_pass=fp)
    assert fp.faces_seen == 1
    x0, y0, x1, y1 = (int(v) for v in faces[0].box)
    changed = (with_pass - plain).abs().amax(1)[0] > 1e-6
    assert changed[y0:y1, x0:x1].float().mean() > 0.5  # the face was re-stylised
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 1.0 * max(x1 - x0, y1 - y0)
    outside = torch.ones_like(changed)
    outside[max(0, int(cy - half)) : int(cy + half) + 2, max(0, int(cx - half)) : int(cx + half) + 2] = False
    assert not changed[outside].any()  # nothing outside the face crop moved


def test_interrupted_video_keeps_the_frames_done(tmp_path: Path) -> None:
    from painterly.image.video import read_frames, write_video

    def frames():
        for i in range(3):
            yield np.full((16, 20, 3), 40 * i, np.uint8)
        raise KeyboardInterrupt

    out = tmp_path / "partial.mp4"
    with pytest.raises(KeyboardInterrupt):
        write_video(out, frames(), fps=5)
    assert sum(1 for _ in read_frames(out)) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["partial.mp4"]

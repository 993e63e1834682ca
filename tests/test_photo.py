"""Photorealistic transfer (matting Laplacian, regions, guided filter) and universal WCT."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.cli.main import main
from painterly.errors import ConfigError, MemoryBudgetError
from painterly.image.regions import match_regions, segment, transfer_colours
from painterly.image.smooth import guided_filter
from painterly.methods import GatysConfig, Stylizer
from painterly.methods.feedforward.wct import WCTStylizer, WCTTrainConfig, reconstruction_error, train_wct
from painterly.methods.photo import MattingTerm, PhotoConfig, load_mask_pairs, stylize_photo
from painterly.models.wct import blend_wct, covariance, style_colouring, whiten


def _photo(h: int = 24, w: int = 28, seed: int = 0) -> torch.Tensor:
    """A small picture with edges and smooth parts, (1, 3, H, W) in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([0.3 + 0.5 * (xx > 0.4), 0.2 + 0.6 * yy, 0.5 + 0.3 * np.sin(6 * xx)], -1)
    base += rng.normal(0, 0.02, base.shape)
    return torch.from_numpy(base.clip(0, 1)).permute(2, 0, 1)[None].float()


# -- the matting Laplacian regulariser --------------------------------------------------

def test_laplacian_term_is_zero_for_affine_recolouring_and_positive_for_a_moved_edge() -> None:
    content = _photo()
    term = MattingTerm(content, weight=1.0)
    a = torch.tensor([[0.5, 0.2, -0.1], [0.1, 0.7, 0.0], [0.0, -0.2, 0.9]])
    recoloured = torch.einsum("ij,bjhw->bihw", a, content) + torch.tensor([0.1, 0.05, 0.2]).view(1, 3, 1, 1)
    moved = torch.roll(content, shifts=3, dims=-1)  # same colours, edges elsewhere
    zero, edge = term.value(recoloured).item(), term.value(moved).item()
    assert abs(zero) < 1e-4 * edge and edge > 1e-3
    x = moved.clone().requires_grad_(True)
    term.value(x).backward()  # gradient 2 L V / N: descending it lowers the term
    assert term.value(moved - 0.5 * x.grad / x.grad.abs().max() * 0.02).item() < edge


def test_laplacian_memory_is_checked_before_it_is_built() -> None:
    term = MattingTerm(_photo(), weight=1.0, memory_limit=2**20)
    term.check(10, 10)  # small: fits
    with pytest.raises(MemoryBudgetError, match="largest size that fits is about"):
        term.check(1024, 1024)


# -- guided filter and regions -----------------------------------------------------------

def test_guided_filter_keeps_the_guides_edges() -> None:
    import cv2

    guide = np.zeros((48, 56, 3), np.float32)
    guide[:] = (0.2, 0.3, 0.4)
    guide[:, 28:] = (0.8, 0.5, 0.3)
    guide[30:] += 0.1
    affine = guide @ np.array([[0.2, 0.5, 0.1], [0.6, 0.1, 0.3], [0.1, 0.2, 0.5]], np.float32) + 0.1
    blurred = cv2.GaussianBlur(affine, (0, 0), 1.5)  # a stylised output that lost the edge

    def jump(img: np.ndarray) -> float:  # the step across the vertical edge, per row
        return float(np.abs(np.diff(img, axis=1)).max(1).mean())

    assert jump(blurred) < 0.3 * jump(affine)
    for sub in (1, 4):
        out = guided_filter(guide, blurred, radius=16, eps=1e-5, subsample=sub)
        assert jump(out) > 0.8 * jump(affine)  # the edge is back
        assert np.abs(out - affine).mean() < np.abs(blurred - affine).mean()


def test_sky_is_found_above_a_textured_scene_and_regions_match() -> None:
    rng = np.random.default_rng(1)
    img = np.zeros((80, 100, 3), np.uint8)
    img[:35] = np.linspace([90, 140, 230], [150, 190, 240], 35)[:, None, :]  # a blue gradient sky
    img[35:] = rng.integers(0, 255, (45, 100, 3))  # texture below
    regions = segment(Image.fromarray(img))
    assert set(regions) == {"sky", "rest"}
    assert regions["sky"][:30].mean() > 0.9 and regions["sky"][40:].mean() < 0.05
    np.testing.assert_allclose(sum(regions.values()), 1.0, atol=1e-5)
    textured = segment(Image.fromarray(rng.integers(0, 255, (60, 60, 3), dtype=np.uint8)))
    assert set(textured) == {"rest"}
    pairs = match_regions(regions, textured)  # the style has no sky: all goes to the rest
    assert [n for n, _, _ in pairs] == ["rest"] and pairs[0][1].mean() == pytest.approx(1.0)


def test_region_colour_transfer_moves_each_region_to_its_match() -> None:
    content = np.zeros((20, 20, 3), np.float32)
    content[:10], content[10:] = (0.2, 0.3, 0.8), (0.5, 0.4, 0.3)
    style = np.zeros((20, 20, 3), np.float32)
    style[:10], style[10:] = (0.05, 0.05, 0.2), (0.8, 0.6, 0.1)
    top = np.zeros((20, 20), np.float32)
    top[:10] = 1
    out = transfer_colours(content, style, [("sky", top, top), ("rest", 1 - top, 1 - top)])
    np.testing.assert_allclose(out[2:8].mean((0, 1)), style[2:8].mean((0, 1)), atol=0.03)
    np.testing.assert_allclose(out[12:18].mean((0, 1)), style[12:18].mean((0, 1)), atol=0.03)


def test_style_mask_targets_take_only_the_masked_part(lite0) -> None:
    left = np.zeros((64, 64, 3), np.uint8)
    left[:, :32] = (200, 30, 30)
    left[:, 32:] = (20, 40, 220)
    st = Stylizer([Image.fromarray(left)], GatysConfig(backbone="efficientnet-lite0"), backbone=lite0)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :28] = 1
    masked = st.style_targets(64, style_mask=mask)
    only_red = Stylizer([Image.fromarray(np.full((64, 64, 3), (200, 30, 30), np.uint8))],
                        GatysConfig(backbone="efficientnet-lite0"), backbone=lite0).style_targets(64)
    whole = st.style_targets(64)
    layer = st.style_layers[0]
    d_masked = (masked[layer]["mean"] - only_red[layer]["mean"]).norm()
    d_whole = (whole[layer]["mean"] - only_red[layer]["mean"]).norm()
    assert d_masked < 0.5 * d_whole


# -- WCT ------------------------------------------------------------------------------------

def test_wct_output_has_the_style_covariance_and_mean() -> None:
    g = torch.Generator().manual_seed(0)
    content = torch.randn(1, 6, 10, 12, generator=g, dtype=torch.float64)
    mix = torch.randn(6, 6, generator=g, dtype=torch.float64)
    style = (mix @ torch.randn(1, 6, 140, generator=g, dtype=torch.float64)).reshape(1, 6, 10, 14) + 2.0
    w = whiten(content)
    cov_w = w @ w.transpose(1, 2) / (w.shape[-1] - 1)
    torch.testing.assert_close(cov_w[0], torch.eye(6, dtype=torch.float64), atol=1e-4, rtol=0)
    out = blend_wct(content, [style_colouring(style)], [1.0])
    m_out, c_out = covariance(out)
    m_sty, c_sty = covariance(style)
    torch.testing.assert_close(m_out, m_sty, atol=1e-8, rtol=0)
    torch.testing.assert_close(c_out, c_sty, atol=1e-4, rtol=1e-4)
    half = blend_wct(content, [style_colouring(style)], [1.0], alpha=0.5)
    torch.testing.assert_close(half, 0.5 * out + 0.5 * content)


def test_wct_training_lowers_reconstruction_error(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray((_photo(48, 48, i)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(
            folder / f"p{i}.png")
    cfg = WCTTrainConfig(steps=6, batch_size=2, crop_size=32, checkpoint_every=3, backbone="efficientnet-lite0",
                         lr=3e-3)
    res = train_wct(folder, cfg, tmp_path / "wct.pt")
    assert res.history[-1]["total"] < res.history[0]["total"]
    st = WCTStylizer(res.path, device="cpu")
    y = st.stylize_tensor(_photo(40, 48), [st.style_stats(Image.fromarray(np.full((32, 32, 3), 90, np.uint8)), 48)])
    assert y.shape == (1, 3, 40, 48) and torch.isfinite(y).all()


def test_bundled_wct_decoder_rebuilds_held_aside_photos(shared_data: Path) -> None:
    """Photos the decoder never saw in training (the held-out faces): encode, decode."""
    from painterly.image import load_image, pil_to_tensor, resize_long_side

    st = WCTStylizer("wct", device="cpu")
    trained_on = {Path(p).name for p in st.info["trained_on"]["content"]}
    held = [p for p in sorted((shared_data / "faces").glob("*.jpg")) if p.name not in trained_on][:3]
    assert held
    err = reconstruction_error(st, [pil_to_tensor(resize_long_side(load_image(p), 256)) for p in held])
    assert err < 0.07, err  # mean absolute error on a 0-1 scale: a slight blur, no lost structure


# -- photorealistic Gatys and the command line -------------------------------------------------

def test_stylize_photo_keeps_edges_better_than_plain(shared_data: Path, lite0) -> None:
    content = shared_data / "content" / "tubingen.jpg"
    style = shared_data / "content" / "hoovertowernight.jpg"
    cfg = GatysConfig(size=64, iterations=8, coarse_iterations=4, min_size=32, backbone="efficientnet-lite0")
    st = Stylizer([style], cfg, backbone=lite0)
    photo = stylize_photo(st, content, PhotoConfig())
    plain = st.stylize(content).image
    ref = Image.open(content).convert("RGB").resize(photo.image.size, Image.Resampling.LANCZOS)

    def edges(img: Image.Image) -> np.ndarray:
        g = np.asarray(img.convert("L"), np.float32)
        return np.hypot(np.diff(g, axis=1)[:-1], np.diff(g, axis=0)[:, :-1]).ravel()

    def corr(a: Image.Image) -> float:
        return float(np.corrcoef(edges(a), edges(ref))[0, 1])

    assert corr(photo.image) > corr(plain) and corr(photo.image) > 0.8
    assert "matting" in photo.result.history[-1]


def test_mask_pairs_are_checked(tmp_path: Path) -> None:
    white, black = tmp_path / "w.png", tmp_path / "b.png"
    Image.new("L", (20, 10), 255).save(white)
    Image.new("L", (20, 10), 0).save(black)
    with pytest.raises(ConfigError, match="masks come in pairs"):
        load_mask_pairs([white], [], (20, 10), (20, 10))
    with pytest.raises(ConfigError, match="all black"):
        load_mask_pairs([black], [white], (20, 10), (20, 10))
    pairs, notes = load_mask_pairs([white], [white], (40, 20), (20, 10))
    assert pairs[0][1].shape == (20, 40) and notes and "resized to 40x20" in notes[0]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def test_cli_photo_paths(shared_data: Path, tmp_path: Path, capsys) -> None:
    content = str(shared_data / "content" / "tubingen.jpg")
    style = str(shared_data / "content" / "hoovertowernight.jpg")
    out = tmp_path / "photo.png"
    code, err = _run(["stylize", content, "--style", style, "--photo", "--size", "64", "--iterations", "4",
                      "--backbone", "efficientnet-lite0", "-q", "-o", str(out)], capsys)
    assert code == 0, err
    assert Image.open(out).size == (64, 48) and "photorealistic" in err
    assert json.loads(out.with_suffix(".json").read_text())["mode"] == "photo"
    for extra in (["--photo"], ["--method", "wct"], ["--method", "adain", "--photo"]):
        fast_out = tmp_path / f"fast_{'_'.join(extra)}.png"
        code, err = _run(["fast", content, "--style", style, "--size", "128", *extra, "-o", str(fast_out)], capsys)
        assert code == 0, err
        assert Image.open(fast_out).size == (128, 96)


def test_cli_photo_bad_input(shared_data: Path, tmp_path: Path, capsys) -> None:
    content = str(shared_data / "content" / "tubingen.jpg")
    style = str(shared_data / "content" / "hoovertowernight.jpg")
    black = tmp_path / "black.png"
    Image.new("L", (32, 24), 0).save(black)
    white = tmp_path / "white.png"
    Image.new("L", (32, 24), 255).save(white)
    base = ["stylize", content, "--style", style, "--size", "32", "--iterations", "2", "--backbone",
            "efficientnet-lite0", "-q", "-o", str(tmp_path / "o.png")]
    cases = [
        (["--photo", "--content-mask", str(white)], "masks come in pairs"),
        (["--photo", "--content-mask", str(black), "--style-mask", str(white)], "all black"),
        (["--content-mask", str(white), "--style-mask", str(white)], "go with --photo"),
        (["--photo", "--photo-weight", "nan"], "Laplacian weight"),
    ]
    for extra, message in cases:
        code, err = _run([*base, *extra], capsys)
        assert code == 2 and message in err, (extra, err)
        assert len(err.strip().splitlines()) == 1, err
    code, err = _run(["fast", content, "--photo", "-o", str(tmp_path / "f.png")], capsys)
    assert code == 2 and "--style" in err
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "f.png").exists()

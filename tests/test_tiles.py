"""Large images by tiles: the plan (pure functions), a tiled run against an untiled one,
the memory model against a measured run, and the command line."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from painterly.cli.main import main
from painterly.methods import GatysConfig, Stylizer
from painterly.methods.tiles import MemoryModel, plan_tiles, ramp, tile_side_for


@pytest.mark.parametrize(("h", "w", "tile", "overlap"), [(100, 130, 48, 8), (64, 64, 64, 8), (37, 200, 30, 5)])
@pytest.mark.parametrize("offset", [(0, 0), (13, 7), (40, 41)])
def test_tiles_cover_the_image_with_overlap(h: int, w: int, tile: int, overlap: int, offset: tuple[int, int]) -> None:
    tiles = plan_tiles(h, w, tile, overlap, offset)
    cover = np.zeros((h, w), int)
    weight = np.zeros((h, w), np.float32)
    for t in tiles:
        assert 0 <= t.y0 < t.y1 <= h and 0 <= t.x0 < t.x1 <= w
        assert t.shape[0] <= max(1.25 * tile, min(tile, h)) and t.shape[1] <= max(1.25 * tile, min(tile, w))
        cover[t.y0 : t.y1, t.x0 : t.x1] += 1
        r = ramp(t, h, w, overlap)
        assert r.shape == t.shape and r.min() > 0 and r.max() == 1.0
        weight[t.y0 : t.y1, t.x0 : t.x1] += r
    assert cover.min() >= 1 and weight.min() > 0
    # neighbours overlap by at least `overlap` pixels (unless the image is one tile wide)
    spans = sorted({(t.x0, t.x1) for t in tiles})
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end - start >= overlap


def test_the_grid_moves_between_passes() -> None:
    def seams(dx: int) -> set[int]:
        tiles = plan_tiles(100, 300, 64, 8, (0, dx))
        return ({t.x0 for t in tiles} | {t.x1 for t in tiles}) - {0, 300}

    a, b, c = seams(0), seams(19), seams(38)
    assert a and not (a & b) and not (b & c) and not (a & c)  # no seam stays where it was


def test_tile_side_from_the_memory_model() -> None:
    model = MemoryModel(base=100.0, per_pixel=2.0)
    assert model.predict(10, 10) == 300.0
    side = tile_side_for(model, 100.0 + 2.0 * 200 * 200)
    assert side == 200 and model.predict(side, side) <= 100.0 + 2.0 * 200 * 200
    with pytest.raises(ValueError, match="smallest budget that works"):
        tile_side_for(model, 150.0)


def test_a_tiled_run_is_close_to_the_untiled_run(tiny_images, lite0) -> None:
    content, style = tiny_images
    # 30 evaluations: 10 per tile and pass (L-BFGS starts afresh on every tile)
    cfg = GatysConfig(size=160, iterations=30, coarse_iterations=6, min_size=80, backbone="efficientnet-lite0")
    whole = Stylizer([style], cfg, backbone=lite0)
    model = whole.memory_model()
    budget = model.base + model.per_pixel * 125 * 125  # the final 160 x 133 scale is past it, 80 px is not
    tiled = Stylizer([style], cfg.replace(max_memory=budget), backbone=lite0)
    plans = tiled.plan(133, 160)
    assert plans[-1].tile is not None and plans[-1].tiles > 1 and plans[0].tile is None
    a, b = whole.stylize(content), tiled.stylize(content)
    assert a.tensor.shape == b.tensor.shape
    photo = _content_tensor(content, a.tensor.shape[-2:])
    objective = whole.objective(photo)
    start_loss = float(objective(photo)[0])  # the loss of the photo itself (the init)
    b_whole = float(objective(b.tensor)[0])
    # the tiled run lowers the whole image's loss about as far as the untiled run
    assert b_whole < 0.8 * start_loss
    # (L-BFGS starts afresh on every tile and pass: a little behind per evaluation, 1.35x here)
    assert b_whole < 1.5 * a.losses["total"], (a.losses, b_whole)
    # the tiled run reports its terms tile by tile (no whole-image pass): close to the whole's
    assert set(b.losses) == set(a.losses)
    # (tile borders see zero padding instead of their neighbours: 10% apart at this tiny size)
    assert abs(b.losses["content"] - float(objective(b.tensor)[1]["content"])) < 0.2 * b.losses["content"]
    assert 0.5 * b_whole < b.losses["total"] < 2.0 * b_whole
    # strokes differ pixel by pixel (another path through the optimisation); the picture agrees
    pooled = torch.nn.functional.avg_pool2d
    assert (pooled(a.tensor, 8) - pooled(b.tensor, 8)).abs().mean() < 0.06


def _content_tensor(path: Path, size: tuple[int, int]) -> torch.Tensor:
    from PIL import Image

    img = Image.open(path).convert("RGB").resize((size[1], size[0]), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(img, np.float32) / 255).permute(2, 0, 1)[None]


def test_the_memory_model_predicts_a_measured_run(tmp_path: Path, shared_data: Path) -> None:
    """Peak RSS of a real optimisation in its own process, against the prediction."""
    code = (
        "from painterly.methods import GatysConfig, Stylizer; "
        f"cfg = GatysConfig(size=384, iterations=24, coarse_iterations=2, backbone='efficientnet-lite0'); "
        f"st = Stylizer([{str(shared_data / 'styles' / 'starry_night.jpg')!r}], cfg); "
        f"r = st.stylize({str(shared_data / 'content' / 'tubingen.jpg')!r}); h, w = r.tensor.shape[-2:]; "
        # VmHWM, not ru_maxrss: ru_maxrss carries the forking parent's peak (pytest's) across exec
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
        "print(int(hwm) * 1024, st.memory_model().predict(h, w))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    measured, predicted = map(float, out.stdout.split()[-2:])
    assert abs(predicted / measured - 1) < 0.2, (measured / 2**20, predicted / 2**20)


def test_cli_dry_run_and_budgets(tiny_images, tmp_path: Path, capsys) -> None:
    content, style = tiny_images
    out = tmp_path / "o.png"
    base = ["stylize", str(content), "--style", str(style), "--backbone", "efficientnet-lite0", "-o", str(out)]
    assert main([*base, "--size", "2048", "--max-memory", "1GB", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "tiles of" in text and "predicted peak" in text and not out.exists()
    assert main([*base, "--size", "2048", "--max-memory", "200MB", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "smallest budget that works" in err and len(err.strip().splitlines()) == 1
    assert main([*base, "--size", "20000"]) == 2
    assert "at most 16384" in capsys.readouterr().err


def test_photo_and_video_terms_are_not_tiled_silently(tiny_images, lite0) -> None:
    from painterly.errors import MemoryBudgetError

    content, style = tiny_images
    cfg = GatysConfig(size=160, iterations=2, coarse_iterations=1, min_size=80, backbone="efficientnet-lite0")
    model = Stylizer([style], cfg, backbone=lite0).memory_model()
    tiled = Stylizer([style], cfg.replace(max_memory=model.base + model.per_pixel * 125 * 125), backbone=lite0)
    with pytest.raises(MemoryBudgetError, match="run whole; the largest size that fits"):
        tiled.stylize(content, regulariser=lambda loss, size: loss)


def test_tiled_terms_are_the_area_weighted_mean_over_tiles() -> None:
    from painterly.methods.tiles import tiled_terms

    image = torch.rand(1, 3, 50, 70)

    def objective_for(content_tile: torch.Tensor, where: tuple[slice, slice]):
        def objective(x: torch.Tensor):
            return x.mean(), {"content": (x - content_tile).abs().mean()}
        return objective

    terms = tiled_terms(image, torch.zeros_like(image), objective_for, (50, 70), 32)
    assert terms["total"] == pytest.approx(float(image.mean()), rel=1e-5)
    assert terms["content"] == pytest.approx(float(image.abs().mean()), rel=1e-5)


def test_tiles_leave_room_for_the_whole_images_tensors(tiny_images, lite0) -> None:
    """Beside its tiles a tiled run holds the whole image (photo, image, best, masks):
    the tiles are sized for what is left, and the predicted peak stays in the budget."""
    from painterly.methods.tiles import RESIDENT_TILED

    _content, style = tiny_images
    cfg = GatysConfig(size=4096, backbone="efficientnet-lite0", max_memory=3 * 2**30)
    st = Stylizer([style], cfg, backbone=lite0)
    plans = st.plan(3278, 4096)
    model = st.memory_model()
    final = plans[-1]
    assert final.tile is not None
    assert model.predict(final.tile, final.tile) + RESIDENT_TILED * 3278 * 4096 <= cfg.max_memory
    assert final.tile < int(model.largest_square(cfg.max_memory) / 1.25)  # smaller than the whole budget's tile
    assert all(p.peak <= cfg.max_memory for p in plans)


def test_large_scales_carry_the_coarse_strokes_up(tiny_images, lite0) -> None:
    """paint_above: scales past it optimise against the coarser result, not the photo,
    so the photo's detail does not come back; the reported terms stay against the photo."""
    import torch.nn.functional as F

    from painterly.image import load_image, pil_to_tensor

    content, style = tiny_images
    cfg = GatysConfig(size=64, min_size=16, coarse_iterations=15, iterations=15, backbone="efficientnet-lite0")
    photo = F.interpolate(pil_to_tensor(load_image(content)), size=(53, 64), mode="area")
    plain = Stylizer([style], cfg.replace(paint_above=None), backbone=lite0).stylize(content)
    carried = Stylizer([style], cfg.replace(paint_above=32), backbone=lite0).stylize(content)
    assert plain.tensor.shape == carried.tensor.shape == photo.shape
    assert float((carried.tensor - photo).abs().mean()) > float((plain.tensor - photo).abs().mean())
    assert carried.losses["content"] > plain.losses["content"]  # measured against the photo in both


def test_cli_paint_above(tiny_images, tmp_path: Path, capsys) -> None:
    from painterly.cli.stylize import config_from_args

    content, style = tiny_images
    base = ["stylize", str(content), "--style", str(style), "-o", str(tmp_path / "o.png")]
    assert main([*base, "--paint-above", "8"]) == 2
    err = capsys.readouterr().err
    assert "at least 16" in err and len(err.strip().splitlines()) == 1
    from painterly.cli.main import build_parser

    args = build_parser().parse_args([*base, "--paint-above", "none"])
    assert config_from_args(args).paint_above is None
    args = build_parser().parse_args([*base, "--paint-above", "600"])
    assert config_from_args(args).paint_above == 600

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import GatysConfig, Stylizer, stylize
from painterly.errors import ConfigError, MemoryBudgetError, NonFiniteLossError
from painterly.methods.config import LAYER_WEIGHT_PRESETS


def _cfg(**kw) -> GatysConfig:
    base = {"size": 48, "iterations": 6, "coarse_iterations": 4, "min_size": 24, "backbone": "efficientnet-lite0"}
    base.update(kw)
    return GatysConfig(**base)


def test_presets_are_the_three_compared_settings() -> None:
    assert LAYER_WEIGHT_PRESETS["deep-heavy"] == (0, 0, 0.1, 0.4, 0.5)
    assert LAYER_WEIGHT_PRESETS["balanced"] == (0.2,) * 5
    assert LAYER_WEIGHT_PRESETS["shallow-heavy"] == (0.5, 0.4, 0.1, 0, 0)


@pytest.mark.parametrize(
    "field,value",
    [("style_weight", -1.0), ("content_weight", float("nan")), ("tv_weight", float("inf")),
     ("layer_weights", (0.2, -0.1, 0.2, 0.2, 0.2)), ("style_blend", (float("nan"),)), ("optimizer", "sgd"),
     ("statistic", "mean"), ("init", "nowhere.png"), ("size", 4), ("ema", 1.0)],
)
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ConfigError):
        GatysConfig(**{field: value})


def test_scales_are_coarse_to_fine() -> None:
    assert GatysConfig(size=512, min_size=128).scales() == [128, 256, 512]
    assert GatysConfig(size=512, multiscale=False).scales() == [512]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
@pytest.mark.parametrize("statistic", ["gram", "wasserstein"])
def test_loss_decreases(tiny_images, lite0, optimizer: str, statistic: str) -> None:
    content, style = tiny_images
    cfg = _cfg(optimizer=optimizer, statistic=statistic, multiscale=False, iterations=15, lr=0.05)
    result = Stylizer(style, cfg, backbone=lite0).stylize(content)
    totals = [h["total"] for h in result.history]
    assert len(totals) == 15
    assert min(totals[-3:]) < 0.8 * totals[0]
    assert result.image.size == (48, 40)


def test_multiscale_runs_each_scale_and_reports_full_resolution_loss(tiny_images, lite0) -> None:
    content, style = tiny_images
    result = Stylizer(style, _cfg(), backbone=lite0).stylize(content)
    sizes = [tuple(h["size"]) for h in result.history]
    assert sizes[0] == (20, 24) and sizes[-1] == (40, 48)
    assert result.steps == 4 + 6
    assert set(result.losses) == {"content", "style", "tv", "total"}


def test_cpu_runs_are_repeatable_with_a_seed(tiny_images, lite0) -> None:
    content, style = tiny_images
    cfg = _cfg(init="noise", seed=3)
    a = Stylizer(style, cfg, backbone=lite0).stylize(content).tensor
    b = Stylizer(style, cfg, backbone=lite0).stylize(content).tensor
    c = Stylizer(style, cfg.replace(seed=4), backbone=lite0).stylize(content).tensor
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("init", ["content", "noise", "style"])
def test_inits(tiny_images, lite0, init: str) -> None:
    content, style = tiny_images
    result = Stylizer(style, _cfg(init=init, iterations=0, coarse_iterations=0, multiscale=False),
                      backbone=lite0).stylize(content)
    if init == "content":
        # zero iterations from content: output is the content itself (up to 8-bit rounding)
        assert result.losses["content"] < 1e-3
    else:
        assert result.losses["content"] > 1e-2


def test_init_from_file(tiny_images, lite0) -> None:
    content, style = tiny_images
    r = Stylizer(style, _cfg(init=str(style), iterations=0, coarse_iterations=0, multiscale=False),
                 backbone=lite0).stylize(content)
    s = Stylizer(style, _cfg(init="style", iterations=0, coarse_iterations=0, multiscale=False),
                 backbone=lite0).stylize(content)
    assert torch.equal(r.tensor, s.tensor)


def test_style_targets_are_computed_once_per_size(tiny_images, lite0) -> None:
    content, style = tiny_images
    st = Stylizer(style, _cfg(), backbone=lite0)
    st.stylize(content)
    first = dict(st._target_cache)
    st.stylize(content)
    assert st._target_cache.keys() == first.keys()
    assert all(st._target_cache[k] is first[k] for k in first)


def test_blend_weights_change_result_and_must_match_count(tiny_images, lite0, tmp_path: Path) -> None:
    content, style = tiny_images
    with pytest.raises(ConfigError, match="2 style weights given for 1"):
        Stylizer(style, _cfg(style_blend=(0.5, 0.5)), backbone=lite0)
    st = Stylizer([style, content], _cfg(style_blend=(0.9, 0.1)), backbone=lite0)
    only = Stylizer([style], _cfg(), backbone=lite0)
    a = st.style_targets(48)["block4"]["mean"]
    b = only.style_targets(48)["block4"]["mean"]
    assert not torch.allclose(a, b)


def test_original_colors_luminance_keeps_content_chroma(tiny_images, lite0) -> None:
    from painterly.image import load_image, pil_to_tensor, rgb_to_yiq

    content, style = tiny_images
    r = Stylizer(style, _cfg(original_colors="luminance"), backbone=lite0).stylize(content)
    c = pil_to_tensor(load_image(content))
    iq_out, iq_in = rgb_to_yiq(r.tensor)[:, 1:], rgb_to_yiq(c)[:, 1:]
    assert (iq_out - iq_in).abs().mean() < 0.03


def test_original_colors_histogram_runs(tiny_images, lite0) -> None:
    content, style = tiny_images
    r = Stylizer(style, _cfg(original_colors="histogram"), backbone=lite0).stylize(content)
    assert r.image.size == (48, 40)


def test_nan_loss_stops_with_last_good_image(tiny_images, lite0, monkeypatch: pytest.MonkeyPatch) -> None:
    content, style = tiny_images
    st = Stylizer(style, _cfg(multiscale=False, iterations=10), backbone=lite0)
    from painterly.losses import objective

    calls = {"n": 0}
    real = objective.total_variation

    def poisoned(x: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        return real(x) * (float("nan") if calls["n"] > 3 else 1.0)

    monkeypatch.setattr(objective, "total_variation", poisoned)
    with pytest.raises(NonFiniteLossError) as info:
        st.stylize(content)
    assert isinstance(info.value.last_good, torch.Tensor)
    assert torch.isfinite(info.value.last_good).all() and info.value.last_good.shape[-2:] == (40, 48)


def test_ctrl_c_returns_best_image_so_far(tiny_images, lite0) -> None:
    content, style = tiny_images
    st = Stylizer(style, _cfg(multiscale=False, iterations=30), backbone=lite0)

    def interrupt(ev) -> None:
        if ev.step == 5:
            raise KeyboardInterrupt

    result = st.stylize(content, callback=interrupt)
    assert result.interrupted and result.steps == 5
    assert result.image.size == (48, 40)
    assert result.losses["total"] <= result.history[0]["total"] + 1e-6


def test_memory_estimate_tiles_downscales_or_refuses(tiny_images, lite0, monkeypatch: pytest.MonkeyPatch) -> None:
    from painterly.methods import gatys

    _content, style = tiny_images
    # 6667x8000 (53 MP): the whole image's own tensors beside the tiles are ~4.4 GB, so 2 GB cannot hold it
    monkeypatch.setattr(gatys, "available_memory", lambda device: 2 << 30)
    with pytest.raises(MemoryBudgetError, match=r"smallest budget that works is about 4\.5"):
        Stylizer(style, _cfg(size=8000), backbone=lite0).check_memory(6667, 8000)
    monkeypatch.setattr(gatys, "available_memory", lambda device: 6 << 30)
    st = Stylizer(style, _cfg(size=8000), backbone=lite0)
    assert st.check_memory(6667, 8000) == (6667, 8000)  # past the budget: tiled, not refused
    plans = st.plan(6667, 8000)
    assert plans[-1].tile is not None and plans[0].tile is None
    assert max(p.peak for p in plans) <= st.budget()
    h, w = Stylizer(style, _cfg(size=8000, fit_memory=True), backbone=lite0).check_memory(6667, 8000)
    assert 16 < w < 8000 and abs(h / w - 6667 / 8000) < 0.02
    monkeypatch.setattr(gatys, "available_memory", lambda device: 0)
    with pytest.raises(MemoryBudgetError, match="smallest budget that works"):
        Stylizer(style, _cfg(size=8000), backbone=lite0).check_memory(6667, 8000)


def test_functional_api_returns_pil(tiny_images) -> None:
    content, style = tiny_images
    img = stylize(content, style, size=32, iterations=2, coarse_iterations=0, backbone="efficientnet-lite0")
    assert img.size == (32, 27)
    with pytest.raises(ConfigError, match="unknown option"):
        stylize(content, style, sise=32)


def test_a_run_leaves_the_global_rng_and_the_backbone_alone(tiny_images, lite0) -> None:
    content, style = tiny_images
    weights = next(p for p in lite0.parameters() if p.dim() == 4)
    fmt_before = weights.is_contiguous(memory_format=torch.channels_last)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = Stylizer(style, _cfg(init="noise", seed=5, multiscale=False, iterations=2), backbone=lite0).stylize(content)
    assert torch.equal(torch.get_rng_state(), state)  # the run seeded its own generator
    b = Stylizer(style, _cfg(init="noise", seed=5, multiscale=False, iterations=2), backbone=lite0).stylize(content)
    assert torch.equal(a.tensor, b.tensor)  # and the seed still makes runs repeatable
    weights = next(p for p in lite0.parameters() if p.dim() == 4)
    assert weights.is_contiguous(memory_format=torch.channels_last) == fmt_before


def test_one_criterion_serves_optimisation_and_training(tiny_images, lite0) -> None:
    from painterly.image import load_image, pil_to_tensor

    content, style = tiny_images
    st = Stylizer(style, _cfg(), backbone=lite0)
    x = pil_to_tensor(load_image(content))
    fixed = st.objective(x)
    reusable = st.criterion(max(x.shape[-2:]))
    reusable.set_content(x)
    y = x.flip(-1)
    assert torch.allclose(fixed(y)[0], reusable(y)[0])
    reusable.set_content(torch.cat([x, y]))  # a batch of contents, as the training sets per step
    total, terms = reusable(torch.cat([x, y]))
    assert total.ndim == 0 and terms["content"] < 1e-6


@pytest.mark.parametrize("statistic", ["wasserstein", "gram"])
def test_style_targets_in_strips_match_the_whole_image(tmp_path, lite0, statistic: str) -> None:
    """A style image past STYLE_PASS_BYTES goes through the network in strips, each
    reduced to its moments at once; the targets match one whole pass's."""
    rng = np.random.default_rng(3)
    small = rng.random((12, 10, 3))
    style = Image.fromarray((np.kron(small, np.ones((32, 32, 1))) * 255).astype(np.uint8))  # 384x320, blocky
    path = tmp_path / "style.png"
    style.save(path)
    whole = Stylizer(path, _cfg(size=384, statistic=statistic), backbone=lite0)
    strips = Stylizer(path, _cfg(size=384, statistic=statistic), backbone=lite0)
    strips.STYLE_PASS_BYTES = 60 << 20  # instance attribute: a few strips for this image
    x = torch.rand(1, 3, 384, 320)
    assert len(strips._strips(x, True)) > 1
    a, b = whole.style_targets(384), strips.style_targets(384)
    for layer in a:
        for key in a[layer]:
            rel = float((a[layer][key] - b[layer][key]).norm() / a[layer][key].norm())
            assert rel < 0.02, (layer, key, rel)


def test_lbfgs_runs_without_importing_torch_dynamo() -> None:
    # torch.optim imports torch._dynamo (~1.2 s) on an optimizer's first add_param_group
    code = ("import sys, torch; from painterly.methods.optimize import _skip_dynamo_import; _skip_dynamo_import(); "
            "x = torch.ones(3, requires_grad=True); opt = torch.optim.LBFGS([x], max_iter=5); opt.zero_grad()\n"
            "def f():\n    opt.zero_grad(); y = ((x - 2) ** 2).sum(); y.backward(); return y\n"
            "opt.step(f); print('torch._dynamo' in sys.modules, round(float(x.sum()), 3))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "6.0"]


_REFAULTS = (
    "import resource, sys\nfrom painterly.device import keep_freed_memory\n"
    "applied = keep_freed_memory() if sys.argv[1] == 'keep' else False\n"
    "b = bytearray(24 << 20); del b\n"  # a freed activation-sized block...
    "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
    "for _ in range(5):\n    b = bytearray(24 << 20); del b\n"  # ...asked for again, as at every evaluation
    "print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_memory_is_reused_without_page_faults() -> None:
    def run(mode: str, **env: str) -> tuple[str, int]:
        full = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
        out = subprocess.run([sys.executable, "-c", _REFAULTS, mode], capture_output=True, text=True, check=True,
                             env={**full, **env}).stdout.split()
        return out[0], int(out[1])

    applied, kept = run("keep")
    _, default = run("default")
    assert applied == "True" and kept < 100, kept
    assert default > 2000, default  # glibc's default faults the 24 MB back in (6000 pages)
    assert run("keep", MALLOC_TRIM_THRESHOLD_="0")[0] == "False"  # the user's own setting wins


def test_one_job_commands_keep_freed_memory(monkeypatch, tmp_path: Path) -> None:
    import painterly.device
    from painterly.cli.main import main

    calls: list[int] = []
    monkeypatch.setattr(painterly.device, "keep_freed_memory", lambda: calls.append(1) or True)
    assert main(["stylize", str(tmp_path / "missing.jpg"), "--style", "starry_night", "-o",
                 str(tmp_path / "o.png")]) == 2
    assert calls == [1]
    assert main(["backbones"]) == 0
    assert calls == [1]

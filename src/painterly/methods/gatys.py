"""Gatys et al. 2016 optimisation-based style transfer, made fast.

The loop is deliberately visible: build the :class:`Objective` (backbone + content
targets + style targets), pick an optimiser, run it scale by scale. Departures from the
paper, each measured in ``benchmarks/gatys.py``:

* losses are normalised by their targets (``losses.functional``) so one set of
  weights works at any size and on any backbone;
* the default style statistic is the 2-Wasserstein distance of feature Gaussians,
  not the Gram matrix;
* a coarse-to-fine schedule: each scale starts from the previous result, upsampled.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from painterly.backbones import Backbone, BackboneChoice, create_backbone, resolve_backbone_name
from painterly.device import available_memory, resolve_device
from painterly.errors import ConfigError, MemoryBudgetError, NonFiniteLossError
from painterly.events import Callback, ProgressEvent, notify
from painterly.image import (
    ImageInput,
    load_image,
    luminance,
    luminance_matched,
    match_color_stats,
    pil_to_tensor,
    resize_long_side,
    scaled_size,
    tensor_to_pil,
    with_content_chroma,
)
from painterly.losses import Objective, SpatialControl, Targets, get_statistic
from painterly.methods.config import GatysConfig
from painterly.methods.optimize import optimize

__all__ = ["SpatialSchedule", "StylizeResult", "Stylizer", "stylize"]

logger = logging.getLogger("painterly")


# (scale index, number of scales, the image the scale starts from) -> spatial control or None (keep)
SpatialSchedule = Callable[[int, int, torch.Tensor], "SpatialControl | None"]


@dataclass
class StylizeResult:
    image: Image.Image
    tensor: torch.Tensor = field(repr=False)
    losses: dict[str, float]  # final terms at full resolution
    history: list[dict[str, Any]]
    config: GatysConfig
    backbone: BackboneChoice
    elapsed: float
    steps: int
    interrupted: bool = False


class Stylizer:
    """Holds a backbone and one blended style; computes style targets once per size and
    stylises many content images.

    >>> st = Stylizer(["starry_night.jpg"], GatysConfig(size=256))  # doctest: +SKIP
    >>> st.stylize("photo.jpg").image.save("out.png")  # doctest: +SKIP
    """

    def __init__(
        self,
        styles: ImageInput | Sequence[ImageInput],
        config: GatysConfig | None = None,
        *,
        backbone: Backbone | None = None,
    ) -> None:
        self.config = config or GatysConfig()
        cfg = self.config
        if isinstance(styles, (str, Image.Image, torch.Tensor)) or not isinstance(styles, Sequence):
            styles = [styles]
        if len(styles) == 0:
            raise ConfigError("at least one style image is needed")
        self.style_images = [load_image(s) for s in styles]
        blend = cfg.style_blend or tuple(1.0 for _ in self.style_images)
        if len(blend) != len(self.style_images):
            raise ConfigError(f"{len(blend)} style weights given for {len(self.style_images)} style images")
        total = sum(blend)
        self.blend = tuple(w / total for w in blend)
        self.device = resolve_device(cfg.device)
        if backbone is None:
            self.choice = resolve_backbone_name(cfg.backbone, cfg.weights)
            backbone = create_backbone(self.choice.name, weights=cfg.weights, pooling=cfg.pooling)
        else:
            self.choice = BackboneChoice(backbone.name, "given")
        self.backbone = backbone.to(self.device)
        self.content_layers = tuple(cfg.content_layers or backbone.default_content_layers)
        self.style_layers = tuple(cfg.style_layers or backbone.default_style_layers)
        try:
            backbone.check_layers([*self.content_layers, *self.style_layers])
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.layer_weights = cfg.resolved_layer_weights(len(self.style_layers))
        self.statistic = get_statistic(cfg.statistic)
        self._target_cache: dict[tuple[Any, ...], Targets] = {}

    # the fields style targets depend on; the others (weights, schedule) leave them as they are
    TARGET_FIELDS = ("style_scale", "style_blend", "backbone", "weights", "pooling", "style_layers", "statistic",
                     "original_colors", "device")

    def with_config(self, config: GatysConfig) -> Stylizer:
        """A stylizer for the same styles with ``config``; it shares this one's backbone,
        and its style targets too when ``config`` differs only in fields that do not
        change them (weights, iterations, schedule): a study computes them once."""
        other = Stylizer(self.style_images, config, backbone=self.backbone)
        other.choice = self.choice
        if all(getattr(config, f) == getattr(self.config, f) for f in self.TARGET_FIELDS):
            other._target_cache = self._target_cache
        return other

    # -- style targets -------------------------------------------------------------
    def style_targets(self, long_side: int, content: torch.Tensor | None = None) -> Targets:
        """Blended per-layer targets for an output whose longer side is ``long_side``.

        The style image is resized to ``long_side * style_scale`` on its longer side.
        ``content`` is needed only for the original-colour modes.
        """
        cfg = self.config
        key: tuple[Any, ...] = (long_side,)
        if cfg.original_colors is not None:
            if content is None:
                raise ValueError("original-colour modes need the content image")
            key += (tuple(content.mean((0, 2, 3)).tolist()), tuple(content.std((0, 2, 3)).tolist()))
        if key in self._target_cache:
            return self._target_cache[key]
        side = max(16, round(long_side * cfg.style_scale))
        feats_per_style = []
        for img in self.style_images:
            x = pil_to_tensor(resize_long_side(img, side), self.device)
            if cfg.original_colors == "histogram":
                assert content is not None
                x = match_color_stats(x, content)
            elif cfg.original_colors == "luminance":
                assert content is not None
                x = luminance_matched(x, content)
            with torch.no_grad():
                feats_per_style.append(self.backbone(x, self.style_layers))
        targets = {
            layer: self.statistic.target([f[layer] for f in feats_per_style], self.blend) for layer in self.style_layers
        }
        self._target_cache[key] = targets
        return targets

    def criterion(
        self, long_side: int, *, content: torch.Tensor | None = None, spatial: SpatialControl | None = None,
        pad: bool = True,
    ) -> Objective:
        """The objective with this style's targets at ``long_side``; content set when given.

        Image optimisation uses one per scale (:meth:`objective`); feed-forward training
        keeps one and sets a batch of crops as the content per step (``pad=False``).
        """
        regions = spatial.style_regions if spatial is not None else ()
        region_targets = [(r.source or self).style_targets(long_side, content) for r in regions]
        return Objective(
            self.backbone,
            self.style_targets(long_side, content),
            self.config.loss_weights(),
            content_layers=self.content_layers,
            style_layers=self.style_layers,
            layer_weights=self.layer_weights,
            content=content,
            spatial=spatial,
            region_targets=region_targets,
            pad=pad,
        )

    def objective(self, content: torch.Tensor, spatial: SpatialControl | None = None) -> Objective:
        """The full objective at ``content``'s size (content already colour-prepared)."""
        return self.criterion(max(content.shape[-2:]), content=content, spatial=spatial)

    # -- memory --------------------------------------------------------------------
    def check_memory(self, h: int, w: int) -> tuple[int, int]:
        """Estimate memory for an (h, w) run; refuse or (``fit_memory``) downscale."""
        layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        epp = self.backbone.activation_elements_per_pixel(layers)
        # forward activations kept for backward, their gradients, and the optimiser state
        history = 2 * 20 * 3 if self.config.optimizer == "lbfgs" else 3 * 3

        per_pixel = 4 * (3 * epp + history + 12)
        fixed = 256 << 20  # weights, style targets, interpreter
        have = int(available_memory(self.device) * 0.8)
        need = int(per_pixel * h * w) + fixed
        if need <= have:
            return h, w
        scale = math.sqrt(max(have - fixed, 0) / per_pixel / (h * w))
        fit_h, fit_w = int(h * scale), int(w * scale)
        if min(fit_h, fit_w) < 16:
            raise MemoryBudgetError(
                f"not enough {self.device.type} memory: {have / 2**30:.2f} GB free, even a tiny image needs more"
            )
        if self.config.fit_memory:
            logger.info("downscaled to %dx%d to fit %.1f GB of %s memory", fit_w, fit_h, have / 2**30, self.device)
            return fit_h, fit_w
        raise MemoryBudgetError(
            f"{w}x{h} needs about {need / 2**30:.1f} GB but {have / 2**30:.1f} GB of {self.device.type} memory "
            f"is free; the largest size that fits is about {max(fit_w, fit_h)} px (size={max(fit_w, fit_h)}), "
            "or pass fit_memory=True"
        )

    # -- the run -------------------------------------------------------------------
    def stylize(
        self,
        content: ImageInput,
        *,
        callback: Callback | None = None,
        spatial: SpatialControl | None = None,
        init: torch.Tensor | None = None,
        schedule: SpatialSchedule | None = None,
    ) -> StylizeResult:
        """Stylise one image. Ctrl-C returns the best image so far (``interrupted``).

        ``spatial`` adds per-pixel content weights and style regions (portraits);
        ``init`` (1, 3, H, W) starts the final scale from that image and skips the
        coarser scales (used to continue a run). ``schedule(scale, n_scales, image)`` is
        called before each scale with the image that scale starts from (1, 3, h, w) and
        may return a new spatial control for it (portraits adapt to what they measure).
        """
        cfg = self.config
        # a generator of our own: a run never reseeds the caller's (or another thread's) global RNG
        generator = torch.Generator()
        if cfg.seed is not None:
            generator.manual_seed(cfg.seed)
        else:
            generator.seed()
        content_img = load_image(content)
        h, w = scaled_size(content_img.height, content_img.width, cfg.size)
        h, w = self.check_memory(h, w)
        full = pil_to_tensor(content_img.resize((w, h), Image.Resampling.LANCZOS), self.device)
        prepared_full = luminance(full) if cfg.original_colors == "luminance" else full
        scales = [s for s in cfg.scales() if s <= max(h, w)] or [max(h, w)]
        if scales[-1] != max(h, w):
            scales[-1] = max(h, w)
        iters = [cfg.coarse_iterations] * (len(scales) - 1) + [cfg.iterations]
        if init is not None:
            scales, iters = [max(h, w)], [cfg.iterations]
        total_steps = sum(iters)
        history: list[dict[str, Any]] = []
        start = time.perf_counter()
        step = 0
        image: torch.Tensor | None = None
        best: torch.Tensor | None = None
        objective: Objective | None = None
        objective_size: tuple[int, int] | None = None
        interrupted = False
        try:
            for si, (long_side, n_iter) in enumerate(zip(scales, iters, strict=False)):
                sh, sw = scaled_size(h, w, long_side)
                content_s = prepared_full
                if (sh, sw) != (h, w):
                    content_s = F.interpolate(prepared_full, size=(sh, sw), mode="area")
                if image is None and init is None:
                    image = self._init_image(content_s, generator)
                elif image is None:
                    assert init is not None
                    image = init.to(self.device)
                    image = luminance(image) if cfg.original_colors == "luminance" else image
                assert image is not None
                if image.shape[-2:] != (sh, sw):
                    image = F.interpolate(image, size=(sh, sw), mode="bicubic", align_corners=False).clamp(0, 1)
                best = image.detach().clone()
                if schedule is not None:
                    spatial = schedule(si, len(scales), image) or spatial
                objective, objective_size = self.objective(content_s, spatial), (sh, sw)

                def on_step(x: torch.Tensor, terms: dict[str, float], si: int = si, sh: int = sh, sw: int = sw) -> None:
                    nonlocal step
                    step += 1
                    elapsed = time.perf_counter() - start
                    history.append({"step": step, "scale": si, "size": [sh, sw], **terms,
                                    "elapsed": round(elapsed, 4)})
                    notify(callback, ProgressEvent(step=step, total_steps=total_steps, scale=si, n_scales=len(scales),
                                                   size=(sh, sw), losses=terms, elapsed=elapsed, current=x))

                image, best = optimize(image, objective, n_iter, cfg, on_step)
        except KeyboardInterrupt:
            interrupted = True
            logger.info("interrupted: keeping the best image so far")
            if best is None:
                best = self._init_image(prepared_full, generator)
            image = best
        except NonFiniteLossError as exc:
            last = exc.last_good if isinstance(exc.last_good, torch.Tensor) else best
            if last is not None:
                exc.last_good = self._finish(F.interpolate(last, size=(h, w), mode="bicubic").clamp(0, 1), full)
            raise
        assert image is not None
        if image.shape[-2:] != (h, w):
            image = F.interpolate(image, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
        if objective is None or objective_size != (h, w):  # interrupted before the final scale
            objective = self.objective(prepared_full, spatial)
        with torch.no_grad():
            _total, terms = objective(image)
            final = {k: float(v) for k, v in terms.items()}
            final["total"] = float(_total)
        out = self._finish(image, full)
        return StylizeResult(
            image=tensor_to_pil(out), tensor=out.cpu(), losses=final, history=history, config=cfg,
            backbone=self.choice, elapsed=time.perf_counter() - start, steps=step, interrupted=interrupted,
        )

    def _init_image(self, content: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        cfg = self.config
        if cfg.init == "content":
            return content.clone()
        if cfg.init == "noise":
            return torch.rand(content.shape, generator=generator).to(content)
        src = self.style_images[0] if cfg.init == "style" else load_image(cfg.init)
        x = pil_to_tensor(src.resize((content.shape[-1], content.shape[-2]), Image.Resampling.LANCZOS), self.device)
        return luminance(x) if cfg.original_colors == "luminance" else x

    def _finish(self, image: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
        """Put the content's chroma back for luminance-only transfer."""
        if self.config.original_colors != "luminance":
            return image.detach()
        return with_content_chroma(image, full).detach()


def stylize(
    content: ImageInput,
    style: ImageInput | Sequence[ImageInput],
    *,
    callback: Callback | None = None,
    **options: Any,
) -> Image.Image:
    """Stylise ``content`` with one or more ``style`` images; returns a PIL image.

    ``options`` are :class:`GatysConfig` fields (size, style_weight, statistic, ...).
    """
    unknown = set(options) - set(GatysConfig.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown option(s): {', '.join(sorted(unknown))}")
    return Stylizer(style, GatysConfig(**options)).stylize(content, callback=callback).image

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

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from painterly.backbones import BackboneChoice
from painterly.device import available_memory
from painterly.errors import ConfigError, MemoryBudgetError, NonFiniteLossError
from painterly.events import Callback, ProgressEvent, notify
from painterly.image import (
    ImageInput,
    load_image,
    luminance,
    pil_to_tensor,
    scaled_size,
    tensor_to_pil,
    with_content_chroma,
)
from painterly.losses import Objective, SpatialControl
from painterly.methods.config import GatysConfig
from painterly.methods.criterion import StyleCriterion
from painterly.methods.optimize import optimize
from painterly.methods.tiles import (
    RESIDENT_COARSE,
    RESIDENT_TILED,
    TILE_PASSES,
    MemoryModel,
    ScalePlan,
    optimize_tiled,
    overlap_for,
    plan_tiles,
    tile_side_for,
    tiled_terms,
)

__all__ = ["ScalePlan", "SpatialSchedule", "StylizeResult", "Stylizer", "TemporalTerm", "stylize"]

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


_PROCESS_BYTES = 380 * 2**20  # interpreter, torch, network weights and style targets (measured, CPU)
@dataclass
class TemporalTerm:
    """Ruder et al. 2016's short-term temporal loss for video: ``weight`` x the mean
    over the pixels ``mask`` (1, 1, H, W) marks as seen in the previous frame of the
    squared distance to ``target`` (1, 3, H, W), the previous output warped by flow."""

    target: torch.Tensor
    mask: torch.Tensor
    weight: float

    def around(self, objective: Any) -> Any:
        target, mask = self.target, self.mask
        denom = mask.sum().clamp_min(1.0) * 3

        def with_temporal(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            total, terms = objective(x)
            t = self.weight * (mask.to(x.device) * (x - target.to(x.device)) ** 2).sum() / denom
            return total + t, {**terms, "temporal": terms["temporal"] + t if "temporal" in terms else t}

        return with_temporal


class Stylizer(StyleCriterion):
    """Holds a backbone and one blended style; computes style targets once per size and
    stylises many content images.

    >>> st = Stylizer(["starry_night.jpg"], GatysConfig(size=256))  # doctest: +SKIP
    >>> st.stylize("photo.jpg").image.save("out.png")  # doctest: +SKIP
    """

    # -- memory and the plan -------------------------------------------------------
    def memory_model(self) -> MemoryModel:
        """Peak process memory of one scale at (h, w), for this backbone, layers and
        optimiser. Measured on the CPU with efficientnet-lite0 and L-BFGS (peak RSS of
        whole runs at 256, 512 and 1024 px): activations kept for backward and their
        gradients cost twice the tapped activation elements, L-BFGS keeps 2 x 20 image
        copies, plus the image, its gradient and the loss buffers; the process itself
        (interpreter, torch, weights) about 380 MB."""
        layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        epp = self.backbone.activation_elements_per_pixel(layers)
        history = 2 * 20 * 3 if self.config.optimizer == "lbfgs" else 3 * 3
        return MemoryModel(base=_PROCESS_BYTES, per_pixel=4 * (2 * epp + history + 12))

    def budget(self) -> float:
        """Bytes a run may use: ``max_memory``, else 80% of what is free now plus what
        this process already holds (its base)."""
        if self.config.max_memory is not None:
            return float(self.config.max_memory)
        return available_memory(self.device) * 0.8 + _PROCESS_BYTES

    def check_memory(self, h: int, w: int) -> tuple[int, int]:
        """The size a run at (h, w) will produce: as is (scales past the budget are
        tiled, :meth:`plan`), or downscaled to fit with ``fit_memory``. Raises when not
        even one tile fits."""
        model, budget = self.memory_model(), self.budget()
        if model.predict(h, w) <= budget:
            return h, w
        if self.config.fit_memory:
            side = model.largest_square(budget)
            scale = min(1.0, side / math.sqrt(h * w)) if side else 0.0
            fit_h, fit_w = int(h * scale), int(w * scale)
            if min(fit_h, fit_w) < 16:
                raise MemoryBudgetError(f"not enough memory: {budget / 2**30:.2f} GB for the run, even a tiny image "
                                        "needs more")
            logger.info("downscaled to %dx%d to fit %.1f GB", fit_w, fit_h, budget / 2**30)
            return fit_h, fit_w
        _tile_side(model, budget, h * w)  # refuses a budget below one tile
        return h, w

    def plan(self, h: int, w: int) -> list[ScalePlan]:
        """The scales of a run at (h, w): size, evaluations, and the tile side where the
        scale is past the memory budget (None: whole)."""
        cfg = self.config
        model, budget = self.memory_model(), self.budget()
        scales = [s for s in cfg.scales() if s <= max(h, w)] or [max(h, w)]
        scales[-1] = max(h, w)
        iters = [cfg.coarse_iterations] * (len(scales) - 1) + [cfg.iterations]
        plans = []
        for long_side, n in zip(scales, iters, strict=True):
            sh, sw = scaled_size(h, w, long_side)
            # what stays at the output's size while this scale runs (none at a whole final scale: the model has it)
            beside = 0.0 if (sh, sw) == (h, w) else RESIDENT_COARSE * h * w
            tile = None
            if model.predict(sh, sw) + beside > budget:  # a tile at an image end may span 1.25 tiles: plan for that
                tile = int(_tile_side(model, budget, h * w) / 1.25)
                beside = RESIDENT_TILED * h * w
            tiles = plan_tiles(sh, sw, tile, overlap_for(tile)) if tile else []
            n_tiles = len(tiles) or 1
            peak = beside + (max(model.predict(*t.shape) for t in tiles) if tiles else model.predict(sh, sw))
            plans.append(ScalePlan(long_side, (sh, sw), n, tile, n_tiles, peak))
        return plans

    # -- the run -------------------------------------------------------------------
    def stylize(
        self,
        content: ImageInput,
        *,
        callback: Callback | None = None,
        spatial: SpatialControl | None = None,
        init: torch.Tensor | None = None,
        schedule: SpatialSchedule | None = None,
        temporal: TemporalTerm | Sequence[TemporalTerm] | None = None,
        regulariser: Callable[[Any, tuple[int, int]], Any] | None = None,
    ) -> StylizeResult:
        """Stylise one image. Ctrl-C returns the best image so far (``interrupted``).

        ``spatial`` adds per-pixel content weights and style regions (portraits);
        ``init`` (1, 3, H, W) starts the final scale from that image and skips the
        coarser scales (used to continue a run). ``schedule(scale, n_scales, image)`` is
        called before each scale with the image that scale starts from (1, 3, h, w) and
        may return a new spatial control for it (portraits adapt to what they measure).
        ``temporal`` adds Ruder et al.'s consistency term(s) at the final scale (several:
        the long-term form, one per earlier frame).
        ``regulariser(loss, (h, w))`` wraps each scale's loss with a term of its own
        (the matting Laplacian of photorealistic transfer, :mod:`painterly.methods.photo`).
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
        plans = self.plan(h, w)
        if init is not None:
            plans = plans[-1:]
        if (temporal is not None or regulariser is not None) and any(p.tile for p in plans):
            side = self.memory_model().largest_square(self.budget())
            raise MemoryBudgetError(f"{w}x{h} does not fit in {self.budget() / 2**30:.1f} GB in one piece, and video "
                                    f"frames and --photo run whole; the largest size that fits is about {side} px "
                                    f"(size={side})")
        total_steps = sum(p.evaluations() for p in plans)
        history: list[dict[str, Any]] = []
        start = time.perf_counter()
        step = 0
        image: torch.Tensor | None = None
        best: torch.Tensor | None = None
        objective: Objective | None = None
        objective_size: tuple[int, int] | None = None
        interrupted = False
        carried = False  # a scale took the coarser result as its content (paint_above)
        try:
            for si, sp in enumerate(plans):
                n_iter = sp.iterations
                sh, sw = sp.size
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
                    spatial = schedule(si, len(plans), image) or spatial
                if cfg.paint_above is not None and sp.long_side > cfg.paint_above and si > 0:
                    content_s = _carried_content(image, content_s, spatial)
                    carried = True
                # a tiled scale never builds the whole image's objective (its content
                # features alone are the memory the tiles exist to avoid)
                objective, objective_size = (self.objective(content_s, spatial), (sh, sw)) if sp.tile is None \
                    else (None, None)
                loss: Any = objective
                if temporal is not None and (sh, sw) == (h, w):
                    for term in [temporal] if isinstance(temporal, TemporalTerm) else temporal:
                        loss = term.around(loss)
                if regulariser is not None:
                    loss = regulariser(loss, (sh, sw))

                def on_step(x: torch.Tensor, terms: dict[str, float], si: int = si, sh: int = sh, sw: int = sw) -> None:
                    nonlocal step
                    step += 1
                    elapsed = time.perf_counter() - start
                    history.append({"step": step, "scale": si, "size": [sh, sw], **terms,
                                    "elapsed": round(elapsed, 4)})
                    notify(callback, ProgressEvent(step=step, total_steps=total_steps, scale=si, n_scales=len(plans),
                                                   size=(sh, sw), losses=terms, elapsed=elapsed, current=x))

                if sp.tile is None:
                    image, best = optimize(image, loss, n_iter, cfg, on_step)
                else:
                    image = self._tiled(image, content_s, spatial, sp, on_step)
                    best = image
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
        if (final_plan := plans[-1]).tile is not None:  # the final terms tile by tile too
            final = tiled_terms(image, prepared_full, self._tile_objective(spatial, final_plan.size), final_plan.size,
                                final_plan.tile)
        else:
            # interrupted before the final scale, or its content was not the photo: the terms are against the photo
            if objective is None or objective_size != (h, w) or carried:
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

    def _tiled(self, image: torch.Tensor, content: torch.Tensor, spatial: SpatialControl | None, sp: ScalePlan,
               on_step: Callable[[torch.Tensor, dict[str, float]], None]) -> torch.Tensor:
        """One scale in overlapping tiles; style targets of the whole image's long side."""
        assert sp.tile is not None

        def run(x: torch.Tensor, objective: Any, n: int) -> torch.Tensor:
            return optimize(x, objective, n, self.config, on_step)[0]

        return optimize_tiled(image, content, self._tile_objective(spatial, sp.size), sp.iterations, sp.tile,
                              overlap_for(sp.tile), TILE_PASSES, run)

    def _tile_objective(self, spatial: SpatialControl | None, size: tuple[int, int]) -> Callable[..., Any]:
        """(content tile, (rows, cols)) -> that tile's objective, with the whole image's style targets."""

        def objective_for(content_tile: torch.Tensor, where: tuple[slice, slice]) -> Any:
            return self.criterion(max(size), content=content_tile, spatial=_crop_spatial(spatial, size, where))

        return objective_for

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


def _carried_content(image: torch.Tensor, photo: torch.Tensor, spatial: SpatialControl | None) -> torch.Tensor:
    """The content of a scale past ``paint_above``: the coarser result it starts from
    (``image``, upsampled), so the strokes painted below are sharpened, not replaced by
    the photo's detail; where the content weight map holds more than the rest (a
    portrait's eyes, brows, nose and mouth) the photo's detail stays, up to a weight of 2."""
    carried = image.detach()  # never changed in place: optimize() and the tiles work on copies
    cmap = spatial.content_weight_map if spatial is not None else None
    if cmap is None:
        return carried
    if cmap.shape[-2:] != image.shape[-2:]:
        cmap = F.interpolate(cmap, size=image.shape[-2:], mode="bilinear", align_corners=False)
    hold = (cmap.to(image.device) - 1.0).clamp(0, 1)
    return hold * photo + (1 - hold) * carried


def _tile_side(model: MemoryModel, budget: float, output_pixels: int) -> int:
    """:func:`tile_side_for` with what a tiled run of ``output_pixels`` holds beside its
    tiles; a refusal as a :class:`MemoryBudgetError`."""
    try:
        return tile_side_for(model, budget, resident=RESIDENT_TILED * output_pixels)
    except ValueError as exc:
        raise MemoryBudgetError(str(exc)) from None


def _crop_spatial(spatial: SpatialControl | None, size: tuple[int, int],
                  where: tuple[slice, slice]) -> SpatialControl | None:
    """The spatial control of a tile: maps resized to the scale's size, then cropped."""
    if spatial is None:
        return None

    def crop(m: torch.Tensor) -> torch.Tensor:
        if m.shape[-2:] != size:
            m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
        return m[..., where[0], where[1]]

    cmap = spatial.content_weight_map
    return SpatialControl(
        content_weight_map=None if cmap is None else crop(cmap),
        style_regions=[dataclasses.replace(r, mask=crop(r.mask)) for r in spatial.style_regions],
        content_gain=None if spatial.content_gain is None else (
            crop(spatial.content_gain[0]), crop(spatial.content_gain[1]), *spatial.content_gain[2:]),
    )


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

"""The perceptual criterion of a Gatys configuration: backbone, layers, weights and
blended style targets, shared by image optimisation and feed-forward training."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from typing import Any, TypeVar

import torch
from PIL import Image

from painterly.backbones import Backbone, BackboneChoice, create_backbone, resolve_backbone_name
from painterly.device import resolve_device
from painterly.errors import ConfigError
from painterly.image import (
    ImageInput,
    load_image,
    luminance_matched,
    match_color_stats,
    pil_to_tensor,
    resize_long_side,
)
from painterly.losses import Objective, SpatialControl, Targets, get_statistic
from painterly.losses.statistics import accumulate_moments
from painterly.methods.config import GatysConfig

__all__ = ["StyleCriterion"]

_C = TypeVar("_C", bound="StyleCriterion")


class StyleCriterion:
    """A :class:`GatysConfig` made concrete for one blended style: the backbone on its
    device, the content and style layers with their weights, and the style targets per
    output size (computed once, cached). Image optimisation
    (:class:`~painterly.methods.gatys.Stylizer`) and feed-forward training build their
    :class:`~painterly.losses.Objective` here."""

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

    def with_config(self: _C, config: GatysConfig) -> _C:
        """A stylizer for the same styles with ``config``; it shares this one's backbone,
        and its style targets too when ``config`` differs only in fields that do not
        change them (weights, iterations, schedule): a study computes them once."""
        other = type(self)(self.style_images, config, backbone=self.backbone)
        other.choice = self.choice
        if all(getattr(config, f) == getattr(self.config, f) for f in self.TARGET_FIELDS):
            other._target_cache = self._target_cache
        return other

    # -- style targets -------------------------------------------------------------
    def style_targets(
        self, long_side: int, content: torch.Tensor | None = None, style_mask: torch.Tensor | None = None
    ) -> Targets:
        """Blended per-layer targets for an output whose longer side is ``long_side``.

        The style image is resized to ``long_side * style_scale`` on its longer side.
        ``content`` is needed only for the original-colour modes. ``style_mask``
        (1, 1, h, w) in [0, 1]: statistics of that part of the style image only.
        """
        cfg = self.config
        key: tuple[Any, ...] = (long_side,)
        if style_mask is not None:
            key += (hashlib.sha1(style_mask.detach().float().cpu().numpy().tobytes()).hexdigest(),
                    tuple(style_mask.shape))
        if cfg.original_colors is not None:
            if content is None:
                raise ValueError("original-colour modes need the content image")
            key += (tuple(content.mean((0, 2, 3)).tolist()), tuple(content.std((0, 2, 3)).tolist()))
        if key in self._target_cache:
            return self._target_cache[key]
        side = max(16, round(long_side * cfg.style_scale))
        mask = None if style_mask is None else style_mask.to(self.device).float()
        # each strip (or whole style image) reduced to its linear moments at once: a 4096 px
        # style image's tapped activations (0.8 GB for lite0) are never all held together
        moments: dict[str, dict[str, torch.Tensor]] = {}
        for img, blend in zip(self.style_images, self.blend, strict=True):
            x = pil_to_tensor(resize_long_side(img, side), self.device)
            if cfg.original_colors == "histogram":
                assert content is not None
                x = match_color_stats(x, content)
            elif cfg.original_colors == "luminance":
                assert content is not None
                x = luminance_matched(x, content)
            # a large style image in strips: the statistics are position averages, so strips
            # weighted by their area give the whole image's (up to the strips' borders)
            for part, share, (top, bottom) in self._strips(x, style_mask is None):
                with torch.no_grad():
                    feats = self.backbone(part, self.style_layers)
                ph = part.shape[-2]  # keep each layer's rows of the strip's core, not its margins
                for k, f in feats.items():
                    core = f[..., round(top * f.shape[-2] / ph) : max(
                        round(top * f.shape[-2] / ph) + 1, round(bottom * f.shape[-2] / ph)), :]
                    moments[k] = accumulate_moments(moments.get(k), self.statistic.moments(core, mask), blend * share)
                del feats
        targets = {layer: self.statistic.from_moments(moments[layer]) for layer in self.style_layers}
        self._target_cache[key] = targets
        return targets

    STYLE_PASS_BYTES = 512 << 20  # the tapped activations of one style pass; larger images go in strips
    STRIP_MARGIN = 96  # rows above and below a strip's core that the network sees but the statistics skip

    def _strips(self, x: torch.Tensor, allowed: bool) -> list[tuple[torch.Tensor, float, tuple[int, int]]]:
        """``x`` (1, 3, H, W) whole, or in horizontal strips (with margins) whose tapped
        activations fit :attr:`STYLE_PASS_BYTES`: each strip, its share of the rows, and
        its core's rows within the strip."""
        h = x.shape[-2]
        epp = self.backbone.activation_elements_per_pixel(self.style_layers)
        rows = int(self.STYLE_PASS_BYTES / (4 * epp * x.shape[-1])) - 2 * self.STRIP_MARGIN
        if not allowed or rows >= h:
            return [(x, 1.0, (0, h))]
        rows = max(64, rows)
        n = -(-h // rows)
        edges = [round(i * h / n) for i in range(n + 1)]
        out = []
        for a, b in itertools.pairwise(edges):
            pa, pb = max(0, a - self.STRIP_MARGIN), min(h, b + self.STRIP_MARGIN)
            out.append((x[..., pa:pb, :], (b - a) / h, (a - pa, b - pa)))
        return out

    def criterion(
        self, long_side: int, *, content: torch.Tensor | None = None, spatial: SpatialControl | None = None,
        pad: bool = True,
    ) -> Objective:
        """The objective with this style's targets at ``long_side``; content set when given.

        Image optimisation uses one per scale (:meth:`objective`); feed-forward training
        keeps one and sets a batch of crops as the content per step (``pad=False``).
        """
        regions = spatial.style_regions if spatial is not None else ()
        region_targets = [(r.source or self).style_targets(long_side, content, r.style_mask) for r in regions]
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

"""The perceptual loss of Gatys et al.: weighted content + style + total variation,
with optional spatial control (per-pixel content weights, style regions with their
own weights and targets, and gain-scaled content targets after Selim et al. 2016).

One criterion serves every loop (pystiche's ``PerceptualLoss.set_content_image``):
image optimisation sets one content image per scale; feed-forward training sets a
batch of content crops per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from painterly.backbones import Backbone
from painterly.losses.functional import content_loss, fit_mask, total_variation
from painterly.losses.statistics import get_statistic

__all__ = ["LossWeights", "Objective", "SpatialControl", "StyleRegion", "Targets"]

Targets = dict[str, dict[str, torch.Tensor]]


@dataclass
class StyleRegion:
    """Style loss restricted to ``mask`` (1, 1, H, W) in [0, 1] at the output size,
    scaled by ``weight``, against the targets of ``source`` (a Stylizer; None = the
    running one), taken over ``style_mask`` (1, 1, h, w) of the style image when given
    (semantic matching: sky to sky, face to face)."""

    mask: torch.Tensor
    weight: float = 1.0
    source: Any = None
    style_mask: torch.Tensor | None = None


@dataclass
class SpatialControl:
    """Where the loss differs across the image.

    ``content_weight_map`` (1, 1, H, W) multiplies the content error per pixel.
    ``style_regions``, when given, replace the global style loss by a sum over regions.
    ``content_gain`` = (image (1, 3, H, W), mask (1, 1, H, W), lo, hi): content targets
    become content features times the clamped ratio of this image's feature magnitudes to
    the content's, inside the mask (Selim et al. 2016 with a warped style portrait).
    """

    content_weight_map: torch.Tensor | None = None
    style_regions: Sequence[StyleRegion] = field(default_factory=tuple)
    content_gain: tuple[torch.Tensor, torch.Tensor, float, float] | None = None


@dataclass(frozen=True)
class LossWeights:
    """Alpha, beta and the total-variation weight, with the style statistic's name."""

    content: float = 1.0
    style: float = 10.0
    tv: float = 3.0
    statistic: str = "wasserstein"


_STACKED = -2  # Objective._fitted's index for the stacked region masks


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if x.shape[-2:] == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Objective:
    """Weighted content + style + total-variation loss.

    ``style_targets`` maps layer -> statistic target; ``region_targets`` holds one such
    mapping per entry of ``spatial.style_regions``. Call :meth:`set_content` before
    evaluating; ``content`` given here does that at once.

    ``pad``: reflect-pad images before the network so border pixels are as constrained
    as inner ones (image optimisation; without it the outermost columns fill with
    saturated noise). Training on random crops passes ``pad=False``.
    """

    def __init__(
        self,
        backbone: Backbone,
        style_targets: Targets,
        weights: LossWeights,
        *,
        content_layers: Sequence[str],
        style_layers: Sequence[str],
        layer_weights: Sequence[float],
        content: torch.Tensor | None = None,
        spatial: SpatialControl | None = None,
        region_targets: Sequence[Targets] = (),
        pad: bool = True,
    ) -> None:
        self.backbone = backbone
        self.weights = weights
        self.statistic = get_statistic(weights.statistic)
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers) if weights.style > 0 else ()
        self.layer_weights = dict(zip(style_layers, layer_weights, strict=False))
        self.style_targets = style_targets
        self.layers = tuple(dict.fromkeys((*self.content_layers, *self.style_layers)))
        self.use_pad = pad
        self.pad = 0
        self.spatial = spatial or SpatialControl()
        self.region_targets = list(region_targets)
        self.content_targets: dict[str, torch.Tensor] = {}
        self.content_weight_map: torch.Tensor | None = None
        self.regions: list[tuple[torch.Tensor, float, Targets]] = []
        # masks resized to a feature size, per content image: (region index, h, w); index -1
        # the content weight map, _STACKED the live regions' masks stacked (_region_style)
        self._fitted: dict[tuple[int, int, int], torch.Tensor | None] = {}
        self._stacked: dict[str, tuple[dict[str, torch.Tensor], torch.Tensor]] = {}
        if content is not None:
            self.set_content(content)

    def set_content(self, content: torch.Tensor, content_weight_map: torch.Tensor | None = None) -> None:
        """Content targets from ``content`` (B, 3, H, W) in [0, 1]; the spatial control
        is resized to its size. ``content_weight_map`` (B, 1, H, W), when given, replaces
        the spatial control's map for this content (per-crop face weights in training)."""
        backbone = self.backbone
        self.pad = max(2, max(content.shape[-2:]) // 64) if self.use_pad else 0
        size = (content.shape[-2], content.shape[-1])
        spatial = self.spatial
        weight_map = content_weight_map if content_weight_map is not None else spatial.content_weight_map
        self.content_weight_map = None if weight_map is None else self._pad_mask(_resize(weight_map, size))
        self.regions = [
            (self._pad_mask(_resize(r.mask, size)), r.weight, t)
            for r, t in zip(spatial.style_regions, self.region_targets, strict=True)
        ]
        self._fitted = {}
        with torch.no_grad():
            feats = backbone(self._padded(content), self.content_layers)
            targets = {k: v.detach() for k, v in feats.items()}
            if spatial.content_gain is not None:
                image, mask, lo, hi = spatial.content_gain
                guide = backbone(self._padded(_resize(image, size)), self.content_layers)
                m = self._pad_mask(_resize(mask, size))
                for k, f in targets.items():
                    gain = ((guide[k].abs() + 1e-2) / (f.abs() + 1e-2)).clamp(lo, hi)
                    mk = _resize(m, (f.shape[-2], f.shape[-1]))
                    targets[k] = f * (1 + mk * (gain - 1))
        self.content_targets = targets

    def _pad_mask(self, mask: torch.Tensor) -> torch.Tensor:
        p = self.pad
        return F.pad(mask, [p, p, p, p], mode="replicate") if p > 0 else mask

    def _padded(self, image: torch.Tensor) -> torch.Tensor:
        p = min(self.pad, image.shape[-1] - 1, image.shape[-2] - 1)
        return F.pad(image, [p, p, p, p], mode="reflect") if p > 0 else image

    def _fit(self, index: int, mask: torch.Tensor | None, features: torch.Tensor) -> torch.Tensor | None:
        """``mask`` resized to ``features`` once per content and feature size, not at every
        evaluation (index -1: the content weight map, i: region i)."""
        if mask is None:
            return None
        key = (index, features.shape[-2], features.shape[-1])
        if key not in self._fitted:
            self._fitted[key] = fit_mask(mask, features)
        return self._fitted[key]

    def _style(self, feats: dict[str, torch.Tensor], zero: torch.Tensor) -> torch.Tensor:
        """The style loss with one item per layer (per layer and region with regions)."""
        layer_weights: list[float] = []
        items: list[tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]] = []
        for k in self.style_layers:
            lw = self.layer_weights[k]
            if lw <= 0:
                continue
            if self.regions:
                for i, (mask, rw, targets) in enumerate(self.regions):
                    if rw > 0:
                        layer_weights.append(lw * rw)
                        items.append((feats[k], targets[k], self._fit(i, mask, feats[k])))
            else:
                layer_weights.append(lw)
                items.append((feats[k], self.style_targets[k], None))
        style = zero
        for lw, loss in zip(layer_weights, self.statistic.losses(items), strict=True):
            style = style + lw * loss
        return style

    def _region_style(self, feats: dict[str, torch.Tensor], zero: torch.Tensor) -> torch.Tensor:
        """The style loss of one image over its regions: per layer one item whose masks
        and targets are the regions' stacked along the batch, so each layer's statistics
        of every region come from one pass (the portrait default has two regions, and
        the loss's small operators cost as much as the network at 128 px)."""
        live = [i for i, (_, rw, _) in enumerate(self.regions) if rw > 0]
        if not live:
            return zero
        items: list[tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]] = []
        weights: list[torch.Tensor] = []
        for k in self.style_layers:
            lw = self.layer_weights[k]
            if lw <= 0:
                continue
            f = feats[k]
            if k not in self._stacked:
                targets = {name: torch.cat([self.regions[i][2][k][name] for i in live])
                           for name in self.regions[live[0]][2][k]}
                rw = torch.tensor([self.regions[i][1] for i in live], dtype=f.dtype, device=f.device)
                self._stacked[k] = targets, rw
            targets, rw = self._stacked[k]
            key = (_STACKED, f.shape[-2], f.shape[-1])
            if key not in self._fitted:
                masks = [self._fit(i, self.regions[i][0], f) for i in live]
                self._fitted[key] = torch.cat([m for m in masks if m is not None])
            items.append((f, targets, self._fitted[key]))
            weights.append(lw * rw)
        style = zero
        for w, loss in zip(weights, self.statistic.losses(items, reduce=False), strict=True):
            style = style + (w * loss).sum()
        return style

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and its unweighted terms for ``image`` (B, 3, H, W) in [0, 1]."""
        if not self.content_targets and self.content_layers:
            raise RuntimeError("Objective.set_content() must be called before the objective is evaluated")
        w = self.weights
        feats = self.backbone(self._padded(image), self.layers)
        zero = torch.zeros((), device=image.device)
        content = sum(
            (content_loss(feats[k], self.content_targets[k], self._fit(-1, self.content_weight_map, feats[k]))
             for k in self.content_layers),
            zero,
        ) / max(len(self.content_layers), 1)
        # regions stacked for one image; a batch, or a mask that learns, keeps one item per region
        stack = self.regions and image.shape[0] == 1 and not any(m.requires_grad for m, _, _ in self.regions)
        style = self._region_style(feats, zero) if stack else self._style(feats, zero)
        tv = total_variation(image)
        total = w.content * content + w.style * style + w.tv * tv
        return total, {"content": content, "style": style, "tv": tv}

"""Arbitrary style transfer in one forward pass: encoder, AdaIN, trained decoder
(Huang and Belongie 2017, "Arbitrary Style Transfer in Real-time with Adaptive
Instance Normalization").

The encoder is a backbone of the registry; AdaIN runs at several of its levels and the
decoder (:class:`~painterly.models.adain.AdaINDecoder`) fuses them. Training follows the
paper: the decoder's output, encoded again, should match the AdaIN targets (content
loss) and the style image's per-channel means and standard deviations at the style
layers (style loss).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from painterly.backbones import Backbone, create_backbone, resolve_backbone_name
from painterly.device import resolve_device
from painterly.errors import ConfigError
from painterly.events import Callback
from painterly.faces.face_pass import FacePass
from painterly.image import (
    ImageInput,
    check_original_colors,
    load_image,
    match_color_stats,
    pil_to_tensor,
    resize_long_side,
    tensor_to_pil,
)
from painterly.losses import content_loss, mean_std_loss
from painterly.methods.feedforward.bundled import resolve_model
from painterly.methods.feedforward.common import (
    MemoryCheck,
    TrainResult,
    finish_output,
    load_mask,
    load_photo,
    normalised_weights,
    pad_to_min_side,
    photo_smooth,
    sample_tiles,
)
from painterly.methods.feedforward.data import CropSampler, list_images, load_images
from painterly.methods.feedforward.decoders import new_decoder
from painterly.methods.feedforward.training import (
    Trainee,
    TrainSchedule,
    adam_step,
    check_train_numbers,
    check_training_memory,
    check_training_outputs,
    load_checkpoint,
    resumable_state,
    run_training,
    training_report,
)
from painterly.models.adain import AdaINDecoder, blend_adain, mean_std
from painterly.styles import resolve_style

__all__ = ["ADAIN_LEVELS", "AdaINStylizer", "AdaINTrainConfig", "resolve_levels", "train_adain"]

logger = logging.getLogger("painterly")

# Encoder levels where AdaIN runs, shallow to deep, per backbone.
ADAIN_LEVELS: dict[str, tuple[str, ...]] = {
    "efficientnet-lite0": ("block2", "block4", "block7"),
    "vgg19": ("relu2_1", "relu3_1", "relu4_1"),
}


@dataclass(kw_only=True)
class AdaINTrainConfig(TrainSchedule):
    backbone: str = "auto"
    weights: str | None = None
    levels: tuple[str, ...] | None = None  # default: ADAIN_LEVELS[backbone]
    style_layers: tuple[str, ...] | None = None  # default: the backbone's style layers
    content_weight: float = 1.0
    style_weight: float = 3.0
    steps: int = 3000
    lr: float = 5e-4
    checkpoint_every: int = 250

    def validate(self) -> None:
        super().validate()
        check_train_numbers(content_weight=self.content_weight, style_weight=self.style_weight)


def resolve_levels(encoder: Backbone, levels: Sequence[str] | None) -> tuple[str, ...]:
    chosen = tuple(levels) if levels else ADAIN_LEVELS.get(encoder.name)
    if not chosen:
        raise ConfigError(f"no default AdaIN levels for backbone {encoder.name}; give levels=...")
    try:
        encoder.check_layers(list(chosen))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return tuple(sorted(chosen, key=encoder.tap_names.index))


def train_adain(
    content_dir: str | os.PathLike,
    styles_dir: str | os.PathLike,
    config: AdaINTrainConfig,
    output: str | os.PathLike,
    *,
    resume: bool = False,
    half: bool = False,
    report_dir: str | os.PathLike | None = None,
    on_step: Callback | None = None,
) -> TrainResult:
    """Train an AdaIN decoder on crops of ``content_dir`` and ``styles_dir``.

    Same checkpoint, resume, ``half`` and report behaviour as
    :func:`painterly.methods.feedforward.johnson.train_transformer`.
    """
    out = Path(output)
    state = resumable_state(out, "adain", resume)
    if state is not None:
        cfg = dict(state["config"])
        for key in ("levels", "style_layers"):
            cfg[key] = tuple(cfg[key]) if cfg[key] is not None else None
        config = AdaINTrainConfig(**cfg)
    content_files = list_images(content_dir)
    style_files = list_images(styles_dir, what="style")
    report = Path(report_dir) if report_dir is not None else out.with_name(out.stem + "_report")
    check_training_outputs(out, report, [*content_files, *style_files], [content_dir, styles_dir])
    contents, skipped = load_images(content_files, max_side=config.crop_size * 4)
    styles, skipped_styles = load_images(style_files, max_side=config.crop_size * 4, what="style")
    skipped += skipped_styles
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    choice = resolve_backbone_name(config.backbone, config.weights)
    encoder = create_backbone(choice.name, weights=config.weights).to(device)
    levels = resolve_levels(encoder, config.levels)
    style_layers = tuple(config.style_layers or encoder.default_style_layers)
    try:
        encoder.check_layers(list(style_layers))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    check_training_memory(encoder, tuple(dict.fromkeys(levels + style_layers)), config.crop_size,
                          2 * config.batch_size, device)  # content and style crops both go through the encoder
    decoder, opt, arch = new_decoder(encoder, levels, device, config.lr)
    content_sampler = CropSampler(contents, config.crop_size, seed=config.seed)
    style_sampler = CropSampler(styles, config.crop_size, seed=config.seed + 1)
    all_layers = tuple(dict.fromkeys(levels + style_layers))
    sample_contents = [t.to(device) for t in sample_tiles(contents, 3)]
    sample_styles = [t.to(device) for t in sample_tiles(styles, 2)]

    def step_fn(_step: int) -> dict[str, float]:
        c = content_sampler.batch(config.batch_size).to(device)
        s = style_sampler.batch(config.batch_size).to(device)
        with torch.no_grad():
            fc = encoder(c, levels)
            fs = encoder(s, all_layers)
            targets = [blend_adain(fc[n], [mean_std(fs[n])], [1.0]) for n in levels]
            style_stats = {n: mean_std(fs[n]) for n in style_layers}
        y = decoder(targets, (c.shape[-2], c.shape[-1]))
        fy = encoder(y, all_layers)
        lc = torch.stack([content_loss(fy[n], t) for n, t in zip(levels, targets, strict=True)]).mean()
        ls = torch.stack([mean_std_loss(fy[n], *style_stats[n]) for n in style_layers]).mean()
        total = config.content_weight * lc + config.style_weight * ls
        adam_step(opt, total)
        return {"total": total.item(), "content": lc.item(), "style": ls.item()}

    def report_fn(step: int, history: list[dict[str, Any]]) -> None:
        decoder.eval()
        tiles = []
        with torch.no_grad():
            for si, st in enumerate(sample_styles):
                stats = [mean_std(f) for f in encoder(st, levels).values()]
                for ci, ct in enumerate(sample_contents):
                    fc = encoder(ct, levels)
                    t = [blend_adain(fc[n], [stats[i]], [1.0]) for i, n in enumerate(levels)]
                    y = decoder(t, (ct.shape[-2], ct.shape[-1])).clamp(0, 1)
                    tiles.append((f"step {step} c{ci} s{si}", tensor_to_pil(y)))
        decoder.train()
        training_report(history, tiles, report, step)

    logger.info("training an AdaIN decoder (%d steps) on %d content and %d style image(s) with %s (%s)",
                config.steps, len(contents), len(styles), choice.name, choice.reason)
    trainee = Trainee(
        "adain", decoder, opt, [content_sampler, style_sampler], arch=arch, config=config.to_dict(),
        backbone=choice.name,
        trained_on={"content": [str(p) for p in content_files], "styles": [str(p) for p in style_files]},
    )
    seconds, history = run_training(trainee, out, state, steps=config.steps, every=config.checkpoint_every,
                                    step_fn=step_fn, report=report_fn, on_step=on_step, half=half)
    return TrainResult(out, config.steps, seconds, history, skipped, choice.name)


class AdaINStylizer:
    """One decoder for any style. Style statistics are computed once per style image
    and size, then reused for every content image.

    >>> st = AdaINStylizer()  # bundled decoder  # doctest: +SKIP
    >>> st.stylize("photo.jpg", ["a.jpg", "b.jpg"], weights=[0.7, 0.3], alpha=0.8)  # doctest: +SKIP
    """

    kind = "adain"

    def __init__(self, model: str | os.PathLike = "adain", *, device: str | torch.device = "auto",
                 weights: str | None = None) -> None:
        self.path = resolve_model(model)
        data = load_checkpoint(self.path, self.kind)
        self.device = resolve_device(device)
        self.encoder = create_backbone(data["backbone"], weights=weights).to(self.device)
        arch = data["arch"]
        try:
            self.levels = tuple(arch["levels"])
            self.decoder = AdaINDecoder(arch["channels"], arch["strides"], arch["widths"])
            self.decoder.load_state_dict({k: v.float() for k, v in data["state_dict"].items()})
        except (TypeError, KeyError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"{self.path}: weights do not fit this painterly's AdaIN decoder "
                              f"({str(exc).splitlines()[0][:120]})") from None
        self.decoder = self.decoder.to(self.device).eval()
        for p in self.decoder.parameters():
            p.requires_grad_(False)
        self.info = {k: data.get(k) for k in ("config", "backbone", "step", "seconds", "trained_on", "arch")}
        self._stats: dict[tuple[Any, ...], list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self.check_memory = MemoryCheck(self._reconstruct, [self.encoder, self.decoder], self.device)

    @staticmethod
    def level_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What the transfer keeps of a style at one level: per-channel (mean, std)."""
        return mean_std(features)

    @staticmethod
    def transfer(
        features: torch.Tensor, styles: Sequence[tuple[torch.Tensor, torch.Tensor]], weights: Sequence[float],
        alpha: float,
    ) -> torch.Tensor:
        """Content features -> decoder targets with the (weighted) styles' statistics."""
        return blend_adain(features, styles, weights, alpha)

    def _reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Encode and decode without a style: what a forward pass costs in memory."""
        feats = self.encoder(x, self.levels)
        return self.decoder([feats[n] for n in self.levels], (x.shape[-2], x.shape[-1]))

    def style_stats(
        self, style: ImageInput, long_side: int, content: torch.Tensor | None = None
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-level (mean, std) of a style image at ``long_side``; with ``content`` the
        style is first recoloured to the content's colours (original colours, paper 7.3)."""
        if isinstance(style, str):
            style = resolve_style(style)  # built-in names work too
        cacheable = isinstance(style, (str, os.PathLike))
        key = (str(style), long_side, None if content is None else tuple(content.mean((0, 2, 3)).tolist()))
        if not cacheable or key not in self._stats:
            x = pil_to_tensor(resize_long_side(load_image(style), max(32, long_side)), self.device)
            if content is not None:
                x = match_color_stats(x, content[:1])
            with torch.inference_mode():
                feats = self.encoder(x, self.levels)
            stats = [self.level_stats(feats[n]) for n in self.levels]
            if not cacheable:
                return stats
            self._stats[key] = stats
        return self._stats[key]

    def stylize_tensor(
        self,
        x: torch.Tensor,
        styles: Sequence[list[tuple[torch.Tensor, torch.Tensor]]],
        *,
        weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        original_colors: str | None = None,
        mask: torch.Tensor | None = None,
        face_pass: FacePass | None = None,
        photo: bool = False,
    ) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] plus per-style statistics -> (B, 3, H, W) in [0, 1].
        ``mask`` (B, 1, H, W): 1 where the style goes; ``face_pass``: re-stylise small
        faces at a finer stroke scale; ``photo``: photorealistic, the output smoothed
        with the photo as guide so its edges stay (:func:`~painterly.image.smooth.guided_filter`)."""
        check_original_colors(original_colors)
        w = normalised_weights(weights, len(styles))
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"alpha must be between 0 and 1, got {alpha}")
        self.check_memory(x.shape[-2], x.shape[-1], x.shape[0])
        x = x.to(self.device)

        def forward(t: torch.Tensor) -> torch.Tensor:
            padded, (h, ww) = pad_to_min_side(t)
            with torch.inference_mode():
                feats = self.encoder(padded, self.levels)
                targets = [self.transfer(feats[n], [s[i] for s in styles], w, alpha) for i, n in enumerate(self.levels)]
                return self.decoder(targets, (padded.shape[-2], padded.shape[-1]))[..., :h, :ww].clamp(0, 1)

        y = forward(x)
        if face_pass is not None:
            y = face_pass(lambda crop, _face: forward(crop), x, y)
        if photo:
            y = photo_smooth(y, x)
        return finish_output(y, x, "luminance" if original_colors == "luminance" else None,
                             None if mask is None else mask.to(self.device))

    def stylize_batch(
        self,
        x: torch.Tensor,
        styles: Sequence[ImageInput],
        *,
        weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        style_scale: float = 1.0,
        original_colors: str | None = None,
        mask: torch.Tensor | None = None,
        face_pass: FacePass | None = None,
        photo: bool = False,
    ) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> stylised, with the style images themselves: their
        statistics are computed at ``style_scale`` x the batch's long side and cached;
        with ``original_colors="histogram"`` each style is recoloured to each photo."""
        side = round(max(x.shape[-2:]) * style_scale)
        if original_colors == "histogram":  # style recoloured to each photo: one at a time
            return torch.cat([
                self.stylize_tensor(x[i : i + 1], [self.style_stats(s, side, x[i : i + 1]) for s in styles],
                                    weights=weights, alpha=alpha, mask=None if mask is None else mask[i : i + 1],
                                    face_pass=face_pass, photo=photo)
                for i in range(x.shape[0])])
        stats = [self.style_stats(s, side) for s in styles]  # cached per style and size
        return self.stylize_tensor(x, stats, weights=weights, alpha=alpha, original_colors=original_colors,
                                   mask=mask, face_pass=face_pass, photo=photo)

    def stylize(
        self,
        content: ImageInput,
        styles: ImageInput | Sequence[ImageInput],
        *,
        weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        size: int | None = None,
        style_scale: float = 1.0,
        original_colors: str | None = None,
        mask: ImageInput | torch.Tensor | None = None,
        face_pass: bool = True,
        photo: bool = False,
    ) -> Image.Image:
        """Stylise one image with one style or a weighted mix of several.

        Args:
            alpha: content-style trade-off, 0 (the photo) to 1 (full style).
            size: resize the photo's long side first (default: as is).
            style_scale: style image long side relative to the photo's.
            original_colors: ``luminance`` or ``histogram`` (style recoloured first).
            mask: white where the style goes (image or (H, W) tensor in [0, 1]).
            face_pass: re-stylise small faces at a finer stroke scale (:class:`FacePass`).
            photo: photorealistic (edges of the photo kept); no face pass then.
        """
        check_original_colors(original_colors)
        img = load_photo(content, size, self.check_memory)
        x = pil_to_tensor(img, self.device)
        if isinstance(styles, (str, os.PathLike, Image.Image, torch.Tensor)) or not isinstance(styles, Sequence):
            styles = [styles]
        side = round(max(img.size) * style_scale)
        recolour = x if original_colors == "histogram" else None
        stats = [self.style_stats(s, side, recolour) for s in styles]
        m = load_mask(mask, img.size) if mask is not None else None
        fp = FacePass(device=self.device) if face_pass and not photo else None
        return tensor_to_pil(self.stylize_tensor(x, stats, weights=weights, alpha=alpha,
                                                 original_colors=original_colors, mask=m, face_pass=fp, photo=photo))

    def onnx_module(self) -> torch.nn.Module:
        """(image, style) -> stylised, for ONNX export; sides must be multiples of the
        deepest level's stride (16 for EfficientNet-Lite0)."""
        return _AdaINGraph(self.encoder, self.decoder, self.levels)


class _AdaINGraph(torch.nn.Module):
    def __init__(self, encoder: Backbone, decoder: AdaINDecoder, levels: tuple[str, ...]) -> None:
        super().__init__()
        self.encoder, self.decoder, self.levels = encoder, decoder, levels

    def forward(self, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        fc = self.encoder(image, self.levels)
        fs = self.encoder(style, self.levels)
        targets = [blend_adain(fc[n], [mean_std(fs[n])], [1.0]) for n in self.levels]
        return self.decoder(targets, None).clamp(0, 1)

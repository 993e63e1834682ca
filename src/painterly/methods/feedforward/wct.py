"""Universal style transfer: whitening and colouring of encoder features, then a
decoder trained for reconstruction only (Li et al. 2017, "Universal Style Transfer via
Feature Transforms").

Any style, no per-style training, no paintings in training. Departure from the paper:
instead of one decoder per level applied coarse to fine, WCT runs at the same three
encoder levels as AdaIN at once and one multi-level decoder
(:class:`~painterly.models.adain.AdaINDecoder`'s U-Net layout) maps them back to
pixels. The decoder learns to invert the encoder on photos: pixel L1 plus the encoder's
own features of the reconstruction (a perceptual term), nothing else.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from painterly.backbones import create_backbone, resolve_backbone_name
from painterly.device import resolve_device
from painterly.events import Callback
from painterly.image import tensor_to_pil
from painterly.losses import content_loss
from painterly.methods.feedforward.adain import AdaINStylizer, resolve_levels
from painterly.methods.feedforward.common import TrainResult, sample_tiles
from painterly.methods.feedforward.data import CropSampler, list_images, load_images
from painterly.methods.feedforward.decoders import new_decoder
from painterly.methods.feedforward.training import (
    Trainee,
    TrainSchedule,
    adam_step,
    check_train_numbers,
    check_training_memory,
    check_training_outputs,
    resumable_state,
    run_training,
    training_report,
)
from painterly.models.wct import blend_wct, style_colouring

__all__ = ["WCTStylizer", "WCTTrainConfig", "reconstruction_error", "train_wct"]

logger = logging.getLogger("painterly")


@dataclass(kw_only=True)
class WCTTrainConfig(TrainSchedule):
    backbone: str = "auto"
    weights: str | None = None
    levels: tuple[str, ...] | None = None  # default: ADAIN_LEVELS[backbone]
    pixel_weight: float = 1.0
    feature_weight: float = 0.1
    steps: int = 2000
    lr: float = 5e-4
    checkpoint_every: int = 250

    def validate(self) -> None:
        super().validate()
        check_train_numbers(pixel_weight=self.pixel_weight, feature_weight=self.feature_weight)


def train_wct(
    content_dir: str | os.PathLike,
    config: WCTTrainConfig,
    output: str | os.PathLike,
    *,
    resume: bool = False,
    half: bool = False,
    report_dir: str | os.PathLike | None = None,
    on_step: Callback | None = None,
) -> TrainResult:
    """Train a reconstruction decoder for WCT on random crops of the photos in
    ``content_dir`` (scale jitter and flips make thousands of distinct crops of a few
    dozen photos). Same checkpoint, resume, ``half`` and report behaviour as
    :func:`~painterly.methods.feedforward.adain.train_adain`."""
    out = Path(output)
    state = resumable_state(out, "wct", resume)
    if state is not None:
        cfg = dict(state["config"])
        cfg["levels"] = tuple(cfg["levels"]) if cfg["levels"] is not None else None
        config = WCTTrainConfig(**cfg)
    files = list_images(content_dir)
    report = Path(report_dir) if report_dir is not None else out.with_name(out.stem + "_report")
    check_training_outputs(out, report, files, [content_dir])
    photos, skipped = load_images(files, max_side=config.crop_size * 4)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    choice = resolve_backbone_name(config.backbone, config.weights)
    encoder = create_backbone(choice.name, weights=config.weights).to(device)
    levels = resolve_levels(encoder, config.levels)
    check_training_memory(encoder, levels, config.crop_size, config.batch_size, device)
    decoder, opt, arch = new_decoder(encoder, levels, device, config.lr)
    sampler = CropSampler(photos, config.crop_size, seed=config.seed)
    samples = [t.to(device) for t in sample_tiles(photos, 3)]

    def step_fn(_step: int) -> dict[str, float]:
        c = sampler.batch(config.batch_size).to(device)
        with torch.no_grad():
            fc = encoder(c, levels)
        y = decoder([fc[n] for n in levels], (c.shape[-2], c.shape[-1]))
        fy = encoder(y, levels)
        pixel = (y - c).abs().mean()
        feature = torch.stack([content_loss(fy[n], fc[n]) for n in levels]).mean()
        total = config.pixel_weight * pixel + config.feature_weight * feature
        adam_step(opt, total)
        return {"total": total.item(), "pixel": pixel.item(), "feature": feature.item()}

    def report_fn(step: int, history: list[dict[str, Any]]) -> None:
        decoder.eval()
        tiles = []
        with torch.no_grad():
            styles = [[style_colouring(f) for f in encoder(s, levels).values()] for s in samples[:2]]
            for ci, ct in enumerate(samples):
                fc = encoder(ct, levels)
                y = decoder([fc[n] for n in levels], (ct.shape[-2], ct.shape[-1])).clamp(0, 1)
                tiles.append((f"step {step} photo {ci} rebuilt", tensor_to_pil(y)))
                for si, st in enumerate(styles):
                    t = [blend_wct(fc[n], [st[i]], [1.0]) for i, n in enumerate(levels)]
                    y = decoder(t, (ct.shape[-2], ct.shape[-1])).clamp(0, 1)
                    tiles.append((f"photo {ci} in the colours of photo {si}", tensor_to_pil(y)))
        decoder.train()
        training_report(history, tiles, report, step)

    logger.info("training a WCT reconstruction decoder (%d steps) on %d photo(s) with %s (%s)",
                config.steps, len(photos), choice.name, choice.reason)
    trainee = Trainee("wct", decoder, opt, [sampler], arch=arch, config=config.to_dict(), backbone=choice.name,
                      trained_on={"content": [str(p) for p in files]})
    seconds, history = run_training(trainee, out, state, steps=config.steps, every=config.checkpoint_every,
                                    step_fn=step_fn, report=report_fn, on_step=on_step, half=half)
    return TrainResult(out, config.steps, seconds, history, skipped, choice.name)


class WCTStylizer(AdaINStylizer):
    """Any style through whitening and colouring at three encoder levels and the
    bundled reconstruction decoder. The API is :class:`AdaINStylizer`'s: style
    statistics (here the mean and colouring matrix per level) are cached per style and
    size; ``alpha``, weighted style mixes, masks, original colours, the face pass and
    ``photo`` work the same.

    >>> WCTStylizer().stylize("photo.jpg", "starry_night", alpha=0.8)  # doctest: +SKIP
    """

    kind = "wct"

    def __init__(self, model: str | os.PathLike = "wct", *, device: str | torch.device = "auto",
                 weights: str | None = None) -> None:
        super().__init__(model, device=device, weights=weights)

    @staticmethod
    def level_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return style_colouring(features)

    @staticmethod
    def transfer(
        features: torch.Tensor, styles: Sequence[tuple[torch.Tensor, torch.Tensor]], weights: Sequence[float],
        alpha: float,
    ) -> torch.Tensor:
        return blend_wct(features, styles, weights, alpha)

    def onnx_module(self) -> torch.nn.Module:
        raise NotImplementedError("WCT's eigendecompositions have no ONNX export; it runs on torch")


def reconstruction_error(stylizer: WCTStylizer, photos: Sequence[torch.Tensor]) -> float:
    """Mean absolute pixel error (0-1 scale) of encode-decode on ``photos`` ((1, 3, H, W)
    each): how well the decoder inverts the encoder."""
    errs = []
    with torch.inference_mode():
        for x in photos:
            y = stylizer._reconstruct(x.to(stylizer.device)).clamp(0, 1)
            errs.append((y - x.to(stylizer.device)).abs().mean().item())
    return sum(errs) / len(errs)

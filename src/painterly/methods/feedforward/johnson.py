"""Feed-forward style transfer with a network trained per style (Johnson et al. 2016,
"Perceptual Losses for Real-Time Style Transfer and Super-Resolution", with Ulyanov et
al.'s instance normalisation).

Training minimises the same criterion as :mod:`painterly.methods.gatys` (the
:class:`~painterly.losses.Objective` of a
:class:`~painterly.methods.criterion.StyleCriterion`, with a batch of random crops set
as its content each step). Inference is one forward
pass.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from painterly.device import resolve_device
from painterly.errors import ConfigError
from painterly.events import Callback
from painterly.faces.face_pass import FacePass
from painterly.image import (
    ImageInput,
    check_original_colors,
    pil_to_tensor,
    tensor_to_pil,
)
from painterly.methods.config import GatysConfig
from painterly.methods.criterion import StyleCriterion
from painterly.methods.feedforward.bundled import resolve_model
from painterly.methods.feedforward.common import (
    MemoryCheck,
    TrainResult,
    finish_output,
    load_mask,
    load_photo,
    pad_to_min_side,
    sample_tiles,
)
from painterly.methods.feedforward.data import CropSampler, face_weight_masks, list_images, load_images
from painterly.methods.feedforward.onnx_runtime import OnnxStylizer
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
from painterly.models.transformer_net import TransformerNet, TransformerNetConfig
from painterly.styles import resolve_style

__all__ = ["FastStylizer", "FastTrainConfig", "train_transformer"]

logger = logging.getLogger("painterly")


@dataclass(kw_only=True)
class FastTrainConfig(TrainSchedule):
    """Training of one per-style network. The loss terms and their defaults are the
    Gatys engine's (:class:`GatysConfig`), so a trained network and an optimised image
    aim at the same result."""

    styles: tuple[str, ...] = ()
    style_blend: tuple[float, ...] | None = None
    backbone: str = "auto"
    weights: str | None = None
    statistic: str = "wasserstein"
    layer_weights: str | tuple[float, ...] = "balanced"
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 3.0
    face_weight: float = 1.0  # content weight multiplier on faces found in the training images (1 = off)
    style_size: int = 384  # long side of the style image relative to crop_size=256 crops
    width: int = 16
    downsamples: int = 3
    res_blocks: int = 3

    def validate(self) -> None:
        super().validate()
        check_train_numbers(content_weight=self.content_weight, style_weight=self.style_weight,
                            tv_weight=self.tv_weight, face_weight=self.face_weight, style_size=self.style_size)
        self.gatys()  # statistic, layer weights, style weights

    def gatys(self) -> GatysConfig:
        """The Gatys configuration whose objective this training minimises."""
        return GatysConfig(
            size=self.style_size, style_blend=self.style_blend, backbone=self.backbone, weights=self.weights,
            statistic=self.statistic, layer_weights=self.layer_weights, content_weight=self.content_weight,
            style_weight=self.style_weight, tv_weight=self.tv_weight, device=self.device,
        )

    def net_config(self) -> TransformerNetConfig:
        return TransformerNetConfig(width=self.width, downsamples=self.downsamples, res_blocks=self.res_blocks)


def train_transformer(
    content_dir: str | os.PathLike,
    config: FastTrainConfig,
    output: str | os.PathLike,
    *,
    resume: bool = False,
    half: bool = False,
    report_dir: str | os.PathLike | None = None,
    on_step: Callback | None = None,
) -> TrainResult:
    """Train a :class:`TransformerNet` for ``config.styles`` on crops of ``content_dir``.

    Writes ``output`` (a resumable checkpoint) every ``checkpoint_every`` steps and at
    the end; with ``half`` the final file holds fp16 weights only (for shipping). With
    ``resume`` an existing ``output`` continues from its step (its configuration wins).
    Samples and a loss curve go to ``report_dir`` (default: ``OUTPUT_report/``).
    """
    out = Path(output)
    state = resumable_state(out, "transformer", resume)
    if state is not None:
        config = FastTrainConfig(**{**state["config"], "styles": tuple(state["config"]["styles"])})
    if not config.styles:
        raise ConfigError("at least one style image is needed (styles)")
    files = list_images(content_dir)
    report = Path(report_dir) if report_dir is not None else out.with_name(out.stem + "_report")
    check_training_outputs(out, report, [*files, *(resolve_style(st) for st in config.styles)], [content_dir])
    images, skipped = load_images(files, max_side=config.crop_size * 4)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    perceptual = StyleCriterion([resolve_style(s) for s in config.styles], config.gatys())
    criterion = perceptual.criterion(config.style_size, pad=False)  # the Gatys objective; content set per batch
    check_training_memory(perceptual.backbone, criterion.layers, config.crop_size, config.batch_size, device)
    net = TransformerNet(config.net_config()).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    masks = None
    if config.face_weight != 1.0:
        masks, n_faces = face_weight_masks(images)
        logger.info("face-weighted content loss (x%g) on %d face(s) in the training images", config.face_weight,
                    n_faces)
    sampler = CropSampler(images, config.crop_size, seed=config.seed, masks=masks)
    samples = [t.to(device) for t in sample_tiles(images)]

    def step_fn(_step: int) -> dict[str, float]:
        x = sampler.batch(config.batch_size).to(device)
        weight = None
        if x.shape[1] == 4:  # face masks: content weight 1 + (face_weight - 1) * mask
            x, weight = x[:, :3], 1 + (config.face_weight - 1) * x[:, 3:]
        criterion.set_content(x, weight)
        total, terms = criterion(net(x))
        adam_step(opt, total)
        return {"total": total.item(), **{k: v.item() for k, v in terms.items()}}

    def report_fn(step: int, history: list[dict[str, Any]]) -> None:
        net.eval()
        with torch.no_grad():
            tiles = [(f"step {step}", tensor_to_pil(net(t).clamp(0, 1))) for t in samples]
        net.train()
        training_report(history, tiles, report, step)

    logger.info(
        "training a %d-step style network on %d content image(s) with %s (%s)",
        config.steps, len(images), perceptual.choice.name, perceptual.choice.reason,
    )
    trainee = Trainee(
        "transformer", net, opt, [sampler], arch=config.net_config().to_dict(), config=config.to_dict(),
        backbone=perceptual.choice.name,
        trained_on={"content": [str(p) for p in files if p not in {s for s, _ in skipped}],
                    "styles": [str(s) for s in config.styles]},
    )
    seconds, history = run_training(trainee, out, state, steps=config.steps, every=config.checkpoint_every,
                                    step_fn=step_fn, report=report_fn, on_step=on_step, half=half)
    return TrainResult(out, config.steps, seconds, history, skipped, perceptual.choice.name)


class FastStylizer:
    """A trained per-style network, ready to stylise many images. ``onnx``: the same
    network's ONNX copy (:func:`~painterly.methods.feedforward.onnx_runtime.onnx_model_for`),
    run on onnxruntime on the CPU; masks, original colours and the face pass stay as they are.

    >>> st = FastStylizer("starry_night")  # doctest: +SKIP
    >>> st.stylize("photo.jpg").save("out.png")  # doctest: +SKIP
    """

    kind = "transformer"  # the checkpoint kind: a Johnson et al. image transformation network

    def __init__(
        self, model: str | os.PathLike = "starry_night", *, device: str | torch.device = "auto",
        onnx: str | os.PathLike | None = None,
    ) -> None:
        self.path = resolve_model(model)
        data = load_checkpoint(self.path, self.kind)
        try:
            self.net = TransformerNet(TransformerNetConfig(**data["arch"]))
            self.net.load_state_dict({k: v.float() for k, v in data["state_dict"].items()})
        except (TypeError, KeyError, RuntimeError) as exc:
            raise ConfigError(f"{self.path}: weights do not fit this painterly's TransformerNet "
                              f"({str(exc).splitlines()[0][:120]})") from None
        self.device = resolve_device(device)
        self.net = self.net.to(self.device).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.info = {k: data.get(k) for k in ("config", "backbone", "step", "seconds", "trained_on", "arch")}
        self.check_memory = MemoryCheck(self._torch_forward, [self.net], self.device)
        self.onnx: OnnxStylizer | None = None
        if onnx is not None:  # the same network on onnxruntime (2x faster on a small CPU); torch does the rest
            if self.device.type != "cpu":
                raise ConfigError(f"the ONNX network runs on the CPU, not {self.device}")
            self.onnx = OnnxStylizer(onnx)

    @property
    def name(self) -> str:
        return self.path.stem

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.onnx is not None:
            return torch.from_numpy(self.onnx.stylize_array(x.detach().cpu().numpy()))
        return self._torch_forward(x)

    def _torch_forward(self, x: torch.Tensor) -> torch.Tensor:
        padded, (h, w) = pad_to_min_side(x)
        with torch.inference_mode():
            return self.net(padded)[..., :h, :w].clamp(0, 1)

    def stylize_tensor(
        self,
        x: torch.Tensor,
        *,
        original_colors: str | None = None,
        mask: torch.Tensor | None = None,
        face_pass: FacePass | None = None,
    ) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 3, H, W) in [0, 1]. ``mask`` (B, 1, H, W): 1 where
        the style goes; ``face_pass``: re-stylise small faces at a finer stroke scale."""
        check_original_colors(original_colors)
        self.check_memory(x.shape[-2], x.shape[-1], x.shape[0])
        x = x.to(self.device)
        y = self._forward(x)
        if face_pass is not None:
            y = face_pass(lambda crop, _face: self._forward(crop), x, y)
        return finish_output(y, x, original_colors, None if mask is None else mask.to(self.device))

    def stylize(
        self,
        content: ImageInput,
        *,
        size: int | None = None,
        original_colors: str | None = None,
        mask: ImageInput | torch.Tensor | None = None,
        face_pass: bool = True,
    ) -> Image.Image:
        """Stylise one image; ``size`` resizes its long side first (default: as is).
        ``face_pass`` (default on) keeps small faces recognisable (:class:`FacePass`)."""
        img = load_photo(content, size, self.check_memory)
        x = pil_to_tensor(img)
        m = load_mask(mask, img.size) if mask is not None else None
        fp = FacePass(device=self.device) if face_pass else None
        return tensor_to_pil(self.stylize_tensor(x, original_colors=original_colors, mask=m, face_pass=fp))

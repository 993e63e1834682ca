"""Feed-forward style transfer with a network trained per style (Johnson et al. 2016,
"Perceptual Losses for Real-Time Style Transfer and Super-Resolution", with Ulyanov et
al.'s instance normalisation).

Training minimises the same objective as :mod:`painterly.methods.gatys` (normalised
content, style and total-variation terms from any backbone of the registry), averaged
over random crops of a content folder; the style targets come from the same
:class:`~painterly.methods.gatys.Stylizer`. Inference is one forward pass.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from painterly.device import resolve_device
from painterly.errors import ConfigError
from painterly.image import load_image, pil_to_tensor, resize_long_side, tensor_to_pil
from painterly.image.color import original_colors as _apply_original_colors
from painterly.image.io import ImageInput
from painterly.losses import content_loss, total_variation
from painterly.methods.config import ORIGINAL_COLORS, GatysConfig
from painterly.methods.training import (
    CropSampler,
    TrainEvent,
    TrainSchedule,
    check_train_numbers,
    checkpoint_payload,
    face_weight_masks,
    list_images,
    load_checkpoint,
    load_images,
    restore_rng_state,
    resumable_state,
    save_checkpoint,
    train_loop,
    training_report,
)
from painterly.models.transformer_net import TransformerNet, TransformerNetConfig

__all__ = [
    "FacePass",
    "FastStylizer",
    "FastTrainConfig",
    "TrainResult",
    "export_onnx",
    "list_fast_models",
    "resolve_model",
    "train_transformer",
]

logger = logging.getLogger("painterly")

_MODELS_DIR = Path(__file__).resolve().parent.parent / "fast_models"
_MIN_SIDE = 32  # smaller inputs are padded: instance norm needs > 1 position at 1/8


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


@dataclass
class TrainResult:
    path: Path
    steps: int
    seconds: float
    history: list[dict[str, Any]]
    skipped: list[tuple[Path, str]]
    backbone: str


def _sample_tiles(images: Sequence[Image.Image], n: int = 4, side: int = 256) -> list[torch.Tensor]:
    return [pil_to_tensor(resize_long_side(img, side)) for img in images[:n]]


def train_transformer(
    content_dir: str | os.PathLike,
    config: FastTrainConfig,
    output: str | os.PathLike,
    *,
    resume: bool = False,
    half: bool = False,
    report_dir: str | os.PathLike | None = None,
    on_step: Callable[[TrainEvent], None] | None = None,
) -> TrainResult:
    """Train a :class:`TransformerNet` for ``config.styles`` on crops of ``content_dir``.

    Writes ``output`` (a resumable checkpoint) every ``checkpoint_every`` steps and at
    the end; with ``half`` the final file holds fp16 weights only (for shipping). With
    ``resume`` an existing ``output`` continues from its step (its configuration wins).
    Samples and a loss curve go to ``report_dir`` (default: ``OUTPUT_report/``).
    """
    from painterly.methods.gatys import Stylizer
    from painterly.styles import resolve_style

    out = Path(output)
    state = resumable_state(out, "transformer", resume)
    if state is not None:
        config = FastTrainConfig(**{**state["config"], "styles": tuple(state["config"]["styles"])})
    if not config.styles:
        raise ConfigError("at least one style image is needed (--style)")
    files = list_images(content_dir)
    images, skipped = load_images(files, max_side=config.crop_size * 4)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    stylizer = Stylizer([resolve_style(s) for s in config.styles], config.gatys())
    backbone = stylizer.backbone
    targets = stylizer.style_targets(config.style_size)
    net = TransformerNet(config.net_config()).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    masks = None
    if config.face_weight != 1.0:
        masks, n_faces = face_weight_masks(images)
        logger.info("face-weighted content loss (x%g) on %d face(s) in the training images", config.face_weight,
                    n_faces)
    sampler = CropSampler(images, config.crop_size, seed=config.seed, masks=masks)
    history: list[dict[str, Any]] = []
    start, elapsed0 = 0, 0.0
    if state is not None:
        net.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        sampler.set_state(restore_rng_state(state["sampler"]))
        torch.set_rng_state(state["torch_rng"])
        history, start, elapsed0 = state["history"], state["step"], state["seconds"]
    layers = tuple(dict.fromkeys(stylizer.content_layers + stylizer.style_layers))
    samples = [t.to(device) for t in _sample_tiles(images)]
    report = Path(report_dir) if report_dir is not None else out.with_name(out.stem + "_report")

    def step_fn(_step: int) -> dict[str, float]:
        x = sampler.batch(config.batch_size).to(device)
        weight = None
        if x.shape[1] == 4:  # face masks: content weight 1 + (face_weight - 1) * mask
            x, weight = x[:, :3], 1 + (config.face_weight - 1) * x[:, 3:]
        with torch.no_grad():
            content_feats = backbone(x, stylizer.content_layers)
        y = net(x)
        feats = backbone(y, layers)
        c = torch.stack([content_loss(feats[n], content_feats[n], weight) for n in stylizer.content_layers]).mean()
        used = [(n, w) for n, w in zip(stylizer.style_layers, stylizer.layer_weights, strict=True) if w > 0]
        style_losses = stylizer.statistic.losses([(feats[n], targets[n], None) for n, _ in used])
        s = torch.stack([w * loss for (_, w), loss in zip(used, style_losses, strict=True)]).sum()
        tv = total_variation(y)
        total = config.content_weight * c + config.style_weight * s + config.tv_weight * tv
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        return {"total": total.item(), "content": c.item(), "style": s.item(), "tv": tv.item()}

    def payload(step: int, seconds: float, final_half: bool = False) -> dict[str, Any]:
        return checkpoint_payload(
            "transformer", net, arch=config.net_config().to_dict(), config=config.to_dict(),
            backbone=stylizer.choice.name, step=step, seconds=seconds, history=history,
            trained_on={"content": [str(p) for p in files if p not in {s for s, _ in skipped}],
                        "styles": [str(s) for s in config.styles]},
            resume_state=None if final_half else lambda: {
                "optimizer": opt.state_dict(), "sampler": sampler.state(), "torch_rng": torch.get_rng_state()},
        )

    t0 = time.perf_counter() - elapsed0

    def save(step: int) -> None:
        save_checkpoint(out, payload(step, time.perf_counter() - t0))

    def report_fn(step: int) -> None:
        net.eval()
        with torch.no_grad():
            tiles = [(f"step {step}", tensor_to_pil(net(t).clamp(0, 1))) for t in samples]
        net.train()
        training_report(history, tiles, report, step)

    logger.info(
        "training a %d-step style network on %d content image(s) with %s (%s)",
        config.steps, len(images), stylizer.choice.name, stylizer.choice.reason,
    )
    seconds = train_loop(start, config.steps, step_fn, history=history, every=config.checkpoint_every,
                         save=save, report=report_fn, on_step=on_step, elapsed0=elapsed0)
    if half:
        save_checkpoint(out, payload(config.steps, seconds, final_half=True))
    return TrainResult(out, config.steps, seconds, history, skipped, stylizer.choice.name)


# -- inference -------------------------------------------------------------------------

def list_fast_models() -> dict[str, Path]:
    """Models shipped in the package: name -> file."""
    return {p.stem: p for p in sorted(_MODELS_DIR.glob("*.pt"))}


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """A bundled model's name (``starry_night``) becomes its file; paths pass through."""
    p = Path(name_or_path)
    if not p.exists() and str(name_or_path) in list_fast_models():
        return list_fast_models()[str(name_or_path)]
    if not p.exists():
        names = ", ".join(list_fast_models()) or "none"
        raise ConfigError(f"{p}: no such model file (bundled models: {names})")
    return p


def prepare_input(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad images smaller than 32 px (replicate) so every H x W works; returns the
    padded batch and the size to crop back to."""
    h, w = x.shape[-2:]
    ph, pw = max(0, _MIN_SIDE - h), max(0, _MIN_SIDE - w)
    if ph or pw:
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


class FacePass:
    """Portraits: re-stylise each face that is smaller than ``target`` pixels wide on a
    crop upscaled to that width (at most ``max_zoom``), scale the result back and blend
    it in through the feathered landmark mask.

    A feed-forward network paints strokes of a fixed size in pixels, which smear a
    100 px face beyond recognition; on the upscaled crop the strokes are finer relative
    to the face. On the held-out faces of ``benchmarks/fast.py`` this cut the worst
    dlib identity distance from 0.67 to 0.59 at the same style distance.
    """

    def __init__(self, target: int = 224, max_zoom: float = 4.0, *, device: str | torch.device = "cpu") -> None:
        if target < 32 or max_zoom < 1:
            raise ConfigError(f"face pass needs target >= 32 px and max_zoom >= 1, got {target}, {max_zoom}")
        self.target, self.max_zoom, self.device = target, max_zoom, device
        self._detector: Any = None
        self.faces_seen = 0

    def detect(self, x: torch.Tensor) -> list[Any]:
        """Faces in one image (1, 3, H, W)."""
        if self._detector is None:
            from painterly.faces.detect import _cached_detector

            # one MTCNN per process and device (as faces.detect uses), not one per image or request
            self._detector = _cached_detector(20.0, str(self.device))
        return list(self._detector(tensor_to_pil(x)))

    def __call__(
        self, stylize: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor
    ) -> torch.Tensor:
        """``x`` the photos, ``y`` their stylised versions (B, 3, H, W); ``stylize`` maps
        (1, 3, h, w) crops to stylised crops. Returns the blended batch."""
        from painterly.faces.masks import face_mask

        out = y.clone()
        height, width = x.shape[-2:]
        for i in range(x.shape[0]):
            for face in self.detect(x[i : i + 1]):
                zoom = min(self.max_zoom, self.target / max(face.width, 1.0))
                if zoom <= 1.05:
                    continue
                x0, y0, x1, y1 = face.box
                half = 0.9 * max(x1 - x0, y1 - y0)  # the crop holds forehead to chin with a margin
                cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
                left, top = max(0, int(cx - half)), max(0, int(cy - half))
                right, bottom = min(width, int(cx + half) + 1), min(height, int(cy + half) + 1)
                if right - left < 8 or bottom - top < 8:
                    continue
                crop = x[i : i + 1, :, top:bottom, left:right]
                big = F.interpolate(crop, scale_factor=zoom, mode="bicubic", align_corners=False).clamp(0, 1)
                small = F.interpolate(stylize(big), size=crop.shape[-2:], mode="area")
                m = face_mask([face.moved(dx=-left, dy=-top)], bottom - top, right - left, device=x.device)
                region = out[i : i + 1, :, top:bottom, left:right]
                out[i : i + 1, :, top:bottom, left:right] = m * small + (1 - m) * region
                self.faces_seen += 1
        return out


def finish_output(
    y: torch.Tensor, content: torch.Tensor, original_colors: str | None, mask: torch.Tensor | None
) -> torch.Tensor:
    """Clamp, then the user's controls: original colours and a region mask
    ((B, 1, H, W) in [0, 1]; 1 = stylised, 0 = the photo)."""
    y = y.clamp(0, 1)
    if original_colors is not None:
        y = _apply_original_colors(y, content, original_colors)
    if mask is not None:
        y = mask * y + (1 - mask) * content
    return y


def check_original_colors(mode: str | None) -> None:
    if mode not in (None, *ORIGINAL_COLORS):
        raise ConfigError(f"unknown original-colors mode {mode!r}; choose from {', '.join(ORIGINAL_COLORS)}")


class FastStylizer:
    """A trained per-style network, ready to stylise many images.

    >>> st = FastStylizer("starry_night")  # doctest: +SKIP
    >>> st.stylize("photo.jpg").save("out.png")  # doctest: +SKIP
    """

    kind = "transformer"

    def __init__(self, model: str | os.PathLike = "starry_night", *, device: str | torch.device = "auto") -> None:
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

    @property
    def name(self) -> str:
        return self.path.stem

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        padded, (h, w) = prepare_input(x)
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
        x = x.to(self.device)
        y = self._forward(x)
        if face_pass is not None:
            y = face_pass(self._forward, x, y)
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
        img = load_image(content)
        if size is not None:
            img = resize_long_side(img, size)
        x = pil_to_tensor(img)
        m = load_mask(mask, img.size) if mask is not None else None
        fp = FacePass(device=self.device) if face_pass else None
        return tensor_to_pil(self.stylize_tensor(x, original_colors=original_colors, mask=m, face_pass=fp))


def load_mask(mask: ImageInput | torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A mask image (white = stylise) or tensor -> (1, 1, H, W) in [0, 1] at ``size`` (W, H)."""
    if isinstance(mask, torch.Tensor):
        m = mask.float()
        while m.dim() < 4:
            m = m.unsqueeze(0)
        return torch.nn.functional.interpolate(m[:, :1], size=(size[1], size[0]), mode="bilinear")
    img = load_image(mask, name=None).convert("L").resize(size, Image.Resampling.BILINEAR)
    return pil_to_tensor(img.convert("RGB"))[:, :1]


def export_onnx(model: str | os.PathLike | torch.nn.Module, output: str | os.PathLike, *, opset: int = 17) -> Path:
    """Export a trained network to ONNX with dynamic batch, height and width.

    The graph takes ``image`` (B, 3, H, W) float32 in [0, 1] (H, W >= 32) and returns
    ``stylized`` in [0, 1]. AdaIN models export their decoder with the encoder:
    inputs ``image`` and ``style`` (both RGB), output ``stylized``.
    """
    out = Path(output)
    if out.suffix.lower() != ".onnx":
        raise ConfigError(f"{out}: ONNX files end in .onnx")
    module: torch.nn.Module
    example: tuple[torch.Tensor, ...] = (torch.rand(1, 3, 64, 64),)
    names = ["image"]
    if isinstance(model, torch.nn.Module):
        module = _OnnxWrapper(model)
    elif load_checkpoint(resolve_model(model)).get("kind") == "adain":
        from painterly.methods.adain import AdaINStylizer

        module = AdaINStylizer(resolve_model(model), device="cpu").onnx_module()
        example, names = (torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)), ["image", "style"]
    else:
        module = _OnnxWrapper(FastStylizer(resolve_model(model), device="cpu").net)
    module.eval()
    axes = {n: {0: "batch", 2: f"{n}_height", 3: f"{n}_width"} for n in names}
    axes["stylized"] = {0: "batch", 2: "height", 3: "width"}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with torch.no_grad():
            torch.onnx.export(module, example, str(tmp), input_names=names, output_names=["stylized"],
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


class _OnnxWrapper(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image).clamp(0, 1)

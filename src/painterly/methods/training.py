"""What the two feed-forward trainers (``fast`` and ``adain``) share: image folders,
random crops, checkpoints, progress, samples and loss curves.

Checkpoints are plain ``torch.save`` dictionaries with a format tag and version, the
network's architecture, the resolved training configuration and, while training, the
optimiser state, so a run resumes where it stopped and a file from another version or
architecture is refused with a clear message.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from painterly.errors import ConfigError, ImageError, NonFiniteLossError
from painterly.image import load_image, pil_to_tensor

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "IMAGE_EXTENSIONS",
    "CropSampler",
    "TrainEvent",
    "TrainSchedule",
    "check_schedule",
    "check_train_numbers",
    "checkpoint_payload",
    "face_weight_masks",
    "list_images",
    "load_checkpoint",
    "load_images",
    "restore_rng_state",
    "resumable_state",
    "save_checkpoint",
    "train_loop",
    "training_report",
]

logger = logging.getLogger("painterly")

CHECKPOINT_FORMAT = "painterly-fast"
CHECKPOINT_VERSION = 1
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


@dataclass(kw_only=True)
class TrainSchedule:
    """What every trainer shares: steps, batches of random crops, Adam, checkpoints."""

    steps: int = 2000
    batch_size: int = 4
    crop_size: int = 256
    lr: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 200
    device: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_train_numbers(steps=self.steps, batch_size=self.batch_size, crop_size=self.crop_size, lr=self.lr)
        check_schedule(self.crop_size, self.checkpoint_every)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainEvent:
    """One training step, as seen by the progress bar and reports."""

    step: int  # 1-based
    total_steps: int
    losses: dict[str, float]
    elapsed: float
    history: list[dict[str, Any]] = field(repr=False, default_factory=list)


def list_images(folder: str | os.PathLike, *, what: str = "content") -> list[Path]:
    """Image files in ``folder`` (recursively, sorted). One-line errors for a missing
    folder, a file, or a folder without images."""
    root = Path(folder)
    if not root.exists():
        raise ImageError(f"{root}: no such {what} folder")
    if not root.is_dir():
        raise ImageError(f"{root}: expected a folder of {what} images, got a file")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ImageError(f"{root}: no images in this {what} folder (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    return files


def load_images(
    paths: Sequence[Path], *, max_side: int | None = None, what: str = "content"
) -> tuple[list[Image.Image], list[tuple[Path, str]]]:
    """Load what can be loaded; the rest comes back as (path, reason) and is logged.
    Raises :class:`ImageError` when nothing loads."""
    images: list[Image.Image] = []
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        try:
            img = load_image(path)
        except ImageError as exc:
            skipped.append((path, str(exc)))
            logger.info("skipped %s", exc)
            continue
        if max_side is not None and max(img.size) > max_side:
            img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        images.append(img)
    if not images:
        raise ImageError(f"none of the {len(paths)} {what} image(s) could be read")
    return images, skipped


def check_schedule(crop_size: int, checkpoint_every: int) -> None:
    if crop_size < 32:
        raise ConfigError(f"crop-size must be at least 32 pixels, got {crop_size}")
    if checkpoint_every < 1:
        raise ConfigError(f"checkpoint-every must be >= 1, got {checkpoint_every}")


def checkpoint_payload(
    kind: str,
    module: torch.nn.Module,
    *,
    arch: dict[str, Any],
    config: dict[str, Any],
    backbone: str,
    step: int,
    seconds: float,
    trained_on: dict[str, list[str]],
    history: list[dict[str, Any]],
    resume_state: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What a checkpoint holds. With ``resume_state`` (optimiser, sampler and RNG
    states) it can be resumed; without, the weights are stored as fp16 for shipping."""
    from painterly import __version__

    half = resume_state is None
    sd = {k: (v.half() if half and v.is_floating_point() else v).cpu() for k, v in module.state_dict().items()}
    data: dict[str, Any] = {
        "kind": kind, "arch": arch, "state_dict": sd, "config": config, "backbone": backbone, "step": step,
        "seconds": round(seconds, 1), "trained_on": trained_on, "painterly_version": __version__,
    }
    if resume_state is None:
        data["history"] = history[:: max(1, len(history) // 200)]
    else:
        data.update(resume_state(), history=history)
    return data


def restore_rng_state(state: Any) -> Any:
    """random.Random state after a round trip through torch.save (lists -> tuples)."""
    if isinstance(state, list):
        return tuple(restore_rng_state(s) for s in state)
    return state


def check_train_numbers(**values: float) -> None:
    """Weights >= 0 and finite; counts and sizes > 0."""
    for name, value in values.items():
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{name} must be a finite number >= 0, got {value}")
        if name in ("steps", "batch_size", "crop_size", "lr", "style_size") and value <= 0:
            raise ConfigError(f"{name} must be > 0, got {value}")


class CropSampler:
    """Random square crops for training: each image is rescaled so its short side is
    between ``crop`` and ``crop * max_zoom`` (new strokes scale per step), cropped at a
    random place and flipped left-right half of the time. Images smaller than the crop
    are upscaled first."""

    def __init__(
        self,
        images: Sequence[Image.Image],
        crop: int,
        *,
        max_zoom: float = 2.0,
        seed: int = 0,
        masks: Sequence[torch.Tensor] | None = None,
    ) -> None:
        # a mask (1, 1, H, W) per image rides along as a 4th channel: same crop, scale, flip
        self.tensors = [pil_to_tensor(img) for img in images]
        if masks is not None:
            self.tensors = [torch.cat([t, m.to(t)], 1) for t, m in zip(self.tensors, masks, strict=True)]
        self.crop = crop
        self.max_zoom = max_zoom
        self.rng = random.Random(seed)

    def one(self) -> torch.Tensor:
        x = self.tensors[self.rng.randrange(len(self.tensors))]
        h, w = x.shape[-2:]
        short = self.rng.uniform(self.crop, self.crop * self.max_zoom)
        short = min(short, max(self.crop, min(h, w)))  # never upscale past the original, unless it is too small
        scale = short / min(h, w)
        size = (max(self.crop, round(h * scale)), max(self.crop, round(w * scale)))
        if size != (h, w):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)
        top = self.rng.randrange(size[0] - self.crop + 1)
        left = self.rng.randrange(size[1] - self.crop + 1)
        x = x[..., top : top + self.crop, left : left + self.crop]
        if self.rng.random() < 0.5:
            x = x.flip(-1)
        return x.clamp(0, 1)

    def batch(self, n: int) -> torch.Tensor:
        """(n, 3, crop, crop), or (n, 4, crop, crop) with the masks as the 4th channel."""
        return torch.cat([self.one() for _ in range(n)])

    def state(self) -> Any:
        return self.rng.getstate()

    def set_state(self, state: Any) -> None:
        self.rng.setstate(state)


def face_weight_masks(images: Sequence[Image.Image], *, device: str = "cpu") -> tuple[list[torch.Tensor], int]:
    """Soft face masks (1, 1, H, W) for each image (MTCNN + landmark ellipses), and the
    number of faces found: where they are 1, training weights the content loss up."""
    from painterly.faces import FaceDetector
    from painterly.faces.masks import face_mask

    detector = FaceDetector(device=device)
    masks, count = [], 0
    for img in images:
        faces = detector(img)
        count += len(faces)
        masks.append(face_mask(faces, img.height, img.width))
    return masks, count


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write a checkpoint atomically (temporary file + rename)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        torch.save(data, tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> dict[str, Any]:
    """Load a painterly checkpoint; one-line errors for anything else.

    Args:
        kind: ``"transformer"`` or ``"adain"`` to insist on one architecture.
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such model file")
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, expected a model file (.pt)")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors of all kinds: not our file
        raise ConfigError(f"{p}: not a painterly model file ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{p}: not a painterly model file (no '{CHECKPOINT_FORMAT}' tag)")
    if data.get("version") != CHECKPOINT_VERSION:
        raise ConfigError(
            f"{p}: model file format version {data.get('version')} is not supported by this painterly "
            f"(reads version {CHECKPOINT_VERSION}); retrain it or use the painterly that wrote it"
        )
    if kind is not None and data.get("kind") != kind:
        raise ConfigError(f"{p}: is a {data.get('kind')!r} model, expected {kind!r}")
    return data


def resumable_state(path: Path, kind: str, resume: bool) -> dict[str, Any] | None:
    """The checkpoint to continue from, when ``resume`` and ``path`` exists."""
    if not (resume and path.exists()):
        return None
    state = load_checkpoint(path, kind)
    if "optimizer" not in state:
        raise ConfigError(f"{path}: holds final fp16 weights only and cannot be resumed; train a new one")
    logger.info("resuming %s at step %d of %d", path, state["step"], state["config"]["steps"])
    return state


def training_report(
    history: Sequence[dict[str, Any]], samples: Sequence[tuple[str, Image.Image]], folder: Path, step: int
) -> None:
    """Write ``folder/samples_STEP.png`` (contact sheet) and ``folder/loss.png``."""
    from painterly.report import contact_sheet, loss_curve

    folder.mkdir(parents=True, exist_ok=True)
    if samples:
        contact_sheet(samples, folder / f"samples_{step:06d}.png", height=192)
    if history:
        loss_curve(history, folder / "loss.png", xlabel="training step (batch of random crops)",
                   title="painterly train: loss per step (terms unweighted; total weighted)")


def train_loop(
    start: int,
    total: int,
    step_fn: Callable[[int], dict[str, float]],
    *,
    history: list[dict[str, Any]],
    every: int,
    save: Callable[[int], None],
    report: Callable[[int], None],
    on_step: Callable[[TrainEvent], None] | None = None,
    elapsed0: float = 0.0,
) -> float:
    """Run ``step_fn`` for steps ``start + 1 .. total`` with a progress bar (ETA).

    Every ``every`` steps and at the end: ``save(step)`` (the resumable checkpoint) and
    ``report(step)`` (samples, loss curve). Ctrl-C saves the last finished step before
    the ``KeyboardInterrupt`` goes on; a non-finite loss raises
    :class:`NonFiniteLossError` and leaves the last checkpoint as it was.
    Returns the training seconds (including ``elapsed0`` from earlier runs).
    """
    from tqdm import tqdm

    t0 = time.perf_counter() - elapsed0
    done = start
    bar = tqdm(total=total, initial=start, desc="training", unit="step", dynamic_ncols=True, mininterval=0.5)
    try:
        for step in range(start + 1, total + 1):
            terms = step_fn(step)
            if not all(math.isfinite(v) for v in terms.values()):
                raise NonFiniteLossError(f"training loss became non-finite at step {step} ({terms}); "
                                         "lower --lr or the loss weights")
            done = step
            elapsed = time.perf_counter() - t0
            history.append({"step": step, "scale": 0, "size": (0, 0), "elapsed": round(elapsed, 3), **terms})
            bar.set_postfix(loss=f"{terms['total']:.4g}", refresh=False)
            bar.update(1)
            if on_step is not None:
                on_step(TrainEvent(step, total, terms, elapsed, history))
            if step % every == 0 or step == total:
                save(step)
                report(step)
    except KeyboardInterrupt:
        if done > start:
            save(done)
        raise
    finally:
        bar.close()
    return time.perf_counter() - t0

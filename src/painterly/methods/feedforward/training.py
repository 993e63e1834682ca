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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from painterly.errors import ConfigError, NonFiniteLossError
from painterly.events import Callback, TrainEvent, notify
from painterly.files import atomic_path, check_not_input, check_output_path
from painterly.report import contact_sheet, loss_curve

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "TrainSchedule",
    "adam_step",
    "check_schedule",
    "check_train_numbers",
    "check_training_memory",
    "check_training_outputs",
    "checkpoint_payload",
    "load_checkpoint",
    "restore_rng_state",
    "resumable_state",
    "run_training",
    "save_checkpoint",
    "train_loop",
    "training_report",
]

logger = logging.getLogger("painterly")

CHECKPOINT_FORMAT = "painterly-fast"
CHECKPOINT_VERSION = 1


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

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_train_numbers(steps=self.steps, batch_size=self.batch_size, crop_size=self.crop_size, lr=self.lr)
        check_schedule(self.crop_size, self.checkpoint_every)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
    from painterly.version import __version__

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


def check_training_outputs(
    output: Path, report: Path, inputs: Sequence[str | os.PathLike], folders: Sequence[str | os.PathLike]
) -> None:
    """A training run writes neither over one of its inputs nor inside an input folder
    (where the next run would read its checkpoint or sample sheets as training images)."""
    check_not_input(output, inputs, "training image")
    check_output_path(output)
    for folder in folders:
        root = Path(folder).resolve()
        for what, path in (("model file", output), ("report folder", report)):
            if path.resolve() == root or path.resolve().is_relative_to(root):
                raise ConfigError(f"{path}: the {what} would be inside the input folder {folder}, where the next "
                                  "run would read it; choose a place outside it")


def check_training_memory(
    backbone: Any, layers: tuple[str, ...], crop: int, batch: int, device: torch.device
) -> None:
    """Refuse, before any work, a batch of crops whose forward and backward pass
    through ``backbone`` (activations kept for backward, their gradients, the network
    being trained) would not fit in ``device``'s free memory."""
    from painterly.device import available_memory
    from painterly.errors import MemoryBudgetError

    per_pixel = 4 * (3 * backbone.activation_elements_per_pixel(layers) + 64)
    need = per_pixel * crop * crop * batch
    have = int(available_memory(device) * 0.8)
    if need > have:
        raise MemoryBudgetError(
            f"a batch of {batch} crops of {crop} px needs about {need / 2**30:.1f} GB but {have / 2**30:.1f} GB of "
            f"{device.type} memory is free; lower crop_size or batch_size"
        )


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


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write a checkpoint atomically (temporary file + rename)."""
    out = Path(path)
    data = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    with atomic_path(out) as tmp:
        torch.save(data, tmp)
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
    """The checkpoint to continue from, when ``resume`` and ``path`` exists. A file at
    ``path`` that is not a painterly checkpoint is never trained over."""
    if path.exists() and not resume:
        try:
            load_checkpoint(path)
        except ConfigError:
            raise ConfigError(f"{path}: exists and is not a painterly model file; refusing to replace it") from None
    if resume and not path.exists():
        logger.info("resume: no checkpoint at %s yet, so training starts from step 0", path)
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
    on_step: Callback | None = None,
    elapsed0: float = 0.0,
) -> float:
    """Run ``step_fn`` for steps ``start + 1 .. total``, reporting a :class:`TrainEvent`
    per step to ``on_step`` (the CLI's progress bar consumes them).

    Every ``every`` steps and at the end: ``save(step)`` (the resumable checkpoint) and
    ``report(step)`` (samples, loss curve). Ctrl-C saves the last finished step before
    the ``KeyboardInterrupt`` goes on; a non-finite loss raises
    :class:`NonFiniteLossError` and leaves the last checkpoint as it was.
    Returns the training seconds (including ``elapsed0`` from earlier runs).
    """
    t0 = time.perf_counter() - elapsed0
    done = start
    try:
        for step in range(start + 1, total + 1):
            terms = step_fn(step)
            if not all(math.isfinite(v) for v in terms.values()):
                raise NonFiniteLossError(f"training loss became non-finite at step {step} ({terms}); "
                                         "lower the learning rate (lr) or the loss weights")
            done = step
            elapsed = time.perf_counter() - t0
            history.append({"step": step, "scale": 0, "size": (0, 0), "elapsed": round(elapsed, 3), **terms})
            notify(on_step, TrainEvent(step=step, total_steps=total, losses=terms, elapsed=elapsed, history=history))
            if step % every == 0 or step == total:
                save(step)
                report(step)
    except KeyboardInterrupt:
        if done > start:
            save(done)
        raise
    return time.perf_counter() - t0


def adam_step(opt: torch.optim.Optimizer, total: torch.Tensor) -> None:
    """One optimiser step on ``total``."""
    opt.zero_grad(set_to_none=True)
    total.backward()
    opt.step()


@dataclass
class Trainee:
    """What a trainer checkpoints: the module and its optimiser, the crop samplers, and
    the record that goes with the weights."""

    kind: str  # "transformer" or "adain"
    module: torch.nn.Module
    optimizer: torch.optim.Optimizer
    samplers: Sequence[Any]  # each with state() and set_state() (a CropSampler)
    arch: dict[str, Any]
    config: dict[str, Any]
    backbone: str
    trained_on: dict[str, list[str]]


def run_training(
    trainee: Trainee,
    output: Path,
    state: dict[str, Any] | None,
    *,
    steps: int,
    every: int,
    step_fn: Callable[[int], dict[str, float]],
    report: Callable[[int, list[dict[str, Any]]], None],
    on_step: Callback | None = None,
    half: bool = False,
) -> tuple[float, list[dict[str, Any]]]:
    """Restore ``state`` (a resumable checkpoint) into ``trainee``, train to ``steps``
    with checkpoints and reports every ``every`` steps, and with ``half`` write the
    final fp16 file. ``report(step, history)`` writes samples and the loss curve.
    Returns the training seconds and the loss history."""
    module, opt, samplers = trainee.module, trainee.optimizer, list(trainee.samplers)
    history: list[dict[str, Any]] = []
    start, elapsed0 = 0, 0.0
    if state is not None:
        module.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        sampler_states = state["sampler"] if len(samplers) > 1 else [state["sampler"]]
        for sampler, sampler_state in zip(samplers, sampler_states, strict=True):
            sampler.set_state(restore_rng_state(sampler_state))
        torch.set_rng_state(state["torch_rng"])
        history, start, elapsed0 = state["history"], state["step"], state["seconds"]

    def resume_state() -> dict[str, Any]:
        sampler_states = [s.state() for s in samplers]
        return {"optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
                "sampler": sampler_states if len(samplers) > 1 else sampler_states[0]}

    def payload(step: int, seconds: float, final_half: bool = False) -> dict[str, Any]:
        return checkpoint_payload(
            trainee.kind, module, arch=trainee.arch, config=trainee.config, backbone=trainee.backbone, step=step,
            seconds=seconds, history=history, trained_on=trainee.trained_on,
            resume_state=None if final_half else resume_state,
        )

    t0 = time.perf_counter() - elapsed0

    def save(step: int) -> None:
        save_checkpoint(output, payload(step, time.perf_counter() - t0))

    seconds = train_loop(start, steps, step_fn, history=history, every=every, save=save,
                         report=lambda step: report(step, history), on_step=on_step, elapsed0=elapsed0)
    if half:
        save_checkpoint(output, payload(steps, seconds, final_half=True))
    return seconds, history

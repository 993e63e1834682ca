"""Running a feed-forward stylizer over many images or a video.

The stylizer is any function ``(B, 3, H, W) [0, 1], masks or None -> (B, 3, H, W)``
(:meth:`FastStylizer.stylize_tensor`, :meth:`AdaINStylizer.stylize_tensor` with its
styles bound). Images of the same size after resizing go through in one batch;
unreadable images are skipped and listed, the rest are done.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from painterly.errors import ImageError
from painterly.events import Callback, ItemEvent, notify
from painterly.image import load_image, pil_to_tensor, resize_long_side, save_image, scaled_size, tensor_to_pil
from painterly.image.flow import TemporalBlend
from painterly.methods.feedforward.video_loop import SizeCheck, stylize_frames_video

__all__ = ["BatchReport", "BatchStylize", "MaskFn", "stylize_images", "stylize_video"]

logger = logging.getLogger("painterly")

BatchStylize = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
MaskFn = Callable[[torch.Tensor], torch.Tensor]  # (1, 3, H, W) -> (1, 1, H, W) in [0, 1], 1 = stylise


@dataclass
class BatchReport:
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def stylize_images(
    stylize: BatchStylize,
    files: Sequence[Path],
    out_dir: str | os.PathLike,
    *,
    suffix: str,
    size: int | None = None,
    batch_size: int = 4,
    mask_fn: MaskFn | None = None,
    ext: str = ".png",
    callback: Callback | None = None,
    check_size: SizeCheck | None = None,
) -> BatchReport:
    """Stylise ``files`` into ``out_dir/STEM_SUFFIX.EXT``; same-size images are batched.
    ``callback`` gets an :class:`~painterly.events.ItemEvent` per file, done or skipped."""
    report = BatchReport()
    start = time.perf_counter()
    done = 0

    def progress(path: Path, skipped: str | None = None) -> None:
        nonlocal done
        done += 1
        notify(callback, ItemEvent(step=done, total_steps=len(files), elapsed=time.perf_counter() - start,
                                   item=str(path), skipped=skipped))

    out = Path(out_dir)
    groups: dict[tuple[int, int], list[tuple[Path, Image.Image]]] = defaultdict(list)
    for f in files:
        try:
            img = load_image(f)
        except ImageError as exc:
            report.skipped.append((f, str(exc)))
            logger.info("skipped %s", exc)
            progress(f, str(exc))
            continue
        if size is not None:
            if check_size is not None:
                check_size(*scaled_size(img.height, img.width, size))  # before the resize allocates it
            img = resize_long_side(img, size)
        groups[img.size].append((f, img))
    protect = list(files)
    for items in groups.values():
        for i in range(0, len(items), batch_size):
            chunk = items[i : i + batch_size]
            x = torch.cat([pil_to_tensor(img) for _, img in chunk])
            masks = None
            if mask_fn is not None:
                masks = torch.cat([mask_fn(x[j : j + 1]) for j in range(len(chunk))])
            y = stylize(x, masks)
            for (f, _), yi in zip(chunk, y, strict=True):
                target = out / f"{f.stem}_{suffix}{ext}"
                report.written.append(save_image(tensor_to_pil(yi), target, protect=protect))
                progress(f)
    return report


def stylize_video(
    stylize: BatchStylize,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    size: int | None = None,
    batch_size: int = 4,
    mask_fn: MaskFn | None = None,
    callback: Callback | None = None,
    check_size: SizeCheck | None = None,
    temporal: TemporalBlend | None = None,
    keep: dict[str, Any] | None = None,
) -> Path:
    """Stylise a video frame by frame (batched) with a torch stylizer; the loop, the
    temporal blend, the audio and the resume are
    :func:`~painterly.methods.feedforward.video_loop.stylize_frames_video`'s.
    ``temporal(input frame uint8 (H, W, 3), stylised float (H, W, 3)) -> float``, called
    on the frames in order (:class:`painterly.image.flow.TemporalBlend`), steadies the
    strokes from frame to frame. ``keep`` (the run's settings, JSON-able) keeps every
    finished frame beside the output (:class:`~painterly.image.frame_store.FrameStore`):
    a rerun after Ctrl-C or a crash with the same settings skips the frames done."""

    def frames(batch: list[np.ndarray]) -> list[np.ndarray]:
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float().div(255.0).contiguous()
        masks = None
        if mask_fn is not None:
            masks = torch.cat([mask_fn(x[j : j + 1]) for j in range(x.shape[0])])
        return list(stylize(x, masks).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy())

    return stylize_frames_video(frames, src, dst, size=size, batch_size=batch_size, callback=callback,
                                check_size=check_size, temporal=temporal, keep=keep)

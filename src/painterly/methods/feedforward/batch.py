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
from collections.abc import Callable, Iterator, Sequence
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
from painterly.image.frame_store import FrameStore
from painterly.image.video import check_video_pair, probe_video, read_frames, write_video

__all__ = ["BatchReport", "BatchStylize", "MaskFn", "stylize_images", "stylize_video"]

logger = logging.getLogger("painterly")

BatchStylize = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
SizeCheck = Callable[..., None]  # (height, width[, batch]) -> None, or MemoryBudgetError
MaskFn = Callable[[torch.Tensor], torch.Tensor]  # (1, 3, H, W) -> (1, 1, H, W) in [0, 1], 1 = stylise


@dataclass
class BatchReport:
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _even(size: tuple[int, int]) -> tuple[int, int]:
    return max(2, size[0] // 2 * 2), max(2, size[1] // 2 * 2)


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
    """Stylise a video frame by frame (batched); the audio is kept where the output
    container allows. Frame sizes are rounded down to even numbers (yuv420p).
    ``temporal(input frame uint8 (H, W, 3), stylised float (H, W, 3)) -> float``, called
    on the frames in order (:class:`painterly.image.flow.TemporalBlend`), steadies the
    strokes from frame to frame. ``keep`` (the run's settings, JSON-able) keeps every
    finished frame beside the output (:class:`~painterly.image.frame_store.FrameStore`):
    a rerun after Ctrl-C or a crash with the same settings skips the frames done."""
    src_p, dst_p = check_video_pair(src, dst)
    info = probe_video(src_p)
    if check_size is not None:
        w, h = info.size
        check_size(*(scaled_size(h, w, size) if size is not None else (h, w)), batch_size)
    start = time.perf_counter()
    store = FrameStore(dst_p, keep, src_p) if keep is not None else None

    def on_frame(n: int) -> None:
        notify(callback, ItemEvent(step=n, total_steps=info.n_frames or 0, elapsed=time.perf_counter() - start,
                                   item=f"frame {n}", unit="frame"))

    def frames() -> Iterator[np.ndarray]:
        buf: list[tuple[int, torch.Tensor]] = []

        def flush() -> Iterator[np.ndarray]:
            x = torch.cat([xi for _, xi in buf])
            masks = None
            if mask_fn is not None:
                masks = torch.cat([mask_fn(x[j : j + 1]) for j in range(x.shape[0])])
            for (n, _), xi, yi in zip(buf, x, stylize(x, masks), strict=True):
                if temporal is None:
                    out = np.asarray(tensor_to_pil(yi))
                else:
                    blended = temporal(_uint8(xi), yi.permute(1, 2, 0).cpu().numpy())
                    out = (np.clip(blended, 0, 1) * 255).round().astype(np.uint8)
                if store is not None:
                    store.put(n, out)
                yield out
            buf.clear()

        for n, frame in enumerate(read_frames(src_p), start=1):
            img = Image.fromarray(frame)
            if size is not None:
                img = resize_long_side(img, size)
            target = _even(img.size)
            if target != img.size:
                img = img.resize(target, Image.Resampling.LANCZOS)
            kept = store.get(n) if store is not None else None
            if kept is not None:  # done by an earlier run
                if buf:
                    yield from flush()
                if temporal is not None:
                    temporal.seen(np.asarray(img), kept.astype(np.float32) / 255.0)
                yield kept
                continue
            buf.append((n, pil_to_tensor(img)))
            if len(buf) == batch_size:
                yield from flush()
        if buf:
            yield from flush()

    try:
        path = write_video(dst_p, frames(), fps=info.fps, audio_from=src_p, on_frame=on_frame)
    except KeyboardInterrupt:
        if store is not None:
            store.wait()
            logger.info("interrupted: the frames done are kept in %s; run the same command again to go on from "
                        "there", store.folder)
        raise
    if store is not None:
        logger.info("%d frame(s) taken from an earlier run", store.resumed)
        store.close()
    return path


def _uint8(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) [0, 1] -> (H, W, 3) uint8."""
    return (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)

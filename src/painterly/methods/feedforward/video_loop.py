"""A frame stylizer over a video, without torch: the frames read, resized and batched,
each finished frame steadied by the previous one (:class:`~painterly.image.flow.TemporalBlend`),
kept for a resume (:class:`~painterly.image.frame_store.FrameStore`) and encoded with
the audio. The torch path (:func:`painterly.methods.feedforward.batch.stylize_video`)
and the onnxruntime path (:func:`onnx_frames`) both run through :func:`stylize_frames_video`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from painterly.events import Callback, ItemEvent, notify
from painterly.image.flow import TemporalBlend
from painterly.image.frame_store import FrameStore
from painterly.image.io import resize_long_side, scaled_size
from painterly.image.video import check_video_pair, probe_video, read_frames, write_video

__all__ = ["FrameStylize", "onnx_frames", "stylize_frames_video"]

logger = logging.getLogger("painterly")

# frames (H, W, 3) uint8, all the same size -> their stylisations (H, W, 3) float32 in [0, 1]
FrameStylize = Callable[[list[np.ndarray]], list[np.ndarray]]
SizeCheck = Callable[..., None]  # (height, width[, batch]) -> None, or MemoryBudgetError


def _even(size: tuple[int, int]) -> tuple[int, int]:
    return max(2, size[0] // 2 * 2), max(2, size[1] // 2 * 2)


def _uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)


def onnx_frames(net: Any, face_pass: Any = None) -> FrameStylize:
    """A per-style network on onnxruntime
    (:class:`~painterly.methods.feedforward.onnx_runtime.OnnxStylizer`) as a
    :data:`FrameStylize`; ``face_pass`` a :class:`~painterly.faces.light.LightFacePass`
    (tracked on video) or None."""

    def stylize(frames: list[np.ndarray]) -> list[np.ndarray]:
        outs = []
        for frame in frames:  # one at a time: onnxruntime gains nothing from a batch on the CPU (320 px: 13.6
            # ms a frame alone, 15.6 in fours)
            y = net.stylize_array(frame.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)[0]
            if face_pass is not None:
                y = face_pass(net.stylize_array, Image.fromarray(frame), y)
            outs.append(y.transpose(1, 2, 0))
        return outs

    return stylize


def stylize_frames_video(
    stylize: FrameStylize,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    size: int | None = None,
    batch_size: int = 4,
    callback: Callback | None = None,
    check_size: SizeCheck | None = None,
    temporal: TemporalBlend | None = None,
    keep: dict[str, Any] | None = None,
) -> Path:
    """Stylise a video ``batch_size`` frames at a time; the audio is kept where the
    output container allows. Frame sizes are rounded down to even numbers (yuv420p).
    ``temporal`` steadies the strokes from frame to frame (frames in order). ``keep``
    (the run's settings, JSON-able) keeps every finished frame beside the output: a
    rerun after Ctrl-C or a crash with the same settings skips the frames done."""
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
        buf: list[tuple[int, np.ndarray]] = []

        def flush() -> Iterator[np.ndarray]:
            if temporal is not None:
                temporal.ahead([f for _, f in buf])  # the flows run beside the network
            styled = stylize([f for _, f in buf])
            for (n, frame), y in zip(buf, styled, strict=True):
                out = _uint8(y if temporal is None else temporal(frame, y))
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
            buf.append((n, np.asarray(img)))
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

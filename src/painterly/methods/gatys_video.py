"""Gatys et al. on video with temporal consistency (Ruder, Dosovitskiy and Brox 2016).

Frame 1 is a full multi-scale run. Each later frame starts from the previous output
warped into place by optical flow (DIS on the input frames; the photo where the flow
says a pixel was occluded), runs ``later_iterations`` at the final size only, and adds
the short-term temporal loss on the pixels seen in the previous frame.

Each finished frame is kept in a work folder beside the output (``OUT.mp4.frames/``),
with the run's settings: a rerun after Ctrl-C or a crash takes the frames done from
there and goes on; the folder is removed once the video is written.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from painterly.errors import ConfigError
from painterly.events import Callback, ItemEvent, notify
from painterly.image.flow import dis_flow, grey, occlusion_mask, warp
from painterly.image.frame_store import FrameStore, work_folder
from painterly.image.io import scaled_size
from painterly.image.video import check_video_pair, probe_video, read_frames, write_video
from painterly.losses import SpatialControl
from painterly.methods.gatys import Stylizer, TemporalTerm

__all__ = ["VideoRun", "stylize_video_gatys", "work_folder"]

logger = logging.getLogger("painterly")


@dataclasses.dataclass
class VideoRun:
    path: Path
    frames: int
    seconds: float
    first_frame_seconds: float
    resumed: int = 0  # frames taken from the work folder of an earlier, interrupted run


def _even(h: int, w: int) -> tuple[int, int]:
    return max(2, h // 2 * 2), max(2, w // 2 * 2)


def stylize_video_gatys(
    stylizer: Stylizer,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    later_iterations: int = 60,
    temporal_weight: float = 50.0,
    callback: Callback | None = None,
    face_aware: bool = True,
    long_term: Sequence[int] = (1,),
) -> VideoRun:
    """Stylise every frame of ``src`` into ``dst`` (audio kept), each frame from the
    last. ``callback`` gets an :class:`ItemEvent` per frame. ``face_aware``: faces
    tracked through the clip (:class:`~painterly.faces.tracking.FaceTracker`) get the
    portrait weighting (content and features held on the face) in every frame.
    ``long_term``: the earlier frames (1 = the previous one) whose warped outputs the
    temporal loss holds each frame to, each on the pixels that no nearer frame already
    covers (Ruder et al.'s long-term consistency; (1,) is the short-term form)."""
    offsets = sorted({int(j) for j in long_term})
    if not offsets or offsets[0] != 1:
        raise ConfigError("long-term frame offsets must include 1 (the previous frame), e.g. 1,2,4")
    src_p, dst_p = check_video_pair(src, dst)
    info = probe_video(src_p)
    w0, h0 = info.size
    h, w = _even(*scaled_size(h0, w0, stylizer.config.size))
    stylizer.check_memory(h, w)
    later = stylizer.with_config(dataclasses.replace(stylizer.config, iterations=later_iterations))
    settings = {"config": json.loads(json.dumps(dataclasses.asdict(stylizer.config), default=str)),
                "styles": [[*im.size, int(np.asarray(im).sum())] for im in stylizer.style_images],
                "later_iterations": later_iterations,
                "temporal_weight": temporal_weight, "face_aware": face_aware, "long_term": offsets}
    store = FrameStore(dst_p, settings, src_p)
    start = time.perf_counter()
    first_seconds = 0.0
    done = 0

    tracker = None
    if face_aware:
        from painterly.faces.detection import shared_detector
        from painterly.faces.tracking import FaceTracker

        detector = shared_detector(20.0, stylizer.device)
        tracker = FaceTracker(lambda frame: detector(Image.fromarray(frame)), every=8)

    def spatial_for(frame: np.ndarray) -> SpatialControl | None:
        if tracker is None:
            return None
        from painterly.methods.portrait import face_aware_spatial

        faces = tracker(frame)
        return face_aware_spatial(faces, h, w, stylizer.device) if faces else None

    def frames() -> Iterator[np.ndarray]:
        nonlocal first_seconds, done
        history: collections.deque[tuple[np.ndarray, np.ndarray]] = collections.deque(maxlen=offsets[-1])
        for n, frame in enumerate(read_frames(src_p), start=1):
            img = Image.fromarray(frame).resize((w, h), Image.Resampling.LANCZOS)
            g = grey(np.asarray(img))
            spatial = spatial_for(np.asarray(img))  # every frame, done or not: the tracks stay continuous
            arr = store.get(n)
            if arr is not None:  # done by an earlier run
                done = n
                history.append((g, arr.astype(np.float32) / 255.0))
                notify(callback, ItemEvent(step=n, total_steps=info.n_frames or 0,
                                           elapsed=time.perf_counter() - start, item=f"frame {n}", unit="frame"))
                yield arr
                continue
            if not history:  # the first frame: a full run
                result = stylizer.stylize(img, spatial=spatial)
                first_seconds = time.perf_counter() - start
            else:
                to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float()  # noqa: E731
                terms, covered, init = [], np.zeros((h, w, 1), np.float32), None
                for j in offsets:
                    if j > len(history):
                        break
                    old_grey, old_out = history[-j]
                    forward, backward = dis_flow(old_grey, g), dis_flow(g, old_grey)
                    mask = occlusion_mask(forward, backward)[..., None].astype(np.float32)
                    warped = warp(old_out, backward)
                    if j == 1:  # start from the previous output where it is seen
                        photo = np.asarray(img, dtype=np.float32) / 255.0
                        init = mask * warped + (1 - mask) * photo
                    own = np.clip(mask - covered, 0, 1)  # pixels no nearer frame holds already
                    covered = np.clip(covered + mask, 0, 1)
                    terms.append(TemporalTerm(to_t(np.clip(warped, 0, 1)), to_t(own), temporal_weight))
                assert init is not None
                result = later.stylize(img, init=to_t(np.clip(init, 0, 1)), temporal=terms, spatial=spatial)
            store.put(n, np.asarray(result.image))
            out = np.asarray(result.image, dtype=np.float32) / 255.0
            done = n
            history.append((g, out))
            notify(callback, ItemEvent(step=n, total_steps=info.n_frames or 0, elapsed=time.perf_counter() - start,
                                       item=f"frame {n}", unit="frame"))
            yield np.asarray(result.image)

    try:
        path = write_video(dst_p, frames(), fps=info.fps, audio_from=src_p)
    except KeyboardInterrupt:
        store.wait()
        logger.info("interrupted after frame %d: the frames done are kept in %s; run the same command again to "
                    "go on from there", done, store.folder)
        raise
    store.close()
    return VideoRun(path, done, time.perf_counter() - start, first_seconds, store.resumed)

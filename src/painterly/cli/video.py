"""Video on the command line: the cut options, the feed-forward video run (resumable),
identity over a clip and its contact sheet (``painterly fast`` and ``painterly stylize``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from painterly.cli.progress import ProgressBar
from painterly.errors import ConfigError

__all__ = ["add_cut_options", "report_clip", "run_fast_video", "run_light_video"]


def add_cut_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", type=float, metavar="S", help="video: begin S seconds in")
    p.add_argument("--duration", type=float, metavar="S", help="video: stylise S seconds (audio cut to match)")


def run_fast_video(args: argparse.Namespace, video: str, stylize: Any, mask_fn: Any, check: Any, t0: float) -> int:
    """``painterly fast CLIP`` on torch: ``stylize`` and ``mask_fn`` from
    :func:`painterly.cli.fast.make_stylizer` and :func:`painterly.cli.fast.mask_function`."""

    def run(clip: str, bar: ProgressBar) -> Path:
        from painterly.methods.feedforward.batch import stylize_video

        return stylize_video(stylize, clip, Path(args.output), size=args.size, batch_size=args.batch_size,
                             mask_fn=mask_fn, callback=bar, check_size=check, temporal=_temporal(args),
                             keep=_run_settings(args))

    return _run_clip(args, video, run, t0)


def run_light_video(args: argparse.Namespace, video: str, onnx_file: Path, face_pass: bool, t0: float) -> int:
    """``painterly fast CLIP`` on onnxruntime, without torch: the network and the face
    pass's MTCNN on onnxruntime, faces tracked by flow, numpy and OpenCV for the rest."""

    def run(clip: str, bar: ProgressBar) -> Path:
        from painterly.faces.light import LightFacePass
        from painterly.methods.feedforward.onnx_runtime import OnnxStylizer
        from painterly.methods.feedforward.video_loop import onnx_frames, stylize_frames_video

        net = OnnxStylizer(onnx_file)
        frames = onnx_frames(net, LightFacePass.fast(video=True) if face_pass else None)
        return stylize_frames_video(frames, clip, Path(args.output), size=args.size, batch_size=args.batch_size,
                                    callback=bar, check_size=lambda h, w, b=1: net.check_memory(h, w * b),
                                    temporal=_temporal(args), keep=_run_settings(args))

    return _run_clip(args, video, run, t0, light=True)


def _temporal(args: argparse.Namespace) -> Any:
    if not args.temporal:
        return None
    from painterly.image.flow import TemporalBlend

    return TemporalBlend(args.temporal_weight)


def _run_clip(args: argparse.Namespace, video: str, run: Any, t0: float, *, light: bool = False) -> int:
    from painterly.image.video import trimmed

    if len(args.inputs) != 1:
        raise ConfigError("give one video at a time (or images and folders without videos)")
    with trimmed(video, args.start, args.duration) as clip:
        with ProgressBar("video", unit="frame") as bar:
            written = run(str(clip), bar)
        print(f"wrote {written} ({bar.n} frames) in {time.perf_counter() - t0:.1f} s"
              f"{' (onnxruntime)' if light else ''}", file=sys.stderr)
        report_clip(clip, written, args.contact_sheet, bar.n, light=light)
    return 0


def _run_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What a video's frames depend on (a rerun with the same takes the frames kept);
    style and model files by content."""
    from painterly.image.frame_store import file_digest
    from painterly.version import __version__

    skip = {"output", "inputs", "func", "command", "contact_sheet", "batch_size", "engine"}
    settings: dict[str, Any] = {k: v for k, v in vars(args).items() if k not in skip and not callable(v)}
    settings["painterly"] = __version__  # bundled models are named, not read: their version says what they are
    for key in ("style", "model", "adain_model", "wct_model", "mask"):
        paths = settings.get(key)
        for p in paths if isinstance(paths, list) else [paths]:
            if isinstance(p, str) and Path(p).is_file():
                settings[f"{key}:{p}"] = file_digest(p)
    return settings


def report_clip(src: str | Path, dst: Path, sheet: str | None, frames: int, every: int = 10, *,
                light: bool = False, samples: int = 12) -> None:
    """After a video of ``frames`` frames: identity over the clip (median, worst frame)
    and, with ``sheet``, a contact sheet of every ``every``-th frame, input over output,
    at most ``samples`` frames spread over the clip (a dlib embedding costs ~0.1 s: a
    long clip must not spend minutes on its report). ``light``: faces found by MTCNN on
    onnxruntime (no torch)."""
    from painterly.faces.clip import clip_identity
    from painterly.image.video import read_frames

    every = max(every, -(-frames // samples))
    # only every ``every``-th pair is kept: a long 720p clip does not fit in memory whole
    both = enumerate(zip(read_frames(src), read_frames(dst), strict=False))
    pairs = [(t, a, b) for t, (a, b) in both if t % every == 0]
    detector = None
    if light:
        from painterly.faces.light import shared_light_detector

        detector = shared_light_detector()  # the face pass's, already loaded
    print(clip_identity(pairs, detector=detector).line(), file=sys.stderr)
    if sheet:
        from PIL import Image as PILImage

        from painterly.report import grid_sheet

        picks = pairs[:12]
        grid_sheet([[(f"frame {t + 1}", PILImage.fromarray(a)) for t, a, _ in picks],
                    [(f"frame {t + 1}", PILImage.fromarray(b)) for t, _, b in picks]],
                   sheet, row_labels=["input", "output"], title=f"{Path(dst).name}: every {every}th frame",
                   height=120)
        print(f"wrote {sheet}", file=sys.stderr)

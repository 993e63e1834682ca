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

__all__ = ["add_cut_options", "report_clip", "run_fast_video"]


def add_cut_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", type=float, metavar="S", help="video: begin S seconds in")
    p.add_argument("--duration", type=float, metavar="S", help="video: stylise S seconds (audio cut to match)")


def run_fast_video(args: argparse.Namespace, video: str, stylize: Any, mask_fn: Any, check: Any, t0: float) -> int:
    from painterly.image.video import trimmed

    with trimmed(video, args.start, args.duration) as clip:
        return _run_clip(args, str(clip), stylize, mask_fn, check, t0)


def _run_clip(args: argparse.Namespace, video: str, stylize: Any, mask_fn: Any, check: Any, t0: float) -> int:
    from painterly.methods.feedforward.batch import stylize_video

    if len(args.inputs) != 1:
        raise ConfigError("give one video at a time (or images and folders without videos)")
    temporal = None
    if args.temporal:
        from painterly.image.flow import TemporalBlend

        temporal = TemporalBlend(args.temporal_weight)
    with ProgressBar("video", unit="frame") as bar:
        written = stylize_video(stylize, video, Path(args.output), size=args.size, batch_size=args.batch_size,
                                mask_fn=mask_fn, callback=bar, check_size=check, temporal=temporal,
                                keep=_run_settings(args))
    print(f"wrote {written} ({bar.n} frames) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    report_clip(video, written, args.contact_sheet)
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


def report_clip(src: str | Path, dst: Path, sheet: str | None, every: int = 10) -> None:
    """After a video: identity over the clip (median, worst frame) and, with ``sheet``,
    a contact sheet of every ``every``-th frame, input over output."""
    from painterly.faces.clip import clip_identity
    from painterly.image.video import read_frames

    # only every ``every``-th pair is kept: a long 720p clip does not fit in memory whole
    both = enumerate(zip(read_frames(src), read_frames(dst), strict=False))
    pairs = [(t, a, b) for t, (a, b) in both if t % every == 0]
    print(clip_identity(pairs).line(), file=sys.stderr)
    if sheet:
        from PIL import Image as PILImage

        from painterly.report import grid_sheet

        picks = pairs[:12]
        grid_sheet([[(f"frame {t + 1}", PILImage.fromarray(a)) for t, a, _ in picks],
                    [(f"frame {t + 1}", PILImage.fromarray(b)) for t, _, b in picks]],
                   sheet, row_labels=["input", "output"], title=f"{Path(dst).name}: every {every}th frame",
                   height=120)
        print(f"wrote {sheet}", file=sys.stderr)

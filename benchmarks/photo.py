"""Photorealistic transfer, whole commands side by side in one run (issue 12).

    python benchmarks/photo.py [--size 512] [--sheet docs/photo.jpg] [--memory]

For each photo pair of ../shared/data/content (content -> style photo), four commands
as a user runs them, each its own process:

* ``stylize --photo``: Gatys with the matting Laplacian, regions, guided filter;
* ``fast --photo``: WCT and the fast guided filter;
* ``stylize`` (plain default) and ``stylize --original-colors histogram``.

Printed per run: wall time and peak RSS of the process; edge SSIM (SSIM between the
Sobel gradient magnitudes of content and output, grey); colour gap (distance of the
output's Lab mean/std to the style photo's, divided by the content's own). Targets at
512 px on the 2-core CPU: edge SSIM >= 0.85, colour gap <= 0.5, ``--photo`` Gatys under
60 s, fast ``--photo`` under 3 s. ``--memory`` also checks the matting-Laplacian
memory model against measured builds at three sizes.
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
from PIL import Image

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
PAIRS = (("tubingen", "hoovertowernight"), ("golden_gate", "hoovertowernight"), ("hoovertowernight", "golden_gate"))


def edge_ssim(content: Image.Image, output: Image.Image) -> float:
    import cv2
    from skimage.metrics import structural_similarity

    def magnitude(img: Image.Image) -> np.ndarray:
        g = np.asarray(img.convert("L"), np.float32) / 255.0
        return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))

    a, b = magnitude(content), magnitude(output.resize(content.size, Image.Resampling.LANCZOS))
    return float(structural_similarity(a, b, data_range=float(max(a.max(), b.max()))))


def _lab_stats(img: Image.Image) -> np.ndarray:
    import cv2

    lab = cv2.cvtColor(np.asarray(img.convert("RGB"), np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    return np.concatenate([lab.mean(0), lab.std(0)])


def colour_gap(output: Image.Image, content: Image.Image, style: Image.Image) -> float:
    s = _lab_stats(style)
    return float(np.linalg.norm(_lab_stats(output) - s) / np.linalg.norm(_lab_stats(content) - s))


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-1500:]}")
    return wall, usage.ru_maxrss / 2**20


def memory_model() -> None:
    from painterly.methods.photo import laplacian_bytes

    print("\nmatting Laplacian memory: predicted vs measured peak (build + torch copy)")
    code = ("import resource, sys, numpy as np, torch; from painterly.methods.photo import MattingTerm; "
            "s = int(sys.argv[1]); MattingTerm(torch.rand(1, 3, 8, 8), 1.0).laplacian(8, 8); "
            "b = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
            "MattingTerm(torch.rand(1, 3, s, s), 1.0).laplacian(s, s); "
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - b) * 1024)")
    for side in (256, 512, 1024):
        measured = int(subprocess.run([sys.executable, "-c", code, str(side)], capture_output=True, text=True,
                                      check=True).stdout.split()[-1])
        predicted = laplacian_bytes(side, side)
        print(f"  {side:5d} px square: predicted {predicted / 2**20:7.1f} MB, measured {measured / 2**20:7.1f} MB "
              f"({predicted / measured - 1:+.0%})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--sheet", help="write a sheet of every pair: content, style and the four outputs")
    ap.add_argument("--memory", action="store_true", help="also check the Laplacian memory model")
    ap.add_argument("--pairs", type=int, default=len(PAIRS), help="how many of the pairs to run")
    opts = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="painterly-bench-photo-"))
    painterly = [sys.executable, "-m", "painterly"]
    methods = {
        "stylize --photo": lambda c, s, o: [*painterly, "stylize", c, "--style", s, "--photo", "--size",
                                            str(opts.size), "-q", "-o", o],
        "fast --photo": lambda c, s, o: [*painterly, "fast", c, "--style", s, "--photo", "--size", str(opts.size),
                                         "-o", o],
        "stylize (plain default)": lambda c, s, o: [*painterly, "stylize", c, "--style", s, "--size",
                                                    str(opts.size), "-q", "-o", o],
        "stylize --original-colors histogram": lambda c, s, o: [*painterly, "stylize", c, "--style", s,
                                                                "--original-colors", "histogram", "--size",
                                                                str(opts.size), "-q", "-o", o],
    }
    print(f"photorealistic transfer at {opts.size} px, whole commands (targets: edge SSIM >= 0.85, colour gap "
          "<= 0.5, --photo Gatys < 60 s, fast --photo < 3 s)\n")
    print(f"{'pair':34s} {'command':36s} {'wall s':>7s} {'peak GB':>8s} {'edge SSIM':>10s} {'colour gap':>11s}")
    rows: list[list[tuple[str, Image.Image]]] = []
    for cname, sname in PAIRS[: opts.pairs]:
        c, s = DATA / "content" / f"{cname}.jpg", DATA / "content" / f"{sname}.jpg"
        content, style = Image.open(c).convert("RGB"), Image.open(s).convert("RGB")
        row = [("content", content), ("style", style)]
        for i, (name, cmd) in enumerate(methods.items()):
            out = tmp / f"{cname}_{sname}_{i}.png"
            wall, peak = run(cmd(str(c), str(s), str(out)))
            img = Image.open(out).convert("RGB")
            ref = content.resize(img.size, Image.Resampling.LANCZOS)
            print(f"{cname + ' -> ' + sname:34s} {name:36s} {wall:7.1f} {peak:8.2f} {edge_ssim(ref, img):10.3f} "
                  f"{colour_gap(img, ref, style):11.3f}", flush=True)
            row.append((name, img))
        rows.append(row)
    if opts.sheet:
        from painterly.report import grid_sheet

        grid_sheet(rows, opts.sheet, row_labels=[f"{c} -> {s}" for c, s in PAIRS[: opts.pairs]],
                   title=f"photorealistic transfer at {opts.size} px", height=180)
        print(f"\nwrote {opts.sheet}")
    if opts.memory:
        memory_model()


if __name__ == "__main__":
    main()

"""Large outputs: the memory model against measured runs, and 2048 px untiled vs tiled
(issue 13), whole commands side by side in one run.

    python benchmarks/large.py [--image ../shared/data/faces/obama.jpg] [--budget 3GB] [--skip-untiled]

1. Memory model: ``painterly stylize`` at three sizes (21 L-BFGS evaluations at the
   final size, so the optimiser's history is full), peak RSS of the process against
   ``Stylizer.memory_model().predict`` (target within 15%).
2. 2048 px: the default untiled run (the old behaviour) and ``--max-memory BUDGET``
   (tiles): wall time, peak RSS against the budget (target: 3 GB), the plan's
   prediction, and the seam gradient ratio (mean gradient magnitude on the tile
   borders of every pass over the rest; target <= 1.05; measured on the untiled
   output at the same lines as a control).
3. The look at a higher resolution: judge style distance (MobileNetV2, held out) of
   the 512 px default and of both 2048 px outputs viewed at 512 px.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
sys.path.insert(0, str(HERE))

from _cli_wrap import PEAK_LINE, wrapped_cli  # noqa: E402


def run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS bytes (the process's VmHWM, printed at exit: see _cli_wrap) and stderr."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-1500:]}")
    peak = float(err.rsplit("PEAK", 1)[1].split()[0]) * 1024 if "PEAK" in err else float("nan")
    return wall, peak, err


def seam_ratio(img: Image.Image, rows: set[int], cols: set[int]) -> float:
    g = np.asarray(img.convert("L"), np.float32) / 255.0
    gx = np.abs(np.diff(g, axis=1))  # gx[:, c] is the step between columns c and c+1
    gy = np.abs(np.diff(g, axis=0))
    on_x = np.zeros_like(gx, bool)
    on_y = np.zeros_like(gy, bool)
    for c in cols:
        on_x[:, max(0, c - 2) : c + 2] = True
    for r in rows:
        on_y[max(0, r - 2) : r + 2] = True
    border = np.concatenate([gx[on_x], gy[on_y]])
    inside = np.concatenate([gx[~on_x], gy[~on_y]])
    return float(border.mean() / inside.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=str(DATA / "faces" / "obama.jpg"))
    ap.add_argument("--style", default="starry_night")
    ap.add_argument("--budget", default="3GB")
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--skip-untiled", action="store_true", help="leave out the untiled 2048 px run")
    opts = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="painterly-bench-large-"))
    cli = wrapped_cli(PEAK_LINE)
    common = ["--style", opts.style, "--no-face-aware", "--identity-budget", "none", "-q"]

    from painterly.cli.large import memory_size
    from painterly.image import load_image, scaled_size
    from painterly.methods import GatysConfig, Stylizer
    from painterly.methods.tiles import TILE_PASSES, overlap_for, seam_lines
    from painterly.styles import resolve_style

    opts.style = str(resolve_style(opts.style))
    content = load_image(opts.image)
    print("1. memory model: predicted vs measured peak RSS (painterly stylize, 21 evaluations at the final size)")
    for size in (512, 1024, 1536):
        out = tmp / f"mem_{size}.png"
        wall, peak, _ = run([*cli, "stylize", opts.image, *common, "--size", str(size), "--iterations", "21",
                             "--coarse-iterations", "2", "-o", str(out)])
        st = Stylizer([opts.style], GatysConfig(size=size))
        h, w = scaled_size(content.height, content.width, size)
        pred = st.memory_model().predict(h, w)
        print(f"  {w}x{h}: predicted {pred / 2**30:.2f} GB, measured {peak / 2**30:.2f} GB "
              f"({pred / peak - 1:+.0%}), {wall:.0f} s", flush=True)

    budget = memory_size(opts.budget)
    h, w = scaled_size(content.height, content.width, opts.size)
    st = Stylizer([opts.style], GatysConfig(size=opts.size, max_memory=budget))
    plans = st.plan(h, w)
    tiled_plan = plans[-1]
    print(f"\n2. {w}x{h}: plan with --max-memory {opts.budget}: " + "; ".join(
        f"{p.size[1]}x{p.size[0]} " + (f"{p.tiles} tiles of {p.tile}" if p.tile else "whole") for p in plans)
        + f"; predicted peak {max(p.peak for p in plans) / 2**30:.2f} GB, "
          f"{sum(p.seconds() for p in plans):.0f} s of optimisation")
    rows: dict[str, tuple[float, float, Path]] = {}
    runs = {"tiled (--max-memory)": ["--max-memory", opts.budget]}
    if not opts.skip_untiled:
        runs = {"untiled (old default)": [], **runs}
    for name, extra in runs.items():
        out = tmp / f"{name.split()[0]}.png"
        wall, peak, _ = run([*cli, "stylize", opts.image, *common, "--size", str(opts.size), *extra, "-o", str(out)])
        rows[name] = (wall, peak, out)
        print(f"  {name:24s} {wall:7.0f} s  peak {peak / 2**30:5.2f} GB", flush=True)
    seams: tuple[set[int], set[int]] = (set(), set())
    if tiled_plan.tile:
        seams = seam_lines(h, w, tiled_plan.tile, overlap_for(tiled_plan.tile), TILE_PASSES)
    for name, (_, _, out) in rows.items():
        print(f"  seam gradient ratio, {name}: {seam_ratio(Image.open(out), *seams):.3f}")

    small = tmp / "default_512.png"
    run([*cli, "stylize", opts.image, *common, "--size", "512", "-o", str(small)])
    from _judge import MobileNetV2Judge
    from painterly.image import pil_to_tensor, resize_long_side

    judge = MobileNetV2Judge()
    style_t = pil_to_tensor(resize_long_side(load_image(opts.style), 512))
    print("\n3. the look at a higher resolution (judge style distance, outputs viewed at 512 px; lower = closer):")
    for name, path in [("512 px default", small), *((n, r[2]) for n, r in rows.items())]:
        y = pil_to_tensor(resize_long_side(load_image(path), 512))
        print(f"  {name:24s} {judge.style_distance(y, style_t):.3f}")
    print(f"\noutputs: {tmp}")


if __name__ == "__main__":
    main()

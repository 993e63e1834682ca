"""``painterly faces detect|verify|identify``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from painterly.errors import ConfigError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("faces", help="face detection, verification and recognition")
    fsub = p.add_subparsers(dest="faces_command", required=True, parser_class=type(p))
    d = fsub.add_parser("detect", help="find faces and their five landmarks (MTCNN)")
    d.add_argument("images", nargs="+", help="image files")
    d.add_argument("--annotate", help="write a picture with boxes and landmarks (one image: this file; "
                                      "several: NAME_<image>.png beside it)")
    d.add_argument("--json", action="store_true", help="print JSON instead of text")
    d.add_argument("--min-face-size", type=float, default=20.0, help="smallest face searched, pixels (default 20)")
    d.add_argument("--device", default="auto")
    v = fsub.add_parser("verify", help="are two photos the same person? (dlib embeddings)")
    v.add_argument("a")
    v.add_argument("b")
    v.add_argument("--threshold", type=float, default=0.6, help="same person at or below (default 0.6)")
    v.add_argument("--json", action="store_true")
    i = fsub.add_parser("identify", help="who is this? nearest person in a gallery folder")
    i.add_argument("image")
    i.add_argument("--gallery", required=True, help="folder with one subfolder of photos per person")
    i.add_argument("--threshold", type=float, default=0.6, help="'unknown' beyond this distance (default 0.6)")
    i.add_argument("--cache", help="embedding cache file (default: under ~/.cache/painterly)")
    i.add_argument("--json", action="store_true")
    return p


def _annotate_path(base: Path, image: Path, many: bool) -> Path:
    return base.with_name(f"{base.stem}_{image.stem}{base.suffix or '.png'}") if many else base


def run(args: argparse.Namespace) -> int:
    if getattr(args, "threshold", 1.0) <= 0:
        raise ConfigError(f"--threshold must be > 0, got {args.threshold}")
    if args.faces_command == "detect":
        return _detect(args)
    if args.faces_command == "verify":
        from painterly.faces import verify

        result = verify(args.a, args.b, threshold=args.threshold)
        verdict = "same person" if result.same else "different people"
        if args.json:
            print(json.dumps({"distance": result.distance, "same": result.same, "threshold": result.threshold}))
        else:
            print(f"{verdict} (distance {result.distance:.3f}, threshold {result.threshold})")
        return 0
    from painterly.faces import Gallery, identify

    gallery = Gallery.load(args.gallery, cache=args.cache)
    found = identify(args.image, gallery, threshold=args.threshold)
    if args.json:
        print(json.dumps({"name": found.name, "distance": found.distance, "ranking": found.ranking,
                          "skipped": gallery.skipped}))
    else:
        print(f"{found.name} (distance {found.distance:.3f}; nearest: "
              + ", ".join(f"{n} {d:.3f}" for n, d in found.ranking[:3]) + ")")
    return 0


def _detect(args: argparse.Namespace) -> int:
    from painterly.faces.detection import FaceDetector
    from painterly.faces.draw import annotate
    from painterly.image import load_image, save_image

    if args.min_face_size < 12:
        raise ConfigError(f"--min-face-size must be at least 12 pixels, got {args.min_face_size}")
    paths = [Path(p) for p in args.images]
    images = {p: load_image(p) for p in paths}  # all inputs checked before any output
    if args.annotate:
        out = Path(args.annotate)
        for p in paths:
            target = _annotate_path(out, p, len(paths) > 1)
            if target.resolve() == p.resolve():
                raise ConfigError(f"{target}: refusing to overwrite the input image")
    detector = FaceDetector(min_face_size=args.min_face_size, device=args.device)
    report = []
    for p, img in images.items():
        faces, rejected = detector.detect_with_rejections(img)
        report.append({"image": str(p), "width": img.width, "height": img.height,
                       "faces": [f.to_dict() for f in faces],
                       "rejected": [{**f.to_dict(), "reason": why} for f, why in rejected]})
        if not args.json:
            print(f"{p}: {len(faces)} face{'s' if len(faces) != 1 else ''}")
            for f in faces:
                x1, y1, x2, y2 = f.box
                print(f"  box ({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}) score {f.score:.3f}  "
                      f"eyes ({f.landmarks.left_eye[0]:.0f}, {f.landmarks.left_eye[1]:.0f}) "
                      f"({f.landmarks.right_eye[0]:.0f}, {f.landmarks.right_eye[1]:.0f})")
            for f, why in rejected:
                print(f"  not a face: box ({f.box[0]:.0f}, {f.box[1]:.0f}, {f.box[2]:.0f}, {f.box[3]:.0f}) "
                      f"score {f.score:.3f}: {why}")
            if not faces:
                print(f"  note: no face of at least {args.min_face_size:.0f} px found", file=sys.stderr)
        if args.annotate:
            target = _annotate_path(Path(args.annotate), p, len(paths) > 1)
            save_image(annotate(img, faces), target, protect=paths)
            if not args.json:
                print(f"  wrote {target}")
    if args.json:
        print(json.dumps(report if len(report) > 1 else report[0], indent=2))
    return 0

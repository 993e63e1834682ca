"""The pencil-sketch preset, measured: structure kept (FSIM, SSIM against the photo's
grey image), identity kept (dlib), time; and a sheet to look at.

    pip install --no-deps piq    # piq's metadata pulls torchvision, which breaks this torch
    python benchmarks/sketch.py [--size 512] [--sheet out/sketch_sheet.png]

FSIM and SSIM (piq, grey, data range 1) are computed against the grey photo at the
sketch's size; a sketch is not the photo, so they say how much of its structure the
drawing carries (1 = all of it), not a pass mark. For scale the same numbers are
printed for a plain colour-dodge line drawing (the sketch without shading or paper).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"


def _piq():  # type: ignore[no-untyped-def]
    """piq imports torchvision at the top for metrics we do not use; FSIM and SSIM need
    none of it, so a stand-in module lets piq import beside a torch without torchvision."""

    class _Stub(types.ModuleType):
        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            if name.startswith("__"):
                raise AttributeError(name)
            if name[:1].isupper():
                return type(name, (object,), {"__init__": lambda self, *a, **k: None})
            return _Stub(f"{self.__name__}.{name}")

    try:
        import torchvision  # noqa: F401
    except Exception:
        for name in ("torchvision", "torchvision.models", "torchvision.transforms", "torchvision.models.vgg",
                     "torchvision.models.inception", "torchvision.ops"):
            sys.modules[name] = _Stub(name)
    import piq

    return piq


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--sheet", default="out/sketch_sheet.png")
    args = p.parse_args()
    piq = _piq()
    import torch

    from painterly.image import load_image, pil_to_tensor, resize_long_side, tensor_to_pil
    from painterly.methods.sketch import SketchConfig, pencil_sketch, sketch_portrait, sketch_tensor
    from painterly.report import contact_sheet

    def grey(x: torch.Tensor) -> torch.Tensor:
        return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).clamp(0, 1)

    print(f"{'photo':24s} {'FSIM':>6s} {'SSIM':>6s} {'lines FSIM':>10s} {'lines SSIM':>10s} {'identity':>8s} "
          f"{'sec':>5s}")
    rows, tiles = [], []
    for path in sorted((DATA / "faces").iterdir()):
        photo = resize_long_side(load_image(path), args.size)
        t0 = time.perf_counter()
        sketch = pencil_sketch(photo, SketchConfig(size=None))
        seconds = time.perf_counter() - t0
        ids = [d for d in sketch_portrait(photo, SketchConfig(size=None)).identity if d is not None]
        x = pil_to_tensor(photo)
        ref = grey(x)
        out = grey(pil_to_tensor(sketch))
        lines = grey(sketch_tensor(x, SketchConfig(shading=0.0)))
        scores = [float(piq.fsim(out, ref, data_range=1.0, chromatic=False)),
                  float(piq.ssim(out, ref, data_range=1.0)),
                  float(piq.fsim(lines, ref, data_range=1.0, chromatic=False)),
                  float(piq.ssim(lines, ref, data_range=1.0))]
        worst = max(ids) if ids else float("nan")
        rows.append((scores, worst, seconds))
        print(f"{path.name:24s} {scores[0]:6.3f} {scores[1]:6.3f} {scores[2]:10.3f} {scores[3]:10.3f} "
              f"{worst:8.3f} {seconds:5.2f}")
        if len(tiles) < 12:
            tiles += [(path.stem, photo), ("grey", tensor_to_pil(ref.expand(-1, 3, -1, -1))), ("sketch", sketch)]
    ids = [r[1] for r in rows]
    fsim, ssim = statistics.median(r[0][0] for r in rows), statistics.median(r[0][1] for r in rows)
    print(f"median FSIM {fsim:.3f}, SSIM {ssim:.3f}; "
          f"identity median {statistics.median(ids):.3f}, worst {max(ids):.3f} (same person below 0.6); "
          f"{statistics.median(r[2] for r in rows):.2f} s per sketch")
    contact_sheet(tiles, args.sheet, height=220)
    print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()

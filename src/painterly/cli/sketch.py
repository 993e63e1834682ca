"""``painterly stylize --preset sketch``: a pencil drawing from the photo alone."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["run_sketch"]


def run_sketch(args: argparse.Namespace, out: Path, inputs: list[Path]) -> int:
    from painterly.files import write_json
    from painterly.image import save_image
    from painterly.methods.sketch import SketchConfig, sketch_portrait

    cfg = SketchConfig(**({"size": args.size} if args.size else {}))
    result = sketch_portrait(args.content, cfg, device=args.device or "auto")
    save_image(result.image, out, protect=inputs)
    write_json(out.with_suffix(".json"), {"content": str(args.content), "output": str(out), "preset": "sketch",
                                          "config": cfg.__dict__, "identity_distance": result.identity,
                                          "seconds": round(result.seconds, 3)})
    dists = ", ".join(f"{d:.3f}" if d is not None else "n/a" for d in result.identity)
    print(f"wrote {out} ({result.image.width}x{result.image.height}, pencil sketch) in {result.seconds:.1f} s"
          + (f"; identity distance input->output: {dists} (same person below 0.6)" if dists else ""),
          file=sys.stderr)
    return 0

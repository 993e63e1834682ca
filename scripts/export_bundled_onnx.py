"""Write the ONNX copy of every bundled per-style model beside its .pt
(src/painterly/fast_models/NAME.onnx), for painterly fast's torch-free path.

    python scripts/export_bundled_onnx.py
"""

from __future__ import annotations

from painterly.methods.feedforward import export_onnx, list_fast_models
from painterly.methods.feedforward.training import load_checkpoint


def main() -> None:
    for path in list_fast_models().values():
        if load_checkpoint(path).get("kind") in ("adain", "wct"):
            continue  # AdaIN and WCT take a style image too: they stay on torch
        out = export_onnx(path, path.with_suffix(".onnx"))
        print(f"wrote {out} ({out.stat().st_size / 2**20:.2f} MB)")


if __name__ == "__main__":
    main()

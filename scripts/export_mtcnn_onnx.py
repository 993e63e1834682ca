"""Write MTCNN's P/R/O-Nets as ONNX (src/painterly/faces/mtcnn_onnx/), for the
torch-free face detector of painterly fast's onnxruntime path.

    python scripts/export_mtcnn_onnx.py

The weights are the mtcnn package's (MIT), loaded into painterly's own PyTorch MTCNN
(painterly.faces.mtcnn) and exported unchanged.
"""

from __future__ import annotations

from pathlib import Path

import torch

from painterly.faces.mtcnn import ONet, PNet, RNet, load_mtcnn_weights

OUT = Path(__file__).resolve().parents[1] / "src" / "painterly" / "faces" / "mtcnn_onnx"


def main() -> None:
    pnet, rnet, onet = PNet(), RNet(), ONet()
    load_mtcnn_weights(pnet, rnet, onet)
    OUT.mkdir(parents=True, exist_ok=True)
    jobs = [
        (pnet, (1, 3, 48, 64), ["offsets", "prob"], {"image": {2: "height", 3: "width"}}),
        (rnet, (4, 3, 24, 24), ["offsets", "prob"], {"image": {0: "n"}}),
        (onet, (4, 3, 48, 48), ["offsets", "landmarks", "prob"], {"image": {0: "n"}}),
    ]
    for net, shape, outputs, axes in jobs:
        path = OUT / f"{type(net).__name__.lower()}.onnx"
        with torch.no_grad():
            torch.onnx.export(net.eval(), (torch.rand(*shape),), str(path), input_names=["image"],
                              output_names=outputs, dynamic_axes=axes, opset_version=17, dynamo=False)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()

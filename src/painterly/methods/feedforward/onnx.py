"""ONNX export of the feed-forward networks (per-style and AdaIN)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from painterly.errors import ConfigError
from painterly.files import atomic_path, check_output_path
from painterly.methods.feedforward.adain import AdaINStylizer
from painterly.methods.feedforward.bundled import resolve_model
from painterly.methods.feedforward.johnson import FastStylizer
from painterly.methods.feedforward.training import load_checkpoint

__all__ = ["export_onnx"]


class _OnnxWrapper(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image).clamp(0, 1)


def export_onnx(model: str | os.PathLike | torch.nn.Module, output: str | os.PathLike, *, opset: int = 17) -> Path:
    """Export a trained network to ONNX with dynamic batch, height and width.

    The graph takes ``image`` (B, 3, H, W) float32 in [0, 1] (H, W >= 32) and returns
    ``stylized`` in [0, 1]. AdaIN models export their decoder with the encoder:
    inputs ``image`` and ``style`` (both RGB), output ``stylized``.
    """
    out = Path(output)
    if out.suffix.lower() != ".onnx":
        raise ConfigError(f"{out}: ONNX files end in .onnx")
    if importlib.util.find_spec("onnx") is None:
        raise ConfigError("ONNX export needs the onnx package: pip install 'painterly[onnx]'")
    check_output_path(out)
    module: torch.nn.Module
    metadata: dict[str, str] = {}
    example: tuple[torch.Tensor, ...] = (torch.rand(1, 3, 64, 64),)
    names = ["image"]
    if isinstance(model, torch.nn.Module):
        module = _OnnxWrapper(model)
    elif load_checkpoint(resolve_model(model)).get("kind") == "wct":
        raise ConfigError("WCT's eigendecompositions have no ONNX export; the WCT decoder runs on torch")
    elif load_checkpoint(resolve_model(model)).get("kind") == "adain":
        module = AdaINStylizer(resolve_model(model), device="cpu").onnx_module()
        example, names = (torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)), ["image", "style"]
    else:
        net = FastStylizer(resolve_model(model), device="cpu")
        module = _OnnxWrapper(net.net)
        # the onnxruntime path checks sizes against memory with this (it has no hooks to measure)
        metadata["painterly_bytes_per_pixel"] = f"{4 * net.check_memory.per_pixel():.1f}"
    module.eval()
    axes = {n: {0: "batch", 2: f"{n}_height", 3: f"{n}_width"} for n in names}
    axes["stylized"] = {0: "batch", 2: "height", 3: "width"}
    with atomic_path(out) as tmp, torch.no_grad():
        torch.onnx.export(module, example, str(tmp), input_names=names, output_names=["stylized"],
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
        if metadata:
            import onnx

            graph = onnx.load(str(tmp))
            for key, value in metadata.items():
                graph.metadata_props.add(key=key, value=value)
            onnx.save(graph, str(tmp))
    return out

"""Per-style networks on onnxruntime, without torch: the light path of ``painterly
fast`` (image in, image out, milliseconds after a ~0.1 s start).

The bundled models ship an ONNX copy beside each ``.pt`` (``scripts/export_bundled_onnx.py``
makes them; ``tests/test_fast.py`` holds them to the torch network). The graph takes
``image`` (B, 3, H, W) float32 in [0, 1], H and W >= 32, and returns ``stylized`` in
[0, 1]; smaller images are padded here as the torch path pads them.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from painterly.device import onnx_cpu_options
from painterly.errors import ConfigError
from painterly.methods.feedforward.bundled import MODELS_DIR, list_fast_models

__all__ = ["MIN_SIDE", "OnnxStylizer", "onnx_model_for", "onnxruntime_available"]

MIN_SIDE = 32  # as painterly.methods.feedforward.common.MIN_SIDE (instance norm at 1/8)


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def onnx_model_for(model: str | os.PathLike) -> Path | None:
    """The ONNX file for a bundled model name, a ``.pt`` with an ``.onnx`` beside it, or
    an ``.onnx`` path; None when there is none (the torch path is then used)."""
    p = Path(model)
    if p.suffix.lower() == ".onnx":
        return p if p.exists() else None
    if not p.exists() and str(model) in list_fast_models():
        p = MODELS_DIR / f"{model}.pt"
    candidate = p.with_suffix(".onnx")
    return candidate if candidate.exists() else None


class OnnxStylizer:
    """One per-style network on onnxruntime's CPU provider, all cores."""

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError("the ONNX path needs onnxruntime: pip install 'painterly[onnx]'") from None
        self.path = Path(path)
        try:
            self.session: Any = ort.InferenceSession(str(self.path), onnx_cpu_options(threads),
                                                     providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for unreadable graphs
            raise ConfigError(f"{self.path}: not a usable ONNX model ({str(exc).splitlines()[0][:160]})") from None
        inputs = [i.name for i in self.session.get_inputs()]
        if inputs != ["image"]:
            raise ConfigError(f"{self.path}: expected one input 'image' (a per-style network), got {inputs}")
        meta = self.session.get_modelmeta().custom_metadata_map
        # bytes per pixel measured on the torch network at export; a cautious guess without it
        self.bytes_per_pixel = float(meta.get("painterly_bytes_per_pixel", 4 * 600))

    def check_memory(self, height: int, width: int) -> None:
        """Raise :class:`MemoryBudgetError` when an image of ``height`` x ``width`` would
        not fit in host memory, with the largest long side that does."""
        import math

        from painterly.device import available_memory
        from painterly.errors import MemoryBudgetError

        have = int(available_memory() * 0.8) - (256 << 20)
        need = self.bytes_per_pixel * height * width
        if need <= have:
            return
        fit = int(max(height, width) * math.sqrt(max(have, 0) / need))
        raise MemoryBudgetError(f"{width}x{height} needs about {need / 2**30:.1f} GB but {max(have, 0) / 2**30:.1f} "
                                f"GB of memory is free; the largest size that fits is about {fit} px (size={fit})")

    @property
    def name(self) -> str:
        return self.path.stem

    def stylize_array(self, x: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) float32 in [0, 1] -> the same shape, stylised."""
        h, w = x.shape[-2:]
        ph, pw = max(0, MIN_SIDE - h), max(0, MIN_SIDE - w)
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="edge")
        y = self.session.run(None, {"image": np.ascontiguousarray(x, dtype=np.float32)})[0]
        return np.clip(y[..., :h, :w], 0, 1)

    def stylize(self, img: Image.Image) -> Image.Image:
        """An RGB image -> its stylised version, same size."""
        x = (np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0).transpose(2, 0, 1)[None]
        y = self.stylize_array(x)[0].transpose(1, 2, 0)
        return Image.fromarray((y * 255.0).round().astype(np.uint8), "RGB")

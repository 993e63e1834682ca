"""The interface every loss network implements."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import torch
from torch import nn

from painterly.backbones.weights import WeightsSpec

__all__ = ["Backbone", "memory_format_for"]


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
        self._elements_per_pixel: dict[tuple[str, ...], float] = {}

    def _init_normalization(self, spec: WeightsSpec) -> None:
        self.weights_spec = spec
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)

    def freeze(self) -> Backbone:
        """Eval mode, no gradients, weights in the memory format of their device."""
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        self._match_memory_format()
        return self

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        # every move (.to, .cuda, .cpu) also picks the weights' memory format for the new
        # device, once, here: forward never changes the module (threads may share it)
        module = super()._apply(fn, recurse)
        if not getattr(self, "_formatting", False):
            self._match_memory_format()
        return module

    def _match_memory_format(self) -> None:
        w = next((p for p in self.parameters() if p.dim() == 4), None)
        if w is None:
            return
        fmt = memory_format_for(w.device)
        if not w.is_contiguous(memory_format=fmt):
            self._formatting = True
            try:
                self.to(memory_format=fmt)  # type: ignore[call-overload]
            finally:
                self._formatting = False

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
        x = self.normalize(x).contiguous(memory_format=memory_format_for(x.device))
        return self._forward_taps(x, wanted, self.tap_names[last])

    def activation_elements_per_pixel(self, layers: tuple[str, ...]) -> float:
        """Activation elements the forward pass keeps per input pixel up to ``layers``,
        measured once per layer set with hooks on a small probe image."""
        if layers not in self._elements_per_pixel:
            count = 0

            def hook(_m: nn.Module, _i: object, out: object) -> None:
                nonlocal count
                if isinstance(out, torch.Tensor):
                    count += out.numel()

            leaves = [m for m in self.modules() if len(list(m.children())) == 0]
            handles = [m.register_forward_hook(hook) for m in leaves]
            probe = 64
            try:
                with torch.no_grad():
                    self(torch.zeros(1, 3, probe, probe, device=self.mean.device), layers)
            finally:
                for h in handles:
                    h.remove()
            self._elements_per_pixel[layers] = count / (probe * probe)
        return self._elements_per_pixel[layers]

    def _forward_taps(self, x: torch.Tensor, wanted: set[str], last: str) -> dict[str, torch.Tensor]:
        raise NotImplementedError

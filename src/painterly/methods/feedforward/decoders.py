"""The multi-level decoder's set-up, shared by the AdaIN and WCT trainers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from painterly.backbones import Backbone
from painterly.models.adain import AdaINDecoder

__all__ = ["encoder_geometry", "new_decoder"]


def encoder_geometry(encoder: Backbone, levels: Sequence[str]) -> tuple[list[int], list[int]]:
    """Channels and strides of the encoder's levels, from a probe pass."""
    probe = 64
    with torch.no_grad():
        feats = encoder(torch.zeros(1, 3, probe, probe, device=next(encoder.parameters()).device), levels)
    return [feats[n].shape[1] for n in levels], [probe // feats[n].shape[-1] for n in levels]


def new_decoder(encoder: Backbone, levels: Sequence[str], device: torch.device,
                lr: float) -> tuple[AdaINDecoder, torch.optim.Optimizer, dict[str, Any]]:
    """A fresh multi-level decoder for ``encoder``'s ``levels``, its Adam optimiser and
    the architecture record a checkpoint keeps (AdaIN and WCT training)."""
    channels, strides = encoder_geometry(encoder, levels)
    decoder = AdaINDecoder(channels, strides).to(device)
    arch = {"channels": channels, "strides": strides, "widths": list(decoder.widths), "levels": list(levels)}
    return decoder, torch.optim.Adam(decoder.parameters(), lr=lr), arch

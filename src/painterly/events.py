"""Progress events: one family, one callback signature.

Every long-running piece of painterly (image optimisation, network training, batches
of images, video frames) reports progress by calling ``callback(event)`` with a
small dataclass derived from :class:`Event`. The CLI progress bar
(``painterly.cli.progress``), the web server's job records and the Python API all
consume the same events (after crowsonkb's ``STIterate``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from PIL import Image

__all__ = ["Callback", "Event", "ItemEvent", "ProgressEvent", "TrainEvent", "notify"]


@dataclass(kw_only=True)
class Event:
    """Something finished ``step`` of ``total_steps`` units of work."""

    step: int  # 1-based, over the whole run
    total_steps: int
    elapsed: float = 0.0  # seconds since the run started
    losses: dict[str, float] = field(default_factory=dict)
    unit: str = "step"

    def image(self) -> Image.Image | None:
        """A preview of the work so far, where the event carries one."""
        return None


@dataclass(kw_only=True)
class ProgressEvent(Event):
    """One loss evaluation of an image optimisation (Gatys et al.)."""

    scale: int = 0  # 0-based index into the coarse-to-fine schedule
    n_scales: int = 1
    size: tuple[int, int] = (0, 0)  # (H, W) of the current scale
    current: torch.Tensor | None = field(default=None, repr=False)  # (1, 3, H, W) in [0, 1], detached

    def image(self) -> Image.Image | None:
        if self.current is None:
            return None
        from painterly.image.io import tensor_to_pil

        return tensor_to_pil(self.current)

    @property
    def description(self) -> str:
        return f"scale {self.scale + 1}/{self.n_scales} {self.size[1]}x{self.size[0]}"


@dataclass(kw_only=True)
class TrainEvent(Event):
    """One optimiser step of a network training."""

    history: list[dict[str, Any]] = field(repr=False, default_factory=list)


@dataclass(kw_only=True)
class ItemEvent(Event):
    """One image of a batch, or one frame of a video, is done (or skipped)."""

    item: str = ""  # the file, or the frame number
    skipped: str | None = None  # the reason, for an item that could not be done
    unit: str = "img"


Callback = Callable[[Event], None]


def notify(callback: Callable[[Any], None] | None, event: Event) -> None:
    """Call ``callback(event)`` when there is a callback."""
    if callback is not None:
        callback(event)

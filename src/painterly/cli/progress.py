"""The command line's progress bar: one consumer for every :class:`~painterly.events.Event`."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from painterly.events import Event, ProgressEvent

__all__ = ["ProgressBar"]


class ProgressBar:
    """A tqdm bar (ETA, rate) fed by events: ``bar(event)`` moves it to ``event.step``
    of ``event.total_steps``, shows the loss and, for optimisation, the scale.
    ``enabled=False`` gives a bar that shows nothing (``--quiet``)."""

    def __init__(self, desc: str = "", *, enabled: bool = True, unit: str = "step") -> None:
        self.desc, self.enabled, self.unit = desc, enabled, unit
        self._bar: Any = None

    def _open(self, event: Event) -> Any:
        from tqdm import tqdm

        return tqdm(total=event.total_steps or None, initial=max(0, event.step - 1), desc=self.desc,
                    unit=event.unit or self.unit, dynamic_ncols=True, file=sys.stderr, mininterval=0.5)

    def __call__(self, event: Event) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = self._open(event)
        bar = self._bar
        if event.total_steps and bar.total != event.total_steps:
            bar.total = event.total_steps
        if isinstance(event, ProgressEvent):
            bar.set_description(event.description, refresh=False)
        if "total" in event.losses:
            bar.set_postfix(loss=f"{event.losses['total']:.4g}", refresh=False)
        bar.update(event.step - bar.n)

    def write(self, message: str) -> None:
        """Print a line without breaking the bar."""
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)

    @property
    def n(self) -> int:
        return 0 if self._bar is None else int(self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

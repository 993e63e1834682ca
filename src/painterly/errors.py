"""Exceptions raised by painterly.

Every error a user can cause derives from :class:`PainterlyError`; the CLI prints its
message on one line and exits with code 2.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ImageError",
    "MemoryBudgetError",
    "NonFiniteLossError",
    "PainterlyError",
    "WeightsUnavailableError",
]


class PainterlyError(Exception):
    """Base class for errors caused by the user's input or environment."""


class ImageError(PainterlyError):
    """An input image is missing, unreadable, truncated or empty."""


class ConfigError(PainterlyError, ValueError):
    """An option has an invalid value (negative or NaN weight, unknown name, ...)."""


class WeightsUnavailableError(PainterlyError):
    """Pretrained weights are not on disk and cannot be downloaded."""


class MemoryBudgetError(PainterlyError):
    """The requested image size does not fit in the device's memory."""


class NonFiniteLossError(PainterlyError):
    """The loss became NaN or infinite; ``last_good`` holds the last finite image."""

    def __init__(self, message: str, last_good: object | None = None) -> None:
        super().__init__(message)
        self.last_good = last_good

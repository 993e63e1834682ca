"""Names of the image options, without the maths (the CLI builds its flags from these
before torch is imported)."""

from __future__ import annotations

from painterly.errors import ConfigError

__all__ = ["ORIGINAL_COLORS", "check_original_colors"]

ORIGINAL_COLORS = ("luminance", "histogram")


def check_original_colors(mode: str | None) -> None:
    """Raise :class:`ConfigError` unless ``mode`` is None or one of :data:`ORIGINAL_COLORS`."""
    if mode not in (None, *ORIGINAL_COLORS):
        raise ConfigError(f"unknown original_colors mode {mode!r}; choose from {', '.join(ORIGINAL_COLORS)}")

"""argparse value types the commands share: one-line usage errors for bad numbers."""

from __future__ import annotations

import argparse

__all__ = ["number", "numbers"]


def number(text: str) -> float:
    """argparse type: one number, or a one-line usage error."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def numbers(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated numbers (``0.7,0.3``)."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None

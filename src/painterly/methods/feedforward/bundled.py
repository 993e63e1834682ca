"""The feed-forward models shipped in the package (``painterly/fast_models/*.pt``)."""

from __future__ import annotations

import os
from pathlib import Path

from painterly.errors import ConfigError

__all__ = ["MODELS_DIR", "list_fast_models", "resolve_model"]

MODELS_DIR = Path(__file__).resolve().parents[2] / "fast_models"


def list_fast_models() -> dict[str, Path]:
    """Models shipped in the package: name -> file."""
    return {p.stem: p for p in sorted(MODELS_DIR.glob("*.pt"))}


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """A bundled model's name (``starry_night``) becomes its file; paths pass through."""
    p = Path(name_or_path)
    if not p.exists() and str(name_or_path) in list_fast_models():
        return list_fast_models()[str(name_or_path)]
    if not p.exists():
        names = ", ".join(list_fast_models()) or "none"
        raise ConfigError(f"{p}: no such model file (bundled models: {names})")
    return p

"""Built-in style images: public-domain paintings, 512 px on the long side.

Use their names wherever a style image is expected (``--style starry_night``).
"""

from __future__ import annotations

from pathlib import Path

from painterly.errors import ImageError

__all__ = ["BUILTIN_STYLES", "builtin_style_path", "resolve_style"]

_HERE = Path(__file__).resolve().parent

BUILTIN_STYLES: dict[str, str] = {
    "starry_night": "Vincent van Gogh, The Starry Night (1889)",
    "the_scream": "Edvard Munch, The Scream (1893)",
    "shipwreck": "J. M. W. Turner, The Shipwreck (1805)",
    "seated-nude": "Amedeo Modigliani, Seated Nude (1917)",
    "mondrian_cropped": "Piet Mondrian, composition (crop)",
}


def builtin_style_path(name: str) -> Path:
    if name not in BUILTIN_STYLES:
        raise KeyError(name)
    return _HERE / f"{name}.jpg"


def resolve_style(value: str) -> str:
    """A built-in style's name becomes its file; anything else is returned as given."""
    if value in BUILTIN_STYLES and not Path(value).exists():
        return str(builtin_style_path(value))
    if not Path(value).exists() and not Path(value).suffix:
        raise ImageError(f"{value}: no such file, and not a built-in style (built-in: {', '.join(BUILTIN_STYLES)})")
    return value

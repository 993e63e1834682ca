"""``painterly fast``'s options and their defaults, without torch (the CLI reads them
before deciding whether torch is needed at all)."""

from __future__ import annotations

from dataclasses import dataclass

from painterly.errors import ConfigError

__all__ = ["METHODS", "FastOptions"]

METHODS = ("adain", "wct")  # arbitrary-style methods of ``painterly fast --style``


@dataclass(kw_only=True)
class FastOptions:
    """How ``painterly fast`` (CLI, web, batch) runs a feed-forward model; the one place
    these defaults live."""

    model: str = "starry_night"  # a per-style network, when no style image is given
    adain_model: str = "adain"  # the AdaIN decoder for style images
    method: str = "adain"  # arbitrary style: "adain" or "wct" (benchmarks/fast.py measures both)
    wct_model: str = "wct"  # the WCT reconstruction decoder
    alpha: float = 1.0  # AdaIN content-style trade-off, 0 (the photo) to 1
    photo_alpha: float = 0.7  # the same with --photo: WCT's full strength paints flat skies (benchmarks/photo.py)
    style_scale: float = 1.0  # AdaIN style image size relative to the photo
    size: int | None = None  # resize the photo's long side first (None: as is)
    batch_size: int = 4
    face_pass: bool = True  # images and video (video: faces tracked, detected every 8th frame)

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 16:
            raise ConfigError(f"size must be at least 16 pixels, got {self.size}")
        if self.batch_size < 1:
            raise ConfigError(f"batch-size must be >= 1, got {self.batch_size}")
        if not self.style_scale > 0:
            raise ConfigError(f"style-scale must be > 0, got {self.style_scale}")
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must be between 0 and 1, got {self.alpha}")

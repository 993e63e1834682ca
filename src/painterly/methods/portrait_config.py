"""The portrait options (the CLI's ``--face-*`` flags), as settings: no torch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from painterly.errors import ConfigError

__all__ = ["PortraitConfig"]


@dataclass(kw_only=True)
class PortraitConfig:
    """Face-aware options (the CLI's ``--face-*`` flags). Weights are non-negative.

    ``face_aware``: None = on when a face is found. ``face_paint`` (0..1): how painted
    the face is. At 0 the face keeps close to the photo (content x
    ``face_content_weight``, style x ``face_style_weight``: the pre-0.2 default); at 1
    the skin, hair and outline take the style like the rest of the picture
    (``painted_face_style``) while the eyes, brows, nose and mouth keep their content
    weight (``face_parts_weight``), so the features stay where they are.
    ``identity_budget``: the dlib distance the painting may spend. It is measured
    before the last scale (the face paint is lowered there if the coarse result
    already spends too much) and at the end (extra rounds with less paint, at most
    ``budget_rounds``, while a face is over). None: no measurement-driven changes.
    """

    face_aware: bool | None = None
    face_paint: float = 1.0
    identity_budget: float | None = 0.35
    budget_rounds: int = 3
    face_content_weight: float = 4.0  # content-loss multiplier on the face at face_paint 0
    face_style_weight: float = 0.5  # style strength on the face at face_paint 0
    painted_face_style: float = 1.0  # style strength on the face at face_paint 1
    face_parts_weight: float = 4.0  # content-loss multiplier on eyes, brows, nose and mouth
    background_style_weight: float = 1.0  # style strength elsewhere
    background_style: str | None = None  # another style image for the background
    selim: bool = False  # portrait style: gain maps from the style face warped onto ours
    keep_identity: float | None = None  # the older name of identity_budget (when given, it wins)
    face_pass: bool | None = None  # None = automatic for faces under face_pass_below px
    face_pass_below: int = 128
    face_style_boost: float = 2.0  # the most the unspent identity budget may raise the face's style
    face_pass_iterations: int | None = 30  # one scale from the photo crop; None: a whole coarse-to-fine run
    min_face_size: float = 20.0

    def __post_init__(self) -> None:
        for name in ("face_content_weight", "face_style_weight", "background_style_weight", "painted_face_style",
                     "face_parts_weight", "face_style_boost"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise ConfigError(f"{name.replace('_', '-')} must be a finite number >= 0, got {v!r}")
        if not isinstance(self.face_paint, (int, float)) or not 0.0 <= self.face_paint <= 1.0:
            raise ConfigError(f"face-paint must be between 0 and 1, got {self.face_paint!r}")
        if self.keep_identity is not None:
            if not (self.keep_identity > 0) or not np.isfinite(self.keep_identity):
                raise ConfigError(f"keep-identity must be a finite number > 0, got {self.keep_identity}")
            self.identity_budget = self.keep_identity
        budget = self.identity_budget
        if budget is not None and (not (budget > 0) or not np.isfinite(budget)):
            raise ConfigError(f"identity-budget must be a finite number > 0, got {self.identity_budget}")
        if self.face_style_boost < 1:
            raise ConfigError(f"face-style-boost must be >= 1 (1: off), got {self.face_style_boost}")
        if self.face_pass_iterations is not None and self.face_pass_iterations < 1:
            raise ConfigError(f"face-pass-iterations must be >= 1, got {self.face_pass_iterations}")
        if self.budget_rounds < 0:
            raise ConfigError(f"budget-rounds must be >= 0, got {self.budget_rounds}")
        if self.min_face_size < 12:
            raise ConfigError(f"min-face-size must be at least 12 pixels, got {self.min_face_size}")

    def weights(self, paint: float) -> tuple[float, float, float]:
        """(content on the skin, style on the face, content on the features) at ``paint``."""
        skin = (1 - paint) * self.face_content_weight + paint * 1.0
        style = (1 - paint) * self.face_style_weight + paint * self.painted_face_style
        parts = max(skin, (1 - paint) * self.face_content_weight + paint * self.face_parts_weight)
        return skin, style, parts

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

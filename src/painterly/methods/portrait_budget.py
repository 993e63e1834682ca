"""The identity budget's schedule before the last scale, and whether a face pass follows.

dlib only measures here (:class:`~painterly.faces.identity.IdentityMeter`); it never
enters the objective or its gradients.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from painterly.faces.detection import Face
from painterly.faces.face_pass import PORTRAIT_FACE_PASS, FacePassConfig
from painterly.faces.identity import IdentityMeter
from painterly.image import tensor_to_pil
from painterly.losses import SpatialControl
from painterly.methods.portrait_config import PortraitConfig

__all__ = ["BudgetSchedule", "face_pass_config", "face_pass_follows", "worst"]

logger = logging.getLogger("painterly")


def worst(ids: Sequence[float | None]) -> float | None:
    known = [d for d in ids if d is not None]
    return max(known) if known else None


# identity spent before the last scale, in budgets, below which the face takes more style:
# the final distance ran 0.2-0.9x that measurement when a face pass follows (it restores the
# features), 0.8-1.1x without one (biden2's 186 px face at 512 px; any face at 4096 px)
_SLACK, _SLACK_NO_PASS = 1.35, 0.95


class BudgetSchedule:
    """Before the last scale, measure the identity the coarse scales have spent (on
    the image the last scale starts from): far over the budget and with no face pass to
    follow, lower the face paint (the last scale then holds the features harder); well
    under it, at full paint,
    raise the style on the face (up to ``face_style_boost``x), so the budget is spent
    on painting. dlib only measures here; it is never part of the objective."""

    def __init__(self, pcfg: PortraitConfig, photo: Image.Image, faces: Sequence[Face], spatial_for: Any) -> None:
        self.pcfg, self.photo, self.faces, self.spatial_for = pcfg, photo, list(faces), spatial_for
        self.paint = pcfg.face_paint
        self.face_pass_follows = face_pass_follows(pcfg, self.faces, photo.height, photo.width)
        self.style_boost = 1.0
        self.measured: float | None = None
        self.coarse_size: tuple[int, int] | None = None  # (W, H) of the scale before the last

    def __call__(self, scale: int, n_scales: int, image: torch.Tensor) -> SpatialControl | None:
        budget = self.pcfg.identity_budget
        if scale == n_scales - 2:
            self.coarse_size = (image.shape[-1], image.shape[-2])
        if budget is None or scale != n_scales - 1 or n_scales < 2 or self.paint == 0 or self.coarse_size is None:
            return None
        # the image comes up from the coarser scale, blurred: compare it with the photo
        # blurred the same way, or the blur alone would count as lost identity
        size = (image.shape[-1], image.shape[-2])
        reference = self.photo.resize(self.coarse_size, Image.Resampling.BOX).resize(size, Image.Resampling.BICUBIC)
        self.measured = worst(IdentityMeter(reference, self.faces)(tensor_to_pil(image)))
        if self.measured is None:
            return None
        # measured here, the distance ran 1.2-1.6x the final one (obama*, biden2 x the_scream
        # at face paint 1), so only a coarse result far over the budget loses paint here;
        # the final measurement and its extra rounds hold the budget. When a face pass
        # follows, it repaints the face from the photo's crop at a higher resolution and this
        # blurred small face says little (0.62-0.77 here, 0.22-0.33 at the end on 14 pairs):
        # the paint stays and only the final measurement takes it back
        spent = self.measured / budget
        if spent > 1.6 and not self.face_pass_follows:
            self.paint = max(0.0, self.paint * (1.0 - min(1.0, (spent - 1.6) / 0.8)))
            logger.info("identity distance %.3f before the last scale (budget %.2f): face paint %.2f",
                        self.measured, budget, self.paint)
        elif spent < (slack := _SLACK if self.face_pass_follows else _SLACK_NO_PASS) and self.paint == 1.0:
            # well under the budget: the face may take more style than the rest (a face
            # is smoother than a painting)
            self.style_boost = min(self.pcfg.face_style_boost, 1.0 + (slack - spent) / 0.35)
            logger.info("identity distance %.3f before the last scale (budget %.2f): face style x%.2f",
                        self.measured, budget, self.style_boost)
        return self.spatial_for(self.paint, 1.0, self.style_boost)


def face_pass_config(pcfg: PortraitConfig) -> FacePassConfig:
    return PORTRAIT_FACE_PASS.replace(below=pcfg.face_pass_below)


def face_pass_follows(pcfg: PortraitConfig, faces: Sequence[Face], h: int, w: int) -> bool:
    """Whether the face pass will re-stylise a face of ``faces`` (output pixels) in an
    output of ``h`` x ``w``: by the pass's own rule (:meth:`FacePassConfig.window`), so
    the budget's schedule never counts on a pass that then finds the face not worth
    enlarging (a 110 px face whose crop is already 372 px: zoom 1.03)."""
    if pcfg.face_pass is False:
        return False
    cfg = face_pass_config(pcfg)
    return any(cfg.window(f, h, w, force=bool(pcfg.face_pass)) is not None for f in faces)

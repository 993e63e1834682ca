"""The record of a stylisation run: what went in, what was resolved, what came out.

The CLI writes it beside the image (``OUT.json``); the web server keeps it with the
job (``GET /api/jobs/{id}/record``). Both build it here, so they agree.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from painterly.methods.gatys import Stylizer
    from painterly.methods.portrait import PortraitConfig, PortraitResult

__all__ = ["run_record"]


def run_record(
    portrait: PortraitResult,
    stylizer: Stylizer,
    *,
    content: str | os.PathLike,
    styles: Sequence[str | os.PathLike],
    output: str | os.PathLike | None = None,
    portrait_config: PortraitConfig | None = None,
) -> dict[str, Any]:
    """A JSON-ready dictionary for one run.

    ``portrait.result`` is the :class:`~painterly.methods.gatys.StylizeResult`;
    ``stylizer`` the :class:`~painterly.methods.gatys.Stylizer` that made it.
    """
    from painterly.version import __version__

    result = portrait.result
    return {
        "painterly": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "content": str(content),
        "styles": [str(s) for s in styles],
        "output": None if output is None else str(output),
        "backbone": {"name": result.backbone.name, "reason": result.backbone.reason,
                     "weights": stylizer.backbone.weights_path},
        "device": str(stylizer.device),
        "config": result.config.to_dict(),
        "content_layers": list(stylizer.content_layers),
        "style_layers": list(stylizer.style_layers),
        "layer_weights": list(stylizer.layer_weights),
        "final_losses": result.losses,
        "portrait": {
            "config": None if portrait_config is None else portrait_config.to_dict(),
            "face_aware": portrait.face_aware,
            "faces": [f.to_dict() for f in portrait.faces],
            "identity_distance": portrait.identity,
            "keep_identity_reached": portrait.keep_identity_reached,
            "face_content_weight_used": portrait.face_content_weight,
            "face_paint_used": portrait.face_paint,
            "identity_before_last_scale": portrait.identity_before_last_scale,
            "face_style_boost": portrait.face_style_boost,
            "notes": portrait.notes,
        },
        "steps": result.steps,
        "seconds": round(result.elapsed, 3),
        "interrupted": result.interrupted,
    }

"""Style-transfer algorithms: Gatys et al. optimisation (``gatys``, with ``portrait``
on top of it) and the feed-forward methods (``feedforward``)."""

from typing import TYPE_CHECKING

from painterly.lazy import lazy_exports

if TYPE_CHECKING:  # the real imports, for type checkers and IDEs
    from painterly.events import ProgressEvent
    from painterly.methods.config import LAYER_WEIGHT_PRESETS, GatysConfig
    from painterly.methods.gatys import Stylizer, StylizeResult, stylize

__getattr__ = lazy_exports(globals(), {
    "ProgressEvent": "painterly.events",
    "LAYER_WEIGHT_PRESETS": "painterly.methods.config",
    "GatysConfig": "painterly.methods.config",
    "Stylizer": "painterly.methods.gatys",
    "StylizeResult": "painterly.methods.gatys",
    "stylize": "painterly.methods.gatys",
})


__all__ = ["LAYER_WEIGHT_PRESETS", "GatysConfig", "ProgressEvent", "StylizeResult", "Stylizer", "stylize"]

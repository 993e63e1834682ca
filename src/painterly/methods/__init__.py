"""Style-transfer algorithms: Gatys et al. optimisation (``gatys``, with ``portrait``
on top of it) and the feed-forward methods (``feedforward``)."""

from painterly.events import ProgressEvent
from painterly.methods.config import LAYER_WEIGHT_PRESETS, GatysConfig
from painterly.methods.gatys import Stylizer, StylizeResult, stylize

__all__ = ["LAYER_WEIGHT_PRESETS", "GatysConfig", "ProgressEvent", "StylizeResult", "Stylizer", "stylize"]

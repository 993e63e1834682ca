"""Style-transfer algorithms, one per module."""

from painterly.methods.config import LAYER_WEIGHT_PRESETS, GatysConfig
from painterly.methods.gatys import Objective, ProgressEvent, Stylizer, StylizeResult, stylize

__all__ = ["LAYER_WEIGHT_PRESETS", "GatysConfig", "Objective", "ProgressEvent", "StylizeResult", "Stylizer", "stylize"]

"""painterly: neural style transfer that keeps faces recognisable."""

from painterly.backbones import create_backbone, list_backbones
from painterly.errors import PainterlyError
from painterly.methods import GatysConfig, ProgressEvent, Stylizer, StylizeResult, stylize

__version__ = "0.1.0"

__all__ = [
    "GatysConfig",
    "PainterlyError",
    "ProgressEvent",
    "StylizeResult",
    "Stylizer",
    "__version__",
    "create_backbone",
    "list_backbones",
    "stylize",
]

"""painterly: neural style transfer that keeps faces recognisable."""

from typing import TYPE_CHECKING

from painterly.errors import PainterlyError
from painterly.lazy import lazy_exports
from painterly.version import __version__

if TYPE_CHECKING:  # the real imports, for type checkers and IDEs
    from painterly.backbones import create_backbone, list_backbones
    from painterly.errors import PainterlyError
    from painterly.events import Event, ProgressEvent, TrainEvent
    from painterly.methods import GatysConfig, Stylizer, StylizeResult, stylize
    from painterly.methods.feedforward import (
        AdaINStylizer,
        AdaINTrainConfig,
        FastStylizer,
        FastTrainConfig,
        export_onnx,
        train_adain,
        train_transformer,
    )
    from painterly.version import __version__

__getattr__ = lazy_exports(globals(), {
    "create_backbone": "painterly.backbones",
    "list_backbones": "painterly.backbones",
    "Event": "painterly.events",
    "ProgressEvent": "painterly.events",
    "TrainEvent": "painterly.events",
    "GatysConfig": "painterly.methods",
    "Stylizer": "painterly.methods",
    "StylizeResult": "painterly.methods",
    "stylize": "painterly.methods",
    "AdaINStylizer": "painterly.methods.feedforward",
    "AdaINTrainConfig": "painterly.methods.feedforward",
    "FastStylizer": "painterly.methods.feedforward",
    "FastTrainConfig": "painterly.methods.feedforward",
    "export_onnx": "painterly.methods.feedforward",
    "train_adain": "painterly.methods.feedforward",
    "train_transformer": "painterly.methods.feedforward",
})


__all__ = [
    "AdaINStylizer",
    "AdaINTrainConfig",
    "Event",
    "FastStylizer",
    "FastTrainConfig",
    "GatysConfig",
    "PainterlyError",
    "ProgressEvent",
    "StylizeResult",
    "Stylizer",
    "TrainEvent",
    "__version__",
    "create_backbone",
    "export_onnx",
    "list_backbones",
    "stylize",
    "train_adain",
    "train_transformer",
]

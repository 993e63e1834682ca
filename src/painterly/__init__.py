"""painterly: neural style transfer that keeps faces recognisable."""

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

"""painterly: neural style transfer that keeps faces recognisable."""

from painterly.backbones import create_backbone, list_backbones
from painterly.errors import PainterlyError
from painterly.methods import GatysConfig, ProgressEvent, Stylizer, StylizeResult, stylize
from painterly.methods.adain import AdaINStylizer, AdaINTrainConfig, train_adain
from painterly.methods.fast import FastStylizer, FastTrainConfig, export_onnx, train_transformer

__version__ = "0.1.0"

__all__ = [
    "AdaINStylizer",
    "AdaINTrainConfig",
    "FastStylizer",
    "FastTrainConfig",
    "GatysConfig",
    "PainterlyError",
    "ProgressEvent",
    "StylizeResult",
    "Stylizer",
    "__version__",
    "create_backbone",
    "export_onnx",
    "list_backbones",
    "stylize",
    "train_adain",
    "train_transformer",
]

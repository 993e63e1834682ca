"""Feed-forward style transfer: train once, stylise in one forward pass.

``johnson``: a network per style (Johnson et al. 2016); ``adain``: one decoder for any
style (Huang and Belongie 2017); ``common``: what both share; ``training``: crops,
checkpoints and the training loop; ``bundled``: the models shipped in the package;
``onnx``: export; ``batch``: folders and videos.
"""

from typing import TYPE_CHECKING

from painterly.lazy import lazy_exports

if TYPE_CHECKING:  # the real imports, for type checkers and IDEs
    from painterly.methods.feedforward.adain import ADAIN_LEVELS, AdaINStylizer, AdaINTrainConfig, train_adain
    from painterly.methods.feedforward.bundled import list_fast_models, resolve_model
    from painterly.methods.feedforward.common import FastOptions, TrainResult
    from painterly.methods.feedforward.johnson import FastStylizer, FastTrainConfig, train_transformer
    from painterly.methods.feedforward.onnx import export_onnx

__getattr__ = lazy_exports(globals(), {
    "ADAIN_LEVELS": "painterly.methods.feedforward.adain",
    "AdaINStylizer": "painterly.methods.feedforward.adain",
    "AdaINTrainConfig": "painterly.methods.feedforward.adain",
    "train_adain": "painterly.methods.feedforward.adain",
    "list_fast_models": "painterly.methods.feedforward.bundled",
    "resolve_model": "painterly.methods.feedforward.bundled",
    "FastOptions": "painterly.methods.feedforward.common",
    "TrainResult": "painterly.methods.feedforward.common",
    "FastStylizer": "painterly.methods.feedforward.johnson",
    "FastTrainConfig": "painterly.methods.feedforward.johnson",
    "train_transformer": "painterly.methods.feedforward.johnson",
    "export_onnx": "painterly.methods.feedforward.onnx",
})


__all__ = [
    "ADAIN_LEVELS",
    "AdaINStylizer",
    "AdaINTrainConfig",
    "FastOptions",
    "FastStylizer",
    "FastTrainConfig",
    "TrainResult",
    "export_onnx",
    "list_fast_models",
    "resolve_model",
    "train_adain",
    "train_transformer",
]

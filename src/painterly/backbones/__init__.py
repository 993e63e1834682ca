"""Loss networks with named taps, behind one registry."""

from painterly.backbones.base import Backbone
from painterly.backbones.efficientnet import EfficientNetLite0
from painterly.backbones.registry import BackboneChoice, create_backbone, list_backbones, resolve_backbone_name
from painterly.backbones.vgg import VGG19
from painterly.backbones.weights import WeightsSpec, resolve_weights

__all__ = [
    "VGG19",
    "Backbone",
    "BackboneChoice",
    "EfficientNetLite0",
    "WeightsSpec",
    "create_backbone",
    "list_backbones",
    "resolve_backbone_name",
    "resolve_weights",
]

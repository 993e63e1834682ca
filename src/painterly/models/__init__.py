"""Plain ``nn.Module`` networks for feed-forward style transfer (no file IO here)."""

from painterly.models.adain import AdaINDecoder, adaptive_instance_norm, blend_adain, mean_std
from painterly.models.transformer_net import TransformerNet

__all__ = ["AdaINDecoder", "TransformerNet", "adaptive_instance_norm", "blend_adain", "mean_std"]

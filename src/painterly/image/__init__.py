"""Image loading, saving and colour utilities."""

from painterly.image.color import histogram_match, luminance, match_color_stats, rgb_to_yiq, yiq_to_rgb
from painterly.image.io import load_image, pil_to_tensor, resize_long_side, save_image, tensor_to_pil

__all__ = [
    "histogram_match",
    "load_image",
    "luminance",
    "match_color_stats",
    "pil_to_tensor",
    "resize_long_side",
    "rgb_to_yiq",
    "save_image",
    "tensor_to_pil",
    "yiq_to_rgb",
]

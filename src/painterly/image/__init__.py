"""Image loading, saving and colour utilities."""

from painterly.image.color import (
    ORIGINAL_COLORS,
    check_original_colors,
    histogram_match,
    luminance,
    luminance_matched,
    match_color_stats,
    original_colors,
    rgb_to_yiq,
    with_content_chroma,
    yiq_to_rgb,
)
from painterly.image.io import (
    ImageInput,
    decode_image,
    load_image,
    pil_to_tensor,
    resize_long_side,
    save_image,
    scaled_size,
    tensor_to_pil,
)

__all__ = [
    "ORIGINAL_COLORS",
    "ImageInput",
    "check_original_colors",
    "decode_image",
    "histogram_match",
    "load_image",
    "luminance",
    "luminance_matched",
    "match_color_stats",
    "original_colors",
    "pil_to_tensor",
    "resize_long_side",
    "rgb_to_yiq",
    "save_image",
    "scaled_size",
    "tensor_to_pil",
    "with_content_chroma",
    "yiq_to_rgb",
]

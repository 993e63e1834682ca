"""Image loading, saving and colour utilities."""

from typing import TYPE_CHECKING

from painterly.lazy import lazy_exports

if TYPE_CHECKING:  # the real imports, for type checkers and IDEs
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

__getattr__ = lazy_exports(globals(), {
    "ORIGINAL_COLORS": "painterly.image.color",
    "check_original_colors": "painterly.image.color",
    "histogram_match": "painterly.image.color",
    "luminance": "painterly.image.color",
    "luminance_matched": "painterly.image.color",
    "match_color_stats": "painterly.image.color",
    "original_colors": "painterly.image.color",
    "rgb_to_yiq": "painterly.image.color",
    "with_content_chroma": "painterly.image.color",
    "yiq_to_rgb": "painterly.image.color",
    "ImageInput": "painterly.image.io",
    "decode_image": "painterly.image.io",
    "load_image": "painterly.image.io",
    "pil_to_tensor": "painterly.image.io",
    "resize_long_side": "painterly.image.io",
    "save_image": "painterly.image.io",
    "scaled_size": "painterly.image.io",
    "tensor_to_pil": "painterly.image.io",
})


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

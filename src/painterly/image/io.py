"""Loading and saving images.

Everything inside painterly works on float32 tensors in [0, 1] with shape (1, 3, H, W).
Loading accepts what people actually have on disk: grayscale, palette, CMYK, 16-bit,
RGBA (alpha composited onto white, with a note) and EXIF-rotated photos.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard, Union, cast

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from painterly.errors import ImageError
from painterly.files import atomic_path, check_not_input

__all__ = [
    "MAX_PIXELS",
    "ImageInput",
    "check_pixels",
    "decode_image",
    "load_image",
    "pil_to_tensor",
    "resize_long_side",
    "save_image",
    "scaled_size",
    "tensor_to_pil",
]

logger = logging.getLogger("painterly")

if TYPE_CHECKING:
    import torch

# a runtime alias (py3.10); torch named by string so that image IO does not import it
ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray, "torch.Tensor"]


def _is_tensor(x: object) -> TypeGuard[torch.Tensor]:
    """A torch tensor, without importing torch (if torch is not loaded, x is none)."""
    torch_mod = sys.modules.get("torch")
    return torch_mod is not None and isinstance(x, torch_mod.Tensor)


def _to_rgb(img: Image.Image, name: str) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB, keeping 16-bit and float precision honest."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        if mode == "F" and arr.max() <= 1.0:
            hi = 1.0
        arr = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3]
        if alpha.min() < 255:
            logger.info("%s has an alpha channel; transparent areas were filled with white", name)
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


MAX_PIXELS = 178_956_970  # Pillow's decompression-bomb threshold (MAX_IMAGE_PIXELS)


def check_pixels(size: tuple[int, int], label: str, limit: int = MAX_PIXELS) -> None:
    """Raise :class:`ImageError` when an image of ``size`` (W, H) has more than ``limit`` pixels."""
    w, h = size
    if w * h > limit:
        raise ImageError(f"{label}: {w}x{h} is {w * h / 1e6:.0f} MP, over the {limit / 1e6:.0f} MP limit "
                         "(a decompression bomb?)")


def load_image(source: ImageInput, *, name: str | None = None) -> Image.Image:
    """Load an image as 8-bit RGB PIL image, applying EXIF orientation.

    Raises :class:`ImageError` with a one-line reason for missing files, directories,
    non-images, truncated files and empty images.
    """
    if source is None:
        raise ImageError(f"{name or 'image'}: none given (None)")
    if isinstance(source, Image.Image):
        img = source
        label = name or "image"
    elif isinstance(source, np.ndarray):
        arr = source
        label = name or "array"
        if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
            arr = np.moveaxis(arr, 0, -1)  # channels first (C, H, W), as torch keeps them: to (H, W, C)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
            raise ImageError(f"{label}: expected an (H, W), (H, W, 3|4) or (3|4, H, W) array, got shape {source.shape}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ImageError(f"{label}: the array holds NaN or infinite values")
        if arr.dtype != np.uint8:
            arr = np.clip(arr.astype(np.float64) * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr)
    elif _is_tensor(source):
        import torch

        label = name or "tensor"
        if source.dim() not in (3, 4) or source.shape[-3] != 3 or (source.dim() == 4 and source.shape[0] != 1):
            raise ImageError(f"{label}: expected a (3, H, W) or (1, 3, H, W) tensor in [0, 1], "
                             f"got {tuple(source.shape)}")
        if source.is_floating_point() and not torch.isfinite(source).all():
            raise ImageError(f"{label}: the tensor holds NaN or infinite values")
        return tensor_to_pil(source)
    else:
        path = Path(cast("str | os.PathLike[str]", source))
        label = name or str(path)
        if not path.exists():
            raise ImageError(f"{label}: no such file")
        if path.is_dir():
            raise ImageError(f"{label}: is a directory, expected an image file")
        if path.stat().st_size == 0:
            raise ImageError(f"{label}: file is empty (0 bytes)")
        return _decode(path, label)
    if img.width == 0 or img.height == 0:
        raise ImageError(f"{label}: image has zero size ({img.width}x{img.height})")
    return _to_rgb(img, label)


def decode_image(data: bytes, name: str = "image") -> Image.Image:
    """An image file's bytes -> 8-bit RGB, exactly as :func:`load_image` reads the file
    (EXIF orientation, the same checks and one-line errors)."""
    if not data:
        raise ImageError(f"{name}: file is empty (0 bytes)")
    return _decode(io.BytesIO(data), name)


def _decode(source: Path | io.BytesIO, label: str) -> Image.Image:
    try:
        with Image.open(source) as opened:
            check_pixels(opened.size, label)  # from the header, before anything is decoded
            opened.load()
            img = ImageOps.exif_transpose(opened) or opened
            img.load()
            img = img.copy()
    except UnidentifiedImageError:
        raise ImageError(f"{label}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{label}: too many pixels to decode safely (a decompression bomb?)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason:
            reason = "file is truncated or corrupt"
        raise ImageError(f"{label}: cannot read image: {reason}") from None
    if img.width == 0 or img.height == 0:
        raise ImageError(f"{label}: image has zero size ({img.width}x{img.height})")
    return _to_rgb(img, label)


def pil_to_tensor(img: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    """PIL RGB image -> float32 tensor in [0, 1], shape (1, 3, H, W)."""
    import torch

    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def tensor_to_pil(x: torch.Tensor) -> Image.Image:
    """Tensor in [0, 1], shape (1, 3, H, W) or (3, H, W) -> PIL RGB image."""
    if x.dim() == 4:
        x = x[0]
    arr = (x.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())
    return Image.fromarray(arr, "RGB")


def scaled_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(H, W) scaled so the longer side is ``long_side`` pixels (aspect kept, >= 1)."""
    s = long_side / max(height, width)
    return max(1, round(height * s)), max(1, round(width * s))


def resize_long_side(img: Image.Image, long_side: int) -> Image.Image:
    """Resize so that the longer side is ``long_side`` pixels (aspect kept, LANCZOS)."""
    w, h = img.size
    scale = long_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == img.size:
        return img
    return img.resize(size, Image.Resampling.LANCZOS)


def save_image(
    img: Image.Image | torch.Tensor,
    path: str | os.PathLike,
    *,
    protect: Iterable[str | os.PathLike] = (),
) -> Path:
    """Write an image atomically (temporary file + rename) and return its path.

    ``protect`` lists input files that must never be overwritten; writing over one of
    them raises :class:`ImageError` before anything is written.
    """
    out = Path(path)
    check_not_input(out, protect, "input image")
    if out.is_dir():
        raise ImageError(f"{out}: is a directory, expected an output file name")
    pil = tensor_to_pil(img) if _is_tensor(img) else cast(Image.Image, img)
    fmt = Image.registered_extensions().get(out.suffix.lower())
    if fmt is None:
        raise ImageError(f"{out}: unknown image extension {out.suffix!r} (use .png or .jpg)")
    with atomic_path(out) as tmp:
        pil.save(tmp, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return out

"""Reading uploads: images validated within the server's limits, and the style a fast
request names (an uploaded image or a built-in). Every route that takes files uses these,
and the fast routes run their work through :func:`run_exclusive`."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable

from fastapi import HTTPException, UploadFile
from PIL import Image, UnidentifiedImageError

from painterly.errors import PainterlyError
from painterly.styles import BUILTIN_STYLES, builtin_style_path
from painterly.web.settings import ServerSettings

__all__ = ["read_image", "read_upload", "run_exclusive", "style_source"]


def read_image(data: bytes, what: str, settings: ServerSettings) -> Image.Image:
    """Validate an upload as a real image within limits; raise HTTPException otherwise."""
    if not data:
        raise HTTPException(400, f"{what}: empty upload")
    if len(data) > settings.max_upload_bytes:
        raise HTTPException(413, f"{what}: {len(data) / 2**20:.1f} MB is over the {settings.max_upload_bytes >> 20} MB "
                                 "limit")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            w, h = probe.size
            if w * h > settings.max_pixels:
                raise HTTPException(413, f"{what}: {w}x{h} is over the {settings.max_pixels:,} pixel limit")
            probe.verify()
        img = Image.open(io.BytesIO(data))
        img.load()
    except HTTPException:
        raise
    except Image.DecompressionBombError:
        raise HTTPException(413, f"{what}: too many pixels to decode safely (a decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = "not an image" if isinstance(exc, UnidentifiedImageError) else f"unreadable image ({exc})"
        raise HTTPException(400, f"{what}: {reason}") from None
    if img.width == 0 or img.height == 0:
        raise HTTPException(400, f"{what}: zero-size image")
    from painterly.image import load_image

    return load_image(img, name=what)


async def read_upload(upload: UploadFile, what: str, settings: ServerSettings) -> bytes:
    data = await upload.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise HTTPException(413, f"{what}: over the {settings.max_upload_bytes >> 20} MB upload limit")
    return data


async def style_source(
    upload: UploadFile | None, name: str | None, settings: ServerSettings
) -> Image.Image | str | None:
    """The style of a fast request: the uploaded image, else the built-in ``name``'s file
    (a path, so style statistics are cached across requests), else None; 400 for an
    unknown name."""
    if upload is not None and upload.filename:
        return read_image(await read_upload(upload, "style", settings), "style", settings)
    if name:
        if name not in BUILTIN_STYLES:
            raise HTTPException(400, f"unknown style_name {name!r}; see /api/styles")
        return str(builtin_style_path(name))
    return None


async def run_exclusive(lock: asyncio.Lock, work: Callable[[], bytes]) -> bytes:
    """``work()`` on a worker thread, one at a time under ``lock``; a painterly error
    (bad input found while working) answers 400 with its one line."""
    async with lock:
        try:
            return await asyncio.to_thread(work)
        except PainterlyError as exc:
            raise HTTPException(400, str(exc)) from None

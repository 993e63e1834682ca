"""``POST /api/fast/video``: a short clip through a fast model, flow-steadied, faces
tracked, the audio kept; returns the mp4. Limits (bytes, seconds, pixels per frame)
answer 413 before any work."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, UploadFile
from fastapi.responses import Response

from painterly.errors import PainterlyError
from painterly.web.settings import ServerSettings
from painterly.web.uploads import read_upload, run_exclusive, style_source

__all__ = ["add_video_routes"]


def add_video_routes(app: FastAPI, settings: ServerSettings, lock: asyncio.Lock) -> None:
    @app.post("/api/fast/video", response_class=Response, responses={200: {"content": {"video/mp4": {}}}})
    async def fast_video(
        content: Annotated[UploadFile, File(description="a short clip")],
        model: Annotated[str | None, Form(description="a bundled per-style model")] = None,
        style: Annotated[UploadFile | None, File(description="any style image (AdaIN)")] = None,
        style_name: Annotated[str | None, Form(description="a built-in style, through AdaIN")] = None,
        size: Annotated[int | None, Form(ge=16)] = None,
        face_pass: Annotated[bool, Form()] = True,
        temporal: Annotated[bool, Form()] = True,
    ) -> Response:
        """Stylise a clip of at most ``max_video_seconds`` and ``max_video_pixels`` per
        frame (413 past them) and return it as an mp4."""
        from painterly.image.video import VIDEO_EXTENSIONS, probe_video
        from painterly.methods.feedforward import list_fast_models

        data = await read_upload(content, "content", settings)
        if not data:
            raise HTTPException(400, "content: empty upload")
        suffix = Path(content.filename or "clip.mp4").suffix.lower()
        suffix = suffix if suffix in VIDEO_EXTENSIONS else ".mp4"
        style_img = await style_source(style, style_name, settings)
        if style_img is None and (model is None or model not in list_fast_models() or model in ("adain", "wct")):
            raise HTTPException(400, "give a bundled model (see /api/fast/models), a style image or a style_name")
        if size is not None and size > settings.max_size:
            raise HTTPException(413, f"size {size} is over this server's limit of {settings.max_size}")
        with tempfile.TemporaryDirectory(prefix="painterly-video-") as tmp:
            src, dst = Path(tmp) / f"in{suffix}", Path(tmp) / "out.mp4"
            src.write_bytes(data)
            try:
                info = probe_video(src)
            except PainterlyError as exc:
                raise HTTPException(400, f"content: {str(exc).split(': ', 1)[-1]}") from None
            w, h = info.size
            seconds = (info.n_frames or 0) / info.fps if info.fps else 0.0
            if seconds > settings.max_video_seconds:
                raise HTTPException(413, f"content: {seconds:.1f} s is over the {settings.max_video_seconds:g} s "
                                         "limit for clips")
            if w * h > settings.max_video_pixels:
                raise HTTPException(413, f"content: {w}x{h} frames are over the {settings.max_video_pixels:,} "
                                         "pixel limit for clips")

            def work() -> bytes:
                _stylize_clip(src, dst, model, style_img, size, face_pass, temporal, settings.device)
                return dst.read_bytes()

            body = await run_exclusive(lock, work)
        return Response(body, media_type="video/mp4")


def _stylize_clip(src: Path, dst: Path, model: str | None, style: Any, size: int | None, face_pass: bool,
                  temporal: bool, device: str) -> None:
    from painterly.faces.face_pass import FacePass
    from painterly.image.flow import TemporalBlend
    from painterly.methods.feedforward import AdaINStylizer, FastStylizer
    from painterly.methods.feedforward.batch import stylize_video

    fp = FacePass.fast(video=True, device=device) if face_pass else None
    if style is not None:
        adain = AdaINStylizer(device=device)

        def fn(x: Any, masks: Any) -> Any:
            return adain.stylize_batch(x, [style], face_pass=fp)

        check = adain.check_memory
    else:
        net = FastStylizer(str(model), device=device)

        def fn(x: Any, masks: Any) -> Any:
            return net.stylize_tensor(x, face_pass=fp)

        check = net.check_memory
    stylize_video(fn, src, dst, size=size, check_size=check, temporal=TemporalBlend() if temporal else None)

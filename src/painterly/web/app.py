"""HTTP API and page for stylisation jobs (FastAPI).

    painterly serve --port 8000 --data-dir ~/.painterly-server

Uploads are validated as real images (size and pixel limits, 413; unreadable, 400),
stored under the data dir by job id (never a user path), run by a bounded job queue
(429 when full), and reported through status, server-sent events with preview
thumbnails, and a PNG download.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi_offline import FastAPIOffline
from PIL import Image

from painterly.errors import ConfigError
from painterly.image.color import check_original_colors
from painterly.methods.config import GatysConfig
from painterly.methods.feedforward.common import FastOptions
from painterly.methods.portrait import PortraitConfig
from painterly.styles import BUILTIN_STYLES, builtin_style_path
from painterly.version import __version__
from painterly.web.jobs import Job, JobManager, QueueFullError
from painterly.web.runner import PORTRAIT_OPTIONS, PRESETS, job_runner
from painterly.web.security import RateLimiter, install
from painterly.web.settings import ServerSettings
from painterly.web.uploads import read_image, read_upload, run_exclusive, style_source

__all__ = ["ServerSettings", "create_app"]

logger = logging.getLogger("painterly")
_DEFAULTS = GatysConfig()  # form defaults come from the library, as the CLI's do
_FAST = FastOptions()
_PORTRAIT = PortraitConfig()
STATIC = Path(__file__).resolve().parent / "static"


def create_app(settings: ServerSettings, manager: JobManager | None = None) -> FastAPI:
    """The FastAPI app: the page, built-in styles, stylisation jobs, fast previews and
    face detection (each group of routes added by its own function below)."""
    if manager is None and settings.ray:
        from painterly.web.ray_runner import ray_job_runner

        # every queued job gets a thread that waits on its Ray task; the cluster decides how many run
        manager = JobManager(settings.data_dir, concurrency=settings.queue_size, queue_size=settings.queue_size,
                             retention_s=settings.retention_s,
                             runner=ray_job_runner(settings.device, settings.ray_address, cpus=settings.ray_cpus))
    jobs = manager or JobManager(settings.data_dir, concurrency=settings.concurrency,
                                 queue_size=settings.queue_size, retention_s=settings.retention_s,
                                 runner=job_runner(settings.device))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.close()

    app = FastAPIOffline(title="painterly", version=__version__, lifespan=lifespan,
                         description="Neural style transfer jobs: upload a photo and a painting, watch, download.")
    app.state.jobs = jobs
    limiter = RateLimiter(settings.rate_per_minute) if settings.rate_per_minute > 0 else None
    install(app, token=settings.token, limiter=limiter)
    _page_routes(app)
    _job_routes(app, jobs, settings)
    _fast_routes(app, settings)
    _face_routes(app, settings)
    return app


def _page_routes(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text())

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        path = (STATIC / name).resolve()
        if path.parent != STATIC or not path.is_file():
            raise HTTPException(404, "not found")
        return FileResponse(path)

    @app.get("/api/styles")
    def styles() -> list[dict[str, str]]:
        """Built-in styles: name, title, and a URL of the image."""
        return [{"name": n, "title": t, "url": f"/api/styles/{n}.jpg"} for n, t in BUILTIN_STYLES.items()]

    @app.get("/api/styles/{name}.jpg")
    def style_image(name: str) -> FileResponse:
        if name not in BUILTIN_STYLES:
            raise HTTPException(404, f"no built-in style {name!r}")
        return FileResponse(builtin_style_path(name), media_type="image/jpeg")


def _check_colors(original_colors: str | None) -> None:
    try:
        check_original_colors(original_colors or None)
    except ConfigError as exc:
        raise HTTPException(400, str(exc)) from None


def _job_routes(app: FastAPI, jobs: JobManager, settings: ServerSettings) -> None:
    @app.post("/api/jobs", status_code=202)
    async def create_job(
        content: Annotated[UploadFile, File(description="the photo")],
        style: Annotated[list[UploadFile] | None, File(description="style image(s)")] = None,
        style_name: Annotated[str | None, Form(description="a built-in style instead of an upload")] = None,
        size: Annotated[int, Form(ge=64)] = 384,
        style_weight: Annotated[float, Form(ge=0)] = _DEFAULTS.style_weight,
        content_weight: Annotated[float, Form(ge=0)] = _DEFAULTS.content_weight,
        tv_weight: Annotated[float, Form(ge=0)] = _DEFAULTS.tv_weight,
        iterations: Annotated[int | None, Form(ge=0)] = None,
        original_colors: Annotated[str | None, Form()] = None,
        face_aware: Annotated[bool | None, Form()] = None,
        face_paint: Annotated[float, Form(ge=0, le=1)] = _PORTRAIT.face_paint,
        preset: Annotated[str | None, Form(description="'sketch': a pencil sketch, no painting needed")] = None,
    ) -> JSONResponse:
        """Queue a stylisation. 202 with the job; 400 bad input; 413 too large; 429 queue full."""
        if size > settings.max_size:
            raise HTTPException(413, f"size {size} is over this server's limit of {settings.max_size} px")
        if iterations is not None and iterations > settings.max_iterations:
            raise HTTPException(413, f"iterations {iterations} is over this server's limit of "
                                     f"{settings.max_iterations}")
        _check_colors(original_colors)
        uploads = [s for s in (style or []) if s.filename]
        if preset not in (None, "", *PRESETS):
            raise HTTPException(400, f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        if not uploads and not style_name and not preset:
            raise HTTPException(400, "give a style image or a built-in style_name")
        if style_name and style_name not in BUILTIN_STYLES:
            raise HTTPException(400, f"unknown style_name {style_name!r}; see /api/styles")
        if jobs.pending() >= settings.queue_size:
            raise HTTPException(429, "the queue is full; try again later")
        content_img = read_image(await read_upload(content, "content", settings), "content", settings)
        style_imgs = [read_image(await read_upload(s, f"style {i + 1}", settings), f"style {i + 1}", settings)
                      for i, s in enumerate(uploads)]
        if style_name:
            style_imgs.insert(0, Image.open(builtin_style_path(style_name)).convert("RGB"))
        options: dict[str, Any] = {"size": size, "style_weight": style_weight, "content_weight": content_weight,
                                   "tv_weight": tv_weight}
        if iterations is not None:
            options["iterations"] = iterations
            options["coarse_iterations"] = iterations
        if original_colors:
            options["original_colors"] = original_colors
        if face_aware is not None:
            options["face_aware"] = face_aware
        options["face_paint"] = face_paint
        if preset:
            options["preset"] = preset
        try:
            GatysConfig(**{k: v for k, v in options.items() if k not in (*PORTRAIT_OPTIONS, "preset")})
        except ConfigError as exc:
            raise HTTPException(400, str(exc)) from None
        job_id = jobs.new_id()
        job_dir = jobs.job_dir(job_id)
        job_dir.mkdir(parents=True)
        content_img.save(job_dir / "content.png")
        for i, img in enumerate(style_imgs):
            img.save(job_dir / f"style_{i:02d}.png")
        try:
            job = jobs.submit(job_id, {**options, "style_name": style_name} if style_name else options)
        except QueueFullError as exc:
            raise HTTPException(429, str(exc)) from None
        job.options.pop("style_name", None)
        return JSONResponse(job.public(), status_code=202, headers={"Location": f"/api/jobs/{job_id}"})

    def _job(job_id: str) -> Job:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    @app.get("/api/jobs/{job_id}")
    async def job_status(job_id: str) -> dict[str, Any]:  # async: no thread-pool hop for a dict read
        """State, progress, loss terms and identity distance (portraits)."""
        return _job(job_id).public()

    @app.get("/api/jobs/{job_id}/events")
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events: a ``progress`` event on every change (with a preview
        thumbnail when there is a new one), then one ``end`` event."""
        job = _job(job_id)

        async def stream() -> AsyncIterator[str]:
            seen, sent_preview = -1, None
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                if await request.is_disconnected():
                    return
                if job.version != seen:
                    seen = job.version
                    data = job.public()
                    if job.preview and job.preview != sent_preview:
                        data["preview"] = sent_preview = job.preview
                    yield f"event: progress\ndata: {json.dumps(data)}\n\n"
                if job.state in ("done", "failed", "cancelled"):
                    yield f"event: end\ndata: {json.dumps(job.public())}\n\n"
                    return
                await asyncio.sleep(0.25)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/api/jobs/{job_id}/result", response_class=FileResponse)
    def job_result(job_id: str) -> FileResponse:
        """The stylised PNG; 409 while the job is not done."""
        job = _job(job_id)
        if job.state != "done":
            raise HTTPException(409, f"job is {job.state}" + (f": {job.error}" if job.error else ""))
        path = jobs.job_dir(job_id) / "result.png"
        if not path.is_file():
            raise HTTPException(410, "the result has been removed")
        return FileResponse(path, media_type="image/png", filename=f"painterly-{job_id}.png")

    @app.get("/api/jobs/{job_id}/record")
    def job_record(job_id: str) -> JSONResponse:
        """The run's record (resolved configuration, backbone, losses, faces, identity,
        time), as ``painterly stylize`` writes beside its output; 409 until done."""
        job = _job(job_id)
        if job.state != "done":
            raise HTTPException(409, f"job is {job.state}")
        path = jobs.job_dir(job_id) / "record.json"
        if not path.is_file():
            raise HTTPException(410, "the record has been removed")
        return JSONResponse(json.loads(path.read_text()))

    @app.post("/api/jobs/{job_id}/cancel")
    def job_cancel(job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job (no effect on a finished one)."""
        _job(job_id)
        job = jobs.cancel(job_id)
        assert job is not None
        return job.public()


def _fast_routes(app: FastAPI, settings: ServerSettings) -> None:
    fast_cache: dict[str, Any] = {}
    fast_lock = asyncio.Lock()  # one forward pass at a time: they take milliseconds, threads would fight for cores
    from painterly.web.video_api import add_video_routes

    add_video_routes(app, settings, fast_lock)

    @app.get("/api/fast/models")
    def fast_models() -> list[dict[str, str]]:
        """Bundled feed-forward models (``adain`` and ``wct`` take any style)."""
        from painterly.methods.feedforward.bundled import list_fast_models

        return [{"name": n, "kind": n if n in ("adain", "wct") else "style"} for n in list_fast_models()]

    @app.post("/api/fast", response_class=Response, responses={200: {"content": {"image/png": {}}}})
    async def fast(
        content: Annotated[UploadFile, File(description="the photo")],
        model: Annotated[str | None, Form(description="a bundled per-style model (see /api/fast/models)")] = None,
        style: Annotated[UploadFile | None, File(description="any style image (AdaIN)")] = None,
        style_name: Annotated[str | None, Form(description="a built-in style, through AdaIN")] = None,
        alpha: Annotated[float | None, Form(ge=0, le=1)] = None,
        size: Annotated[int | None, Form(ge=16)] = None,
        original_colors: Annotated[str | None, Form()] = None,
        face_pass: Annotated[bool, Form()] = _FAST.face_pass,
        method: Annotated[str | None, Form()] = None,
        photo: Annotated[bool, Form()] = False,
    ) -> Response:
        """Stylise in one forward pass and return the PNG (milliseconds to a second).
        With a style image: ``method`` adain or wct; ``photo`` photorealistic (WCT and
        a guided filter)."""
        from painterly.methods.feedforward import AdaINStylizer, FastStylizer, list_fast_models
        from painterly.methods.feedforward.options import METHODS

        chosen = method or ("wct" if photo else _FAST.method)
        strength = alpha if alpha is not None else _FAST.photo_alpha if photo else _FAST.alpha
        if chosen not in METHODS:
            raise HTTPException(400, f"unknown method {method!r}; choose from {', '.join(METHODS)}")

        img = read_image(await read_upload(content, "content", settings), "content", settings)
        if size is not None and size > settings.max_size:
            raise HTTPException(413, f"size {size} is over this server's limit of {settings.max_size}")
        if size is None and max(img.size) > settings.max_size:
            size = settings.max_size
        _check_colors(original_colors)
        style_img = await style_source(style, style_name, settings)
        if style_img is None and model is None:
            raise HTTPException(400, "give a model, a style image or a style_name")
        if style_img is None and (method is not None or photo):
            raise HTTPException(400, "method and photo apply to a style image")
        if style_img is None and (model not in list_fast_models() or model in ("adain", "wct")):
            raise HTTPException(400, f"unknown model {model!r}; see /api/fast/models")
        colors = original_colors or None

        def work() -> bytes:
            key = (_FAST.wct_model if chosen == "wct" else _FAST.adain_model) if style_img is not None else str(model)
            if key not in fast_cache:
                if style_img is None:
                    fast_cache[key] = FastStylizer(key, device=settings.device)
                elif chosen == "wct":
                    from painterly.methods.feedforward.wct import WCTStylizer

                    fast_cache[key] = WCTStylizer(key, device=settings.device)
                else:
                    fast_cache[key] = AdaINStylizer(key, device=settings.device)
            st = fast_cache[key]
            if isinstance(st, AdaINStylizer):
                assert style_img is not None
                out = st.stylize(img, style_img, alpha=strength, size=size, original_colors=colors, face_pass=face_pass,
                                 photo=photo)
            else:
                out = st.stylize(img, size=size, original_colors=colors, face_pass=face_pass)
            buf = io.BytesIO()
            out.save(buf, format="PNG")
            return buf.getvalue()

        return Response(await run_exclusive(fast_lock, work), media_type="image/png")


def _face_routes(app: FastAPI, settings: ServerSettings) -> None:
    faces_lock = asyncio.Lock()

    @app.post("/api/faces")
    async def faces(image: Annotated[UploadFile, File()]) -> dict[str, Any]:
        """Face detection on an uploaded image: boxes, scores, five landmarks."""
        img = read_image(await read_upload(image, "image", settings), "image", settings)
        from painterly.faces.detection import detect, detect_on_copy

        scale = math.sqrt(settings.face_pixels / (img.width * img.height))
        async with faces_lock:  # one detection at a time: memory stays bounded under parallel requests
            found = await asyncio.to_thread(detect_on_copy, detect, img, scale)
        return {"width": img.width, "height": img.height, "faces": [f.to_dict() for f in found]}

"""What the server does to every request before a route sees it: security headers,
an optional bearer token, a per-client submission rate limit, and validation errors
as 400 (the README's promise) instead of FastAPI's 422."""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

__all__ = ["PAGE_CSP", "RateLimiter", "install"]

PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; script-src 'self'; "
            "style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
# Swagger UI and ReDoc (served from the package, no CDN) start from inline scripts
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc", "/static-offline-docs")
# submissions: the requests that make the server work
LIMITED = {("POST", "/api/jobs"), ("POST", "/api/fast"), ("POST", "/api/faces")}
# what a browser fetches without headers (images, the page) stays open; the token guards the API
OPEN_PREFIXES = ("/api/styles",)


class RateLimiter:
    """A token bucket per client address: ``per_minute`` submissions, ``burst`` at once."""

    def __init__(self, per_minute: float, burst: int | None = None) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, math.ceil(per_minute / 6)))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str, now: float | None = None) -> float:
        """0 when ``client`` may submit now (and counts it), else seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self.rate if self.rate > 0 else 3600.0


def _token_ok(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else request.query_params.get("token", "")
    return hmac.compare_digest(given.encode(), token.encode())


def install(app: FastAPI, *, token: str | None, limiter: RateLimiter | None) -> None:
    """Add the checks and headers to ``app``."""

    @app.exception_handler(RequestValidationError)
    async def validation_400(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=400)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if token and path.startswith("/api/") and not path.startswith(OPEN_PREFIXES) and not _token_ok(request, token):
            response: Response = JSONResponse({"detail": "a bearer token is needed (Authorization: Bearer ...)"},
                                              status_code=401, headers={"WWW-Authenticate": "Bearer"})
        elif limiter is not None and (request.method, path) in LIMITED and (
                wait := limiter.take(request.client.host if request.client else "?")) > 0:
            response = JSONResponse({"detail": f"too many submissions from this address; retry in {wait:.0f} s"},
                                    status_code=429, headers={"Retry-After": str(max(1, math.ceil(wait)))})
        else:
            response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Content-Security-Policy"] = DOCS_CSP if path.startswith(DOCS_PATHS) else PAGE_CSP
        return response

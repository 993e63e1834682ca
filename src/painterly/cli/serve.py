"""``painterly serve``: the web page and HTTP API on this machine."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from painterly.errors import ConfigError

__all__ = ["add_parser", "run"]


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "painterly" / "server"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("serve", help="web page and HTTP API for stylisation jobs")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data-dir", default=None, help=f"uploads, results and the job database (default "
                                                    f"{_default_data_dir()})")
    p.add_argument("--concurrency", type=int, default=1, help="jobs run at once (default 1)")
    p.add_argument("--queue-size", type=int, default=8, help="jobs queued or running before 429 (default 8)")
    p.add_argument("--max-upload-mb", type=float, default=20.0)
    p.add_argument("--max-pixels", type=int, default=40_000_000)
    p.add_argument("--max-size", type=int, default=1024, help="largest output long side a job may ask for")
    p.add_argument("--keep-hours", type=float, default=24.0, help="results are removed after this (default 24)")
    p.add_argument("--device", default="auto")
    return p


def run(args: argparse.Namespace) -> int:
    for name in ("concurrency", "queue_size", "max_pixels", "max_size"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be 1-65535, got {args.port}")
    if args.max_upload_mb <= 0 or args.keep_hours <= 0:
        raise ConfigError("--max-upload-mb and --keep-hours must be > 0")
    import uvicorn

    from painterly.web.app import ServerSettings, create_app

    data_dir = Path(args.data_dir) if args.data_dir else _default_data_dir()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--data-dir {data_dir}: {exc.strerror}") from None
    settings = ServerSettings(
        data_dir=data_dir, concurrency=args.concurrency, queue_size=args.queue_size,
        max_upload_bytes=int(args.max_upload_mb * 2**20), max_pixels=args.max_pixels, max_size=args.max_size,
        retention_s=args.keep_hours * 3600, device=args.device,
    )
    print(f"painterly: serving on http://{args.host}:{args.port} (API docs at /docs), data in {data_dir}")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0

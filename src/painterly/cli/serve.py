"""``painterly serve``: the web page and HTTP API on this machine."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from painterly.errors import ConfigError
from painterly.web.settings import ServerSettings

__all__ = ["add_parser", "is_loopback", "run"]

_DEFAULTS = ServerSettings(data_dir=Path("."))


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "painterly" / "server"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("serve", help="web page and HTTP API for stylisation jobs")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data-dir", default=None, help=f"uploads, results and the job database (default "
                                                    f"{_default_data_dir()})")
    d = _DEFAULTS
    p.add_argument("--concurrency", type=int, default=d.concurrency, help=f"jobs run at once (default {d.concurrency})")
    p.add_argument("--queue-size", type=int, default=d.queue_size,
                   help=f"jobs queued or running before 429 (default {d.queue_size})")
    p.add_argument("--max-upload-mb", type=float, default=d.max_upload_bytes / 2**20)
    p.add_argument("--max-pixels", type=int, default=d.max_pixels)
    p.add_argument("--max-size", type=int, default=d.max_size, help="largest output long side a job may ask for")
    p.add_argument("--keep-hours", type=float, default=d.retention_s / 3600,
                   help=f"results are removed after this (default {d.retention_s / 3600:g})")
    p.add_argument("--device", default=d.device)
    p.add_argument("--token", default=None,
                   help="require 'Authorization: Bearer TOKEN' on the API (default: $PAINTERLY_TOKEN, else none)")
    p.add_argument("--rate-limit", type=float, default=_DEFAULTS.rate_per_minute, metavar="N",
                   help=f"submissions per minute per client address, 0 = no limit "
                        f"(default {_DEFAULTS.rate_per_minute:g})")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run jobs as Ray tasks: on an embedded local cluster, or on the cluster at ADDRESS "
                        "(host:port); concurrency is then the cluster's")
    p.add_argument("--ray-cpus", type=float, default=_DEFAULTS.ray_cpus,
                   help=f"CPUs per job on Ray (default {_DEFAULTS.ray_cpus:g})")
    return p


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    for name in ("concurrency", "queue_size", "max_pixels", "max_size"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be 1-65535, got {args.port}")
    if args.max_upload_mb <= 0 or args.keep_hours <= 0:
        raise ConfigError("--max-upload-mb and --keep-hours must be > 0")
    if not args.rate_limit >= 0:
        raise ConfigError(f"--rate-limit must be >= 0, got {args.rate_limit}")
    token = args.token or os.environ.get("PAINTERLY_TOKEN") or None
    if not is_loopback(args.host):
        print(f"painterly: warning: listening on {args.host}, not only this machine: anyone who can reach it can "
              + ("submit jobs with the token" if token else "submit jobs; set --token or $PAINTERLY_TOKEN"),
              file=sys.stderr)
    import uvicorn

    from painterly.web.app import create_app

    data_dir = Path(args.data_dir) if args.data_dir else _default_data_dir()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--data-dir {data_dir}: {exc.strerror}") from None
    settings = ServerSettings(
        data_dir=data_dir, concurrency=args.concurrency, queue_size=args.queue_size,
        max_upload_bytes=int(args.max_upload_mb * 2**20), max_pixels=args.max_pixels, max_size=args.max_size,
        retention_s=args.keep_hours * 3600, device=args.device, token=token, rate_per_minute=args.rate_limit,
        ray=args.ray is not None, ray_address=args.ray or None, ray_cpus=args.ray_cpus,
    )
    if args.ray is not None and args.ray_cpus <= 0:
        raise ConfigError("--ray-cpus must be > 0")
    app = create_app(settings)  # joins Ray here when asked, so a bad --ray address fails before serving
    print(f"painterly: serving on http://{args.host}:{args.port} (API docs at /docs), data in {data_dir}"
          + (f", jobs on Ray ({args.ray or 'embedded cluster'})" if settings.ray else ""))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0

"""The server's settings and their defaults (``painterly serve`` reads its flags'
defaults from here), without importing the web framework."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServerSettings"]


@dataclass
class ServerSettings:
    data_dir: Path
    concurrency: int = 1
    queue_size: int = 8
    max_upload_bytes: int = 20 << 20
    max_pixels: int = 40_000_000
    max_size: int = 1024  # largest output long side a job may ask for
    token: str | None = None  # bearer token for the API (None: open, as on loopback)
    rate_per_minute: float = 30.0  # submissions per client address (0: no limit)
    face_pixels: int = 4_000_000  # /api/faces detects on a copy scaled down to this (MTCNN needs no 40 MP)
    max_iterations: int = 1000
    max_video_seconds: float = 10.0  # /api/fast/video: clips longer than this are refused (413)
    max_video_pixels: int = 1280 * 720  # ... and frames larger than this
    retention_s: float = 24 * 3600
    device: str = "auto"
    ray: bool = False  # run jobs as Ray tasks (concurrency then bounded by the cluster)
    ray_address: str | None = None  # None with ray=True: an embedded local cluster
    ray_cpus: float = 2.0  # CPUs per job on Ray

"""Pretrained-weight records and their resolution.

Resolution order (fixed): explicit path -> environment variable -> torch hub cache ->
bundled Python package -> download (with a progress bar) when allowed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from painterly.errors import WeightsUnavailableError

__all__ = ["WeightsSpec", "hub_checkpoint_dir", "load_state_dict", "resolve_weights"]


@dataclass(frozen=True)
class WeightsSpec:
    """Where a backbone's weights come from and how its inputs are normalised."""

    name: str
    filename: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    license: str
    url: str | None = None
    sha256_prefix: str | None = None
    package: str | None = None
    package_path: str | None = None  # path inside the package's folder
    env_var: str | None = None


def hub_checkpoint_dir() -> Path:
    """The torch hub checkpoint folder (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _package_file(spec: WeightsSpec) -> Path | None:
    if spec.package is None or spec.package_path is None:
        return None
    found = importlib.util.find_spec(spec.package)
    if found is None or found.origin is None:
        return None
    path = Path(found.origin).parent / spec.package_path
    return path if path.is_file() else None


def find_local_weights(spec: WeightsSpec, path: str | os.PathLike | None = None) -> Path | None:
    """The first weights file found on disk, without downloading; ``None`` if none."""
    if path is not None:
        return Path(path) if Path(path).is_file() else None
    if spec.env_var and os.environ.get(spec.env_var):
        env_path = Path(os.environ[spec.env_var])
        return env_path if env_path.is_file() else None
    cached = hub_checkpoint_dir() / spec.filename
    if cached.is_file():
        return cached
    return _package_file(spec)


def _sha256_prefix_ok(path: Path, prefix: str) -> bool:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest().startswith(prefix)


def resolve_weights(
    spec: WeightsSpec,
    path: str | os.PathLike | None = None,
    *,
    download: bool = True,
    offline_alternative: str | None = None,
) -> Path:
    """Return a local file holding ``spec``'s weights, downloading it if allowed.

    Raises :class:`WeightsUnavailableError` naming the file, the cache directory and the
    backbone that works offline when nothing is found.
    """
    if path is not None and not Path(path).is_file():
        raise WeightsUnavailableError(f"{spec.name} weights: {path}: no such file")
    if spec.env_var and os.environ.get(spec.env_var) and path is None:
        env_path = Path(os.environ[spec.env_var])
        if not env_path.is_file():
            raise WeightsUnavailableError(f"{spec.name} weights: ${spec.env_var}={env_path}: no such file")
    local = find_local_weights(spec, path)
    if local is not None:
        return local
    cache = hub_checkpoint_dir()
    hint = f"; use backbone={offline_alternative}, which needs no download" if offline_alternative else ""
    if not download or spec.url is None:
        raise WeightsUnavailableError(
            f"{spec.name} weights not found: put {spec.filename} in {cache} or pass weights=PATH{hint}"
        )
    target = cache / spec.filename
    cache.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(spec.url, str(target), hash_prefix=None, progress=True)
    except Exception as exc:
        raise WeightsUnavailableError(
            f"{spec.name} weights not found and download of {spec.url} failed ({type(exc).__name__}): "
            f"put {spec.filename} in {cache} or pass weights=PATH{hint}"
        ) from None
    if spec.sha256_prefix and not _sha256_prefix_ok(target, spec.sha256_prefix):
        target.unlink(missing_ok=True)
        raise WeightsUnavailableError(f"{spec.name} weights: downloaded file failed its sha256 check")
    return target


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load a state dict saved with ``torch.save`` (tensors only, ``weights_only``)."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsUnavailableError(f"{path}: not a readable PyTorch state dict ({type(exc).__name__})") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise WeightsUnavailableError(f"{path}: expected a state dict, found {type(sd).__name__}")
    return sd

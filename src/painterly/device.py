"""Device selection and memory estimates."""

from __future__ import annotations

import os

import torch

from painterly.errors import ConfigError

__all__ = ["available_memory", "resolve_device"]


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda, then mps, then cpu; an explicit device must exist."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda requested but no CUDA GPU is available (use --device auto or cpu)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("--device mps requested but Apple MPS is not available (use --device auto or cpu)")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise ConfigError(f"unknown device {name!r}; choose auto, cpu, cuda or mps")
    return torch.device(name)


def available_memory(device: torch.device) -> int:
    """Bytes that a new allocation on ``device`` can use (best effort)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30



def activation_elements_per_pixel(backbone: torch.nn.Module, layers: tuple[str, ...]) -> float:
    """Activation elements the forward pass keeps per input pixel, measured once with
    hooks on a small probe image (all leaf modules up to the deepest tap)."""
    cache = backbone.__dict__.setdefault("_painterly_epp", {})
    if layers in cache:
        return float(cache[layers])
    count = 0

    def hook(_m: torch.nn.Module, _i: object, out: object) -> None:
        nonlocal count
        if isinstance(out, torch.Tensor):
            count += out.numel()

    handles = [m.register_forward_hook(hook) for m in backbone.modules() if len(list(m.children())) == 0]
    probe = 64
    param = next(backbone.parameters())
    try:
        with torch.no_grad():
            backbone(torch.zeros(1, 3, probe, probe, device=param.device), layers)
    finally:
        for h in handles:
            h.remove()
    cache[layers] = count / (probe * probe)
    return float(cache[layers])

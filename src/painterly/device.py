"""Device selection and memory estimates."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

from painterly.errors import ConfigError

__all__ = ["available_memory", "keep_freed_memory", "onnx_cpu_options", "resolve_device"]


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda, then mps, then cpu; an explicit device must exist."""
    import torch

    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device=cuda requested but no CUDA GPU is available (use device=auto or device=cpu)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device=mps requested but Apple MPS is not available (use device=auto or device=cpu)")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise ConfigError(f"unknown device {name!r}; choose auto, cpu, cuda or mps")
    return torch.device(name)


def available_memory(device: torch.device | None = None) -> int:
    """Bytes that a new allocation on ``device`` (None: host memory) can use (best effort)."""
    if device is not None and device.type == "cuda":
        import torch

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


# glibc mallopt() parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc's largest mmap threshold on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX)
_MMAP_THRESHOLD_MAX = 32 << 20
# the user's own allocator settings, which win
_ALLOCATOR_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "LD_PRELOAD")


def keep_freed_memory() -> bool:
    """Keep the memory that tensors free in the process for the next ones, instead of
    handing it back to the system and faulting it in again (glibc only; a no-op elsewhere).

    An optimisation allocates and frees the same activation buffers (a few MB to tens
    of MB) at every evaluation. By default glibc serves such blocks with ``mmap`` and
    unmaps them on free, so every evaluation page-faults and zeroes them again: about
    1.2 million page faults and 3 s of system time in a 512 px main job. Serving blocks
    up to 32 MB from the heap and trimming it only past 1 GB free cuts that to about
    0.2 million, with the same peak memory. Call it once per process, in a program
    that owns the process (the CLI does); skipped where the user set their own
    allocator (``MALLOC_*`` variables, ``GLIBC_TUNABLES`` with malloc settings, or
    ``LD_PRELOAD``). Returns whether the settings were applied.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux") or any(os.environ.get(k) for k in _ALLOCATOR_ENV):
        return False
    if "malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt to speak of)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; both or neither (a heap that never trims but
    # still unmaps large blocks would gain nothing)
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))


def onnx_cpu_options(threads: int | None = None) -> Any:
    """onnxruntime session options for the CPU: ``threads`` (default: every core), quiet,
    and no busy-waiting between runs (spinning threads starved the optical flow, the
    encoder and the rest of a video's work on a small machine). Needs onnxruntime."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or os.cpu_count() or 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts

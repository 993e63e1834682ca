"""Files on disk: one way to write atomically, one set of image extensions, one rule
for never writing over an input.

Every writer in painterly (images, JSON records, checkpoints, ONNX graphs, figures,
videos, the gallery cache) goes through :func:`atomic_path`: the data lands in a
temporary file in the destination's folder and is renamed over the destination only
when complete, so a crash or Ctrl-C never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from painterly.errors import ImageError

__all__ = [
    "IMAGE_EXTENSIONS",
    "atomic_path",
    "check_not_input",
    "check_output_path",
    "expand_inputs",
    "list_image_files",
    "publish",
    "same_file",
    "write_json",
]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    The parent folder is created. On any exception (Ctrl-C included) the temporary
    file is removed and ``path`` is left as it was. The result gets the permissions
    a plain ``open()`` would give (0666 less the umask), not mkstemp's 0600.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=suffix, dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        publish(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


def publish(done: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Move a finished temporary file over ``path`` in one rename (same file system),
    with the permissions a plain ``open()`` would give."""
    os.chmod(done, 0o666 & ~_umask())
    os.replace(done, path)
    return Path(path)


def write_json(path: str | os.PathLike, data: Any, *, indent: int | None = 2) -> Path:
    """Write ``data`` as JSON atomically (non-JSON values as ``str``)."""
    out = Path(path)
    with atomic_path(out) as tmp, open(tmp, "w") as fh:
        json.dump(data, fh, indent=indent, default=str)
    return out


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name the same file (existing, or the same resolved path)."""
    pa, pb = Path(a), Path(b)
    try:
        if pa.exists() and pb.exists() and os.path.samefile(pa, pb):
            return True
    except OSError:
        pass
    return pa.resolve() == pb.resolve()


def check_not_input(output: str | os.PathLike, inputs: Iterable[str | os.PathLike], what: str = "input") -> None:
    """Raise :class:`ImageError` when ``output`` would overwrite one of ``inputs``."""
    for src in inputs:
        if isinstance(src, (str, os.PathLike)) and same_file(output, src):
            raise ImageError(f"{output}: refusing to overwrite the {what} {src}")


def check_output_path(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """Before any work: can ``path`` be written (a file, or with ``folder`` a folder)?
    One-line :class:`ImageError` when it is a folder (a file), when a parent is a file,
    or when the nearest existing parent is not writable."""
    out = Path(path)
    if folder and out.exists() and not out.is_dir():
        raise ImageError(f"{out}: is a file, expected a folder")
    if not folder and out.is_dir():
        raise ImageError(f"{out}: is a directory, expected an output file name")
    probe = out if folder else out.parent
    probe = probe if str(probe) else Path(".")
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ImageError(f"{out}: cannot write there: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ImageError(f"{out}: cannot write there: {probe} is not writable")
    return out


def list_image_files(folder: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` by extension, sorted."""
    root = Path(folder)
    found = root.rglob("*") if recursive else root.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def expand_inputs(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Files as given, folders expanded to their images (sorted, not recursive).
    Missing paths and empty folders raise :class:`ImageError`."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if not p.exists():
            raise ImageError(f"{p}: no such file or folder")
        if p.is_dir():
            found = list_image_files(p)
            if not found:
                raise ImageError(f"{p}: no images in this folder")
            files += found
        else:
            files.append(p)
    return files

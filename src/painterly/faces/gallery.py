"""1:K recognition against a gallery folder (one subfolder per person).

Embeddings are cached on disk, keyed by file path, size and modification time: adding
a person (or a photo) computes only the new files; nothing is trained.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from painterly.errors import ImageError, PainterlyError
from painterly.faces.identity import DEFAULT_THRESHOLD, NoFaceError, embed, face_distance
from painterly.files import IMAGE_EXTENSIONS, write_json
from painterly.image.io import ImageInput

__all__ = ["Gallery", "Identification", "identify"]

logger = logging.getLogger("painterly")

_CACHE_VERSION = 1


def _default_cache(root: Path) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "painterly" / "galleries"
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return base / f"{root.name}-{digest}.json"


def _read_cache(path: Path, *, explicit: bool) -> dict:
    """The cache's entries; {} when there is none or it is stale. A file given as the
    cache that is not one of ours is refused, never replaced."""
    if path.exists() and not path.is_file():
        raise PainterlyError(f"{path}: the gallery cache must be a file, not a folder")
    if not path.is_file():
        return {}
    try:
        stored = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        stored = None
    ours = isinstance(stored, dict) and {"version", "root", "files"} <= set(stored)
    if not ours:
        if explicit:
            raise PainterlyError(f"{path}: not a painterly gallery cache; refusing to replace it (choose another "
                                 "cache file)")
        return {}
    assert isinstance(stored, dict)
    return stored if stored.get("version") == _CACHE_VERSION else {}


@dataclass
class Gallery:
    """Embeddings of every readable face photo under ``root/<person>/``."""

    root: Path
    embeddings: dict[str, list[np.ndarray]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    computed: int = 0  # files embedded in this load (the rest came from the cache)

    @classmethod
    def load(cls, root: str | os.PathLike, cache: str | os.PathLike | None = None) -> Gallery:
        root = Path(root)
        if not root.is_dir():
            raise PainterlyError(f"{root}: gallery must be a folder with one subfolder per person")
        cache_path = Path(cache) if cache else _default_cache(root)
        stored = _read_cache(cache_path, explicit=cache is not None)
        entries: dict[str, dict] = stored.get("files", {})
        gallery = cls(root)
        fresh: dict[str, dict] = {}
        people = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not people:
            raise PainterlyError(f"{root}: no person folders found (expected {root}/<name>/<photos>)")
        for person in people:
            for file in sorted(person.iterdir()):
                if not file.is_file() or file.name.startswith("."):
                    continue
                rel = str(file.relative_to(root))
                if file.suffix.lower() not in IMAGE_EXTENSIONS:
                    gallery.skipped.append((rel, "not an image file name"))
                    continue
                stat = file.stat()
                key = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
                entry = entries.get(rel)
                if entry is None or {k: entry.get(k) for k in key} != key:
                    entry = dict(key)
                    try:
                        entry["embedding"] = embed(file).tolist()
                    except NoFaceError:
                        entry["error"] = "no face found"
                    except ImageError as exc:
                        entry["error"] = str(exc).split(": ", 1)[-1]
                    gallery.computed += 1
                fresh[rel] = entry
                if "embedding" in entry:
                    gallery.embeddings.setdefault(person.name, []).append(np.asarray(entry["embedding"]))
                else:
                    gallery.skipped.append((rel, entry["error"]))
        write_json(cache_path, {"version": _CACHE_VERSION, "root": str(root.resolve()), "files": fresh}, indent=None)
        for rel, why in gallery.skipped:
            logger.info("gallery: skipped %s (%s)", rel, why)
        if not gallery.embeddings:
            raise PainterlyError(f"{root}: no usable face photos in the gallery")
        return gallery


@dataclass(frozen=True)
class Identification:
    name: str  # a person's folder name, or "unknown"
    distance: float  # to the nearest photo of the best person
    ranking: list[tuple[str, float]]  # every person, nearest first


def identify(
    image: ImageInput, gallery: Gallery | str | os.PathLike, *, threshold: float = DEFAULT_THRESHOLD
) -> Identification:
    """Who is the main face in ``image``? Nearest gallery photo, "unknown" beyond ``threshold``."""
    if not isinstance(gallery, Gallery):
        gallery = Gallery.load(gallery)
    query = embed(image)
    ranking = sorted(
        ((name, min(face_distance(query, e) for e in embs)) for name, embs in gallery.embeddings.items()),
        key=lambda item: item[1],
    )
    best, dist = ranking[0]
    return Identification(best if dist <= threshold else "unknown", dist, ranking)

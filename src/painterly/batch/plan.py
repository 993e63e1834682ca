"""What a batch is made of: the rows of its input (a folder, a glob or a manifest),
the items planned from them, and which of those a previous run already finished.

A manifest is CSV (a header with ``content`` and optionally ``style``, ``model``,
``options``, ``output``) or JSON lines (one object per line with the same keys). A
row's ``style`` may hold several images separated by ``;``. ``options`` is either a
string of the single-image command's flags (``"--size 256 --iterations 50"``) or, in
JSON, an object of library parameter names (``{"size": 256, "iterations": 50}``).
"""

from __future__ import annotations

import csv
import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from painterly.errors import ConfigError, ImageError
from painterly.files import IMAGE_EXTENSIONS, expand_inputs

__all__ = [
    "MANIFEST_EXTENSIONS",
    "RECORDS_NAME",
    "BadRow",
    "BatchItem",
    "Row",
    "check_out_dir",
    "finished_outputs",
    "pending_items",
    "read_rows",
]

MANIFEST_EXTENSIONS = frozenset({".csv", ".jsonl", ".ndjson"})
RECORDS_NAME = "painterly-batch.jsonl"  # one JSON line per finished item, in the output folder


@dataclass(frozen=True)
class Row:
    """One unit of the input: a content image and what a manifest says about it."""

    where: str  # "row 3" of a manifest, or the file itself
    content: Path
    styles: tuple[str, ...] = ()
    model: str | None = None
    options: str | dict[str, Any] | None = None
    output: str | None = None


@dataclass(frozen=True)
class BadRow:
    where: str
    reason: str


@dataclass(frozen=True)
class BatchItem:
    """One image to make. ``argv`` holds the single-image command's flags for it (no
    content, no ``-o``); the worker parses them with that command's own parser."""

    where: str
    content: Path
    output: Path
    method: str  # "fast" or "gatys"
    argv: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)  # the flags as given, for the record


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def read_rows(source: str | os.PathLike) -> tuple[list[Row], list[BadRow]]:
    """The rows of a folder, a glob, a manifest or a single image. A missing or empty
    source raises :class:`ImageError`; a bad manifest row is returned, not raised."""
    text = str(source)
    path = Path(text)
    if _is_glob(text) and not path.exists():
        found = sorted(Path(p) for p in glob.glob(text, recursive=True)
                       if Path(p).suffix.lower() in IMAGE_EXTENSIONS and Path(p).is_file())
        if not found:
            raise ImageError(f"{text}: no images match this pattern")
        return [Row(str(p), p) for p in found], []
    if path.is_file() and path.suffix.lower() in MANIFEST_EXTENSIONS:
        return _read_manifest(path)
    return [Row(str(p), p) for p in expand_inputs([path])], []


def _split_styles(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return tuple(s.strip() for s in str(value).split(";") if s.strip())


def _row(where: str, data: dict[str, Any], base: Path) -> Row:
    content = data.get("content")
    if not content:
        raise ConfigError("no 'content' value")
    unknown = set(data) - {"content", "style", "model", "options", "output"}
    if unknown:
        raise ConfigError(f"unknown column(s) {', '.join(sorted(unknown))}")
    options = data.get("options") or None
    if options is not None and not isinstance(options, (str, dict)):
        raise ConfigError("'options' must be a string of flags or an object")

    def resolve(p: str) -> str:  # relative paths are relative to the manifest
        q = Path(p).expanduser()
        return str(q if q.is_absolute() or not (base / q).exists() else base / q)

    return Row(where, Path(resolve(str(content))), tuple(resolve(s) for s in _split_styles(data.get("style"))),
               data.get("model") or None, options, data.get("output") or None)


def _read_manifest(path: Path) -> tuple[list[Row], list[BadRow]]:
    rows: list[Row] = []
    bad: list[BadRow] = []
    base = path.parent
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ImageError(f"{path}: cannot read the manifest ({exc})") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "content" not in reader.fieldnames:
            raise ConfigError(f"{path}: a CSV manifest needs a header row with a 'content' column")
        for n, rec in enumerate(reader, start=2):  # line 1 is the header
            where = f"{path.name} line {n}"
            try:
                rows.append(_row(where, {k: v for k, v in rec.items() if k is not None and v not in (None, "")},
                                 base))
            except ConfigError as exc:
                bad.append(BadRow(where, str(exc)))
    else:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name} line {n}"
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ConfigError("expected a JSON object")
                rows.append(_row(where, data, base))
            except json.JSONDecodeError as exc:
                bad.append(BadRow(where, f"not JSON ({exc.msg})"))
            except ConfigError as exc:
                bad.append(BadRow(where, str(exc)))
    if not rows and not bad:
        raise ImageError(f"{path}: the manifest has no rows")
    return rows, bad


def check_out_dir(out_dir: Path, source: str | os.PathLike) -> None:
    """Refuse an output folder inside a folder of inputs (a rerun would take the
    outputs for inputs) or one that is a file."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ImageError(f"{out_dir}: exists and is not a folder")
    text = str(source)
    src = Path(text)
    if _is_glob(text) and not src.exists():
        src = _glob_root(text)
    elif not src.is_dir():
        return
    out, root = out_dir.resolve(), src.resolve()
    if out == root or root in out.parents:
        raise ConfigError(f"{out_dir}: the output folder is inside the input folder {src}; choose another")


def _glob_root(pattern: str) -> Path:
    """The folder a glob pattern starts from (its longest prefix without wildcards)."""
    parts = Path(pattern).parts
    fixed = parts[: next((i for i, p in enumerate(parts) if _is_glob(p)), len(parts))]
    return Path(*fixed) if fixed else Path(".")


def finished_outputs(out_dir: Path) -> set[str]:
    """Outputs a previous run recorded as done and which are on disk (resume)."""
    records = out_dir / RECORDS_NAME
    done: set[str] = set()
    if not records.exists():
        return done
    for line in records.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a crash
            continue
        if isinstance(rec, dict) and rec.get("status") == "done" and rec.get("output"):
            done.add(str(rec["output"]))
    return {o for o in done if (out_dir / o).exists()}


def pending_items(items: list[BatchItem], out_dir: Path) -> list[BatchItem]:
    """The items a previous run in ``out_dir`` did not finish."""
    out = out_dir.resolve()
    done = finished_outputs(out)
    return [i for i in items if i.output.relative_to(out).as_posix() not in done]

"""The batch driver: skip what a previous run finished, hand the rest to an engine,
write each output atomically and append one JSON line per item to the records."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from painterly.batch.engines import Engine, Render
from painterly.batch.plan import RECORDS_NAME, BadRow, BatchItem, finished_outputs
from painterly.events import Callback, ItemEvent, notify

__all__ = ["BatchSummary", "run_batch"]


@dataclass
class BatchSummary:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # finished by an earlier run
    failed: list[tuple[str, str]] = field(default_factory=list)  # (where, reason), bad rows included
    seconds: float = 0.0
    interrupted: bool = False
    records: Path | None = None


class _Records:
    """The JSON-lines records: appended and flushed line by line, so a crash loses at
    most the line being written (and resume ignores a cut line)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fh = open(path, "a")  # noqa: SIM115 - closed in close()

    def write(self, record: dict) -> None:
        self.fh.write(json.dumps(record, default=str) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


def run_batch(
    items: Sequence[BatchItem],
    out_dir: str | os.PathLike,
    engine: Engine,
    render: Render,
    *,
    bad_rows: Sequence[BadRow] = (),
    actors: bool = True,
    callback: Callback | None = None,
) -> BatchSummary:
    """Make every item not already finished in ``out_dir``. Bad rows are recorded as
    failed; a failing item is recorded and the batch goes on. Ctrl-C stops it with what
    is done kept (``interrupted``); a rerun resumes."""
    from painterly.image import save_image

    out = Path(out_dir).resolve()
    summary = BatchSummary(records=out / RECORDS_NAME)
    start = time.perf_counter()
    finished = finished_outputs(out)
    todo = []
    for item in items:
        if item.output.relative_to(out).as_posix() in finished:
            summary.skipped.append(item.output)
        else:
            todo.append(item)
    records = _Records(out / RECORDS_NAME)
    total = len(todo) + len(bad_rows)
    step = 0

    def progress(where: str, skipped: str | None = None) -> None:
        nonlocal step
        step += 1
        notify(callback, ItemEvent(step=step, total_steps=total, elapsed=time.perf_counter() - start, item=where,
                                   skipped=skipped))

    protect = [i.content for i in items]
    try:
        for bad in bad_rows:
            records.write({"input": bad.where, "status": "failed", "error": bad.reason, "finished": time.time()})
            summary.failed.append((bad.where, bad.reason))
            progress(bad.where, bad.reason)
        for item, outcome in engine.map(todo, render, actors=actors):
            rel = item.output.relative_to(out).as_posix()
            record = {"input": str(item.content), "output": rel, "method": item.method, "options": item.options,
                      "seconds": round(outcome.seconds, 3), "identity_distance": outcome.identity,
                      "node": outcome.node, "finished": time.time()}
            if outcome.error is None and outcome.image is not None:
                save_image(outcome.image, item.output, protect=protect)
                records.write({**record, "status": "done", "error": None, "notes": outcome.notes})
                summary.done.append(item.output)
                progress(item.where)
            else:
                reason = outcome.error or "no image came back"
                records.write({**record, "status": "failed", "error": reason})
                summary.failed.append((item.where, reason))
                progress(item.where, reason)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        records.close()
    summary.seconds = time.perf_counter() - start
    return summary

"""Stylisation jobs: records in SQLite under the data dir, a bounded queue, a fixed
number of worker threads, cancellation, and clean-up of old results.

Every state change is written to SQLite, so a restart keeps finished results and marks
jobs that were queued or running as failed, with the reason.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import queue
import secrets
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from painterly.errors import PainterlyError
from painterly.events import Event

__all__ = ["Job", "JobCancelledError", "JobManager", "Previews", "QueueFullError"]

logger = logging.getLogger("painterly")

TERMINAL = ("done", "failed", "cancelled")


class QueueFullError(Exception):
    """The queue holds as many jobs as it may."""


class JobCancelledError(Exception):
    """Raised inside a running job when it is cancelled."""


@dataclass
class Job:
    id: str
    state: str  # queued, running, done, failed, cancelled
    created: float
    options: dict[str, Any]
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    step: int = 0
    total_steps: int = 0
    losses: dict[str, float] = field(default_factory=dict)
    identity: list[float | None] = field(default_factory=list)
    preview: str | None = None  # data: URL of a small JPEG
    version: int = 0  # bumped on every change (for live events)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id, "state": self.state, "created": self.created, "started": self.started,
            "finished": self.finished, "error": self.error,
            "progress": {"step": self.step, "total": self.total_steps,
                         "fraction": round(self.step / self.total_steps, 4) if self.total_steps else 0.0},
            "losses": self.losses, "identity_distance": self.identity, "options": self.options,
        }


class Previews:
    """A small JPEG of the image so far, at most every 0.7 s and only on every 10th
    step (rendering one costs time); None when none is due or the event has no image."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, event: Event) -> bytes | None:
        now = time.monotonic()
        if event.step % 10 != 0 or now - self.last <= 0.7:
            return None
        image = event.image()
        if image is None:
            return None
        self.last = now
        thumb = image.copy()
        thumb.thumbnail((256, 256))
        buf = io.BytesIO()
        thumb.save(buf, format="JPEG", quality=80)
        return buf.getvalue()


class JobManager:
    """Owns the SQLite records, the queue and the worker threads."""

    def __init__(self, data_dir: Path, *, concurrency: int = 1, queue_size: int = 8,
                 retention_s: float = 24 * 3600, runner: Any = None) -> None:
        self.data_dir = Path(data_dir)
        self.jobs_dir = self.data_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.queue_size = queue_size
        self.retention_s = retention_s
        self.runner = runner  # callable(job, job_dir, on_progress: events.Callback) -> None; writes job_dir/result.png
        self._db_lock = threading.Lock()
        self._closed = False
        self._db = sqlite3.connect(self.data_dir / "jobs.sqlite3", check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, state TEXT, created REAL, started REAL, "
            "finished REAL, error TEXT, options TEXT, losses TEXT, identity TEXT)"
        )
        self._db.execute(
            "UPDATE jobs SET state='failed', finished=?, error='the server stopped before this job finished' "
            "WHERE state IN ('queued', 'running')", (time.time(),)
        )
        self._db.commit()
        self._jobs: dict[str, Job] = {}
        for row in self._db.execute("SELECT id, state, created, started, finished, error, options, losses, identity "
                                    "FROM jobs"):
            job = Job(row[0], row[1], row[2], json.loads(row[6] or "{}"), row[3], row[4], row[5])
            job.losses = json.loads(row[7] or "{}")
            job.identity = json.loads(row[8] or "[]")
            self._jobs[job.id] = job
        self._queue: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers = [threading.Thread(target=self._work, name=f"painterly-job-{i}", daemon=True)
                         for i in range(max(1, concurrency))]
        for t in self._workers:
            t.start()
        self._janitor = threading.Thread(target=self._clean_loop, name="painterly-janitor", daemon=True)
        self._janitor.start()

    # -- records -------------------------------------------------------------------
    def _save(self, job: Job) -> None:
        job.version += 1
        with self._db_lock:
            if self._closed:  # shutting down: the record stays as it was, and the next start fails it
                return
            self._db.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job.id, job.state, job.created, job.started, job.finished, job.error, json.dumps(job.options),
                 json.dumps(job.losses), json.dumps(job.identity)),
            )
            self._db.commit()

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def pending(self) -> int:
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.state in ("queued", "running"))

    # -- lifecycle -----------------------------------------------------------------
    def new_id(self) -> str:
        return secrets.token_urlsafe(12)

    def submit(self, job_id: str, options: dict[str, Any]) -> Job:
        """Queue a job whose inputs are already in ``job_dir(job_id)``; QueueFullError if full."""
        with self._lock:
            waiting = sum(1 for j in self._jobs.values() if j.state in ("queued", "running"))
            if waiting >= self.queue_size:
                raise QueueFullError(f"{waiting} jobs waiting or running; try again later")
            job = Job(job_id, "queued", time.time(), options)
            self._jobs[job_id] = job
        self._save(job)
        self._queue.put(job_id)
        return job

    def cancel(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        job.cancel.set()
        with self._lock:
            if job.state == "queued":
                job.state, job.finished, job.error = "cancelled", time.time(), "cancelled before it started"
                self._save(job)
        return job

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            job = self._jobs.get(job_id)
            if job is None or job.state != "queued":
                continue
            job.state, job.started = "running", time.time()
            self._save(job)
            try:
                self.runner(job, self.job_dir(job_id), self._progress_callback(job))
                job.state = "done"
            except JobCancelledError:
                job.state, job.error = "cancelled", "cancelled while running"
            except PainterlyError as exc:
                job.state, job.error = "failed", str(exc)
            except Exception as exc:  # a crashed job must not take the worker down
                logger.exception("job %s crashed", job_id)
                job.state, job.error = "failed", f"internal error: {type(exc).__name__}: {exc}"
            job.finished = time.time()
            self._save(job)

    def _progress_callback(self, job: Job) -> Any:
        previews = Previews()

        def on_progress(event: Event) -> None:
            if job.cancel.is_set():
                raise JobCancelledError
            job.step, job.total_steps, job.losses = event.step, event.total_steps, event.losses
            jpeg = previews(event)
            if jpeg is not None:
                job.preview = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
            job.version += 1

        return on_progress

    # -- clean-up ------------------------------------------------------------------
    def clean(self, now: float | None = None) -> list[str]:
        """Remove finished jobs older than the retention time; returns their ids."""
        now = now or time.time()
        removed: list[str] = []
        for job in list(self._jobs.values()):
            if job.state in TERMINAL and job.finished is not None and now - job.finished > self.retention_s:
                shutil.rmtree(self.job_dir(job.id), ignore_errors=True)
                with self._db_lock:
                    if self._closed:
                        return removed
                    self._db.execute("DELETE FROM jobs WHERE id = ?", (job.id,))
                    self._db.commit()
                self._jobs.pop(job.id, None)
                removed.append(job.id)
        return removed

    def _clean_loop(self) -> None:
        while not self._stop.wait(60):
            self.clean()

    def close(self) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(timeout=2)
        with self._db_lock:
            self._closed = True
            self._db.close()

"""Server jobs as Ray tasks (``painterly serve --ray``).

The job body is the same as in-process (:func:`painterly.web.runner.job_runner`); it
runs in a Ray worker on the job's input files, shipped as bytes, so the worker needs
no access to the server's disk. The task is a streaming generator: it yields progress
(step, losses, a small JPEG preview now and then) while the job runs, then the result
files. The server keeps the SQLite records, writes the results under the job's folder,
and turns the progress into the same events the page follows over SSE. Concurrency is
bounded by the cluster's CPUs (and GPUs), not by the server's threads.
"""

from __future__ import annotations

import io
import queue
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from painterly.events import Event
from painterly.files import atomic_path
from painterly.web.jobs import Job, JobCancelledError, Previews

__all__ = ["ray_job_runner"]

_RESULT_FILES = ("result.png", "record.json")


@dataclass(kw_only=True)
class _RemoteEvent(Event):
    """Progress that came back from a Ray worker; the preview travels as JPEG bytes."""

    preview: bytes | None = None

    def image(self) -> Any:
        if self.preview is None:
            return None
        from PIL import Image

        return Image.open(io.BytesIO(self.preview)).convert("RGB")


def _remote_job(options: dict[str, Any], files: dict[str, bytes], device: str) -> Any:
    """The Ray task (a generator): run the job on a private copy of its inputs."""
    from painterly.web.runner import job_runner

    events: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    previews = Previews()

    def on_progress(ev: Event) -> None:
        if stop.is_set():
            raise JobCancelledError
        events.put(("progress", {"step": ev.step, "total_steps": ev.total_steps, "losses": dict(ev.losses),
                                 "elapsed": ev.elapsed, "preview": previews(ev)}))

    with tempfile.TemporaryDirectory(prefix="painterly-job-") as tmp:
        job_dir = Path(tmp)
        for name, data in files.items():
            (job_dir / name).write_bytes(data)
        job = Job("remote", "running", time.time(), dict(options))
        failure: list[BaseException] = []

        def body() -> None:
            try:
                job_runner(device)(job, job_dir, on_progress)
            except BaseException as exc:  # handed to the generator, which re-raises it in the task
                failure.append(exc)
            finally:
                events.put(("end", None))

        worker = threading.Thread(target=body, daemon=True)
        worker.start()
        try:
            while True:
                kind, payload = events.get()
                if kind == "end":
                    break
                yield payload
        finally:
            stop.set()  # the server cancelled (generator closed): the job stops at its next step
            worker.join()
        if failure:
            raise failure[0]
        yield {"done": True, "identity": job.identity, "losses": job.losses,
               "files": {n: (job_dir / n).read_bytes() for n in _RESULT_FILES if (job_dir / n).exists()}}


def ray_job_runner(device: str, address: str | None, *, cpus: float = 2, gpus: float = 0) -> Any:
    """A runner for :class:`~painterly.web.jobs.JobManager` that runs each job on Ray."""
    from painterly.batch.engines import connect_ray

    ray, _ = connect_ray(address)
    task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=1)(_remote_job)

    def run(job: Job, job_dir: Path, on_progress: Any) -> None:
        files = {p.name: p.read_bytes() for p in sorted(job_dir.iterdir()) if p.is_file()
                 and p.suffix == ".png" and p.name not in _RESULT_FILES}
        stream = task.remote(job.options, files, device)
        try:
            for ref in stream:
                try:
                    item = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # the job's own error, re-raised as it was
                    cause = exc.as_instanceof_cause()
                    raise (cause.cause if hasattr(cause, "cause") and cause.cause else cause) from None
                if item.get("done"):
                    for name, data in item["files"].items():
                        with atomic_path(job_dir / name) as tmp:
                            tmp.write_bytes(data)
                    job.identity, job.losses = item["identity"], item["losses"]
                    return
                on_progress(_RemoteEvent(**item))
        except JobCancelledError:
            ray.cancel(stream)
            raise
        raise RuntimeError("the Ray task ended without a result")

    return run

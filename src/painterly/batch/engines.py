"""Where batch items run: in this process (``LocalEngine``) or on a Ray cluster
(``RayEngine``: an embedded local cluster, or one joined by address).

An engine maps a *render* function over items and yields ``(item, Outcome)`` as they
finish, in any order. ``render(item, data, cache)`` gets the content file's bytes (read
by the driver, so workers need no shared file system for inputs) and a dict that lives
as long as its worker: models and style targets loaded once are kept there.

On Ray, fast items run on actors (a model loads once per actor) and optimisation items
run as tasks. A task lost with its node is retried by Ray (``max_retries``); an actor
lost with its node is dropped from the pool and its items go to the others. Outcomes
are returned to the driver, which alone writes outputs and records: an item ends once.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from painterly.batch.plan import BatchItem
from painterly.errors import ConfigError

__all__ = ["Engine", "LocalEngine", "Outcome", "RayEngine", "Render", "connect_ray", "probe_address"]

logger = logging.getLogger("painterly")


@dataclass
class Outcome:
    """What a worker returns for one item: the image, or why there is none."""

    image: Any = None  # PIL.Image.Image
    error: str | None = None
    seconds: float = 0.0
    identity: list[float | None] = field(default_factory=list)
    node: str = "local"
    notes: list[str] = field(default_factory=list)


Render = Callable[[BatchItem, bytes, dict], Outcome]


def _read(item: BatchItem) -> bytes | Outcome:
    try:
        return item.content.read_bytes()
    except OSError as exc:
        return Outcome(error=f"{item.content}: cannot read ({exc.strerror or exc})")


class Engine:
    name = "engine"
    workers = 1
    nodes = 1

    def map(self, items: Iterable[BatchItem], render: Render, *, actors: bool = True) -> Iterator[
            tuple[BatchItem, Outcome]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the workers (and the embedded cluster)."""


class LocalEngine(Engine):
    """One item after another in this process, with torch's own threads."""

    name = "local"

    def __init__(self) -> None:
        self.cache: dict = {}

    def map(self, items: Iterable[BatchItem], render: Render, *, actors: bool = True) -> Iterator[
            tuple[BatchItem, Outcome]]:
        for item in items:
            data = _read(item)
            yield item, data if isinstance(data, Outcome) else render(item, data, self.cache)


def probe_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast (one line, seconds) when nothing listens at a ``host:port`` or
    ``ray://host:port`` address, instead of letting the Ray client retry for minutes."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"address={address}: expected host:port, ray://host:port or auto")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"address={address}: no Ray cluster reachable there ({exc.strerror or exc})") from None


def connect_ray(address: str | None = None, *, num_cpus: int | None = None) -> tuple[Any, bool]:
    """Ray, joined to the cluster at ``address`` or to a new embedded one (``address=None``);
    also whether this call started the connection (and so should shut it down).
    One-line :class:`ConfigError` when ray is missing or the cluster cannot be reached."""
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray engine needs ray: pip install 'painterly[ray]' (or use engine=local)") from None
    if ray.is_initialized():
        return ray, False
    if address is not None:
        probe_address(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        kwargs.update(num_cpus=num_cpus, include_dashboard=False)
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"address={address}: cannot join the Ray cluster ({str(exc).splitlines()[0]})") from None
    return ray, True


_TASK_CACHE: dict = {}  # per Ray worker process: optimisation tasks reuse what earlier tasks loaded


def _worker_setup(n: int) -> None:
    """A Ray worker's set-up: its share of the cores, and freed tensor memory kept for
    the next item (a worker process runs nothing but our items)."""
    import torch

    from painterly.device import keep_freed_memory

    torch.set_num_threads(max(1, n))
    keep_freed_memory()


def _node() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()[:8]


def _run_task(render: Render, threads: int, item: BatchItem, data: bytes) -> Outcome:
    _worker_setup(threads)
    out = render(item, data, _TASK_CACHE)
    out.node = _node()
    return out


class _Worker:
    """A Ray actor's body: loads models once (in ``cache``) and renders items."""

    def __init__(self, render: Render, threads: int) -> None:
        _worker_setup(threads)
        self.render, self.node = render, _node()
        self.cache: dict = {}

    def run(self, item: BatchItem, data: bytes) -> Outcome:
        out = self.render(item, data, self.cache)
        out.node = self.node
        return out


class RayEngine(Engine):
    """Items on Ray. ``address=None`` starts an embedded local cluster (``ray.init()``);
    otherwise joins the cluster there. ``cpus``/``gpus`` are per item (per actor for
    fast items; torch gets as many threads)."""

    name = "ray"

    def __init__(self, address: str | None = None, *, cpus: float = 1, gpus: float = 0,
                 num_cpus: int | None = None, max_retries: int = 3) -> None:
        if cpus <= 0 or gpus < 0:
            raise ConfigError(f"cpus per item must be > 0 and gpus >= 0, got cpus={cpus}, gpus={gpus}")
        self.ray, self._own = connect_ray(address, num_cpus=num_cpus)
        ray = self.ray
        self.cpus, self.gpus, self.max_retries = cpus, gpus, max_retries
        res = ray.cluster_resources()
        slots = int(res.get("CPU", 1) // cpus)
        if gpus:
            slots = min(slots, int(res.get("GPU", 0) // gpus))
            if slots < 1:
                raise ConfigError(f"gpus={gpus} per item but the cluster has {res.get('GPU', 0):g} GPU(s)")
        self.workers = max(1, slots)
        self.nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        self._refs: list[Any] = []
        self._actors: list[Any] = []

    def _threads(self) -> int:
        return max(1, int(self.cpus))

    def map(self, items: Iterable[BatchItem], render: Render, *, actors: bool = True) -> Iterator[
            tuple[BatchItem, Outcome]]:
        if actors:
            yield from self._map_actors(list(items), render)
        else:
            yield from self._map_tasks(list(items), render)

    def _map_tasks(self, items: list[BatchItem], render: Render) -> Iterator[tuple[BatchItem, Outcome]]:
        ray = self.ray
        task = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=self.max_retries)(_run_task)
        todo = collections.deque(items)
        pending: dict[Any, BatchItem] = {}
        lost: dict[Any, int] = {}
        window = 2 * self.workers
        while todo or pending:
            while todo and len(pending) < window:
                item = todo.popleft()
                data = _read(item)
                if isinstance(data, Outcome):
                    yield item, data
                    continue
                pending[task.remote(render, self._threads(), item, data)] = item
            self._refs = list(pending)
            if not pending:
                break
            done, _ = ray.wait(list(pending), num_returns=1)
            item = pending.pop(done[0])
            try:
                yield item, ray.get(done[0])
            except ray.exceptions.ObjectLostError as exc:  # the result died with its node before we fetched it
                lost[item.output] = lost.get(item.output, 0) + 1
                if lost[item.output] <= self.max_retries:
                    todo.appendleft(item)
                else:
                    yield item, Outcome(error=f"worker failed: {type(exc).__name__}")
            except ray.exceptions.RayError as exc:  # retries spent (node lost each time) or a crash
                yield item, Outcome(error=f"worker failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")

    def _spawn(self, n: int, render: Render) -> list[Any]:
        actor = self.ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_restarts=0)(_Worker)
        made = [actor.remote(render, self._threads()) for _ in range(n)]
        self._actors += made
        return made

    def _map_actors(self, items: list[BatchItem], render: Render) -> Iterator[tuple[BatchItem, Outcome]]:
        try:
            yield from self._actor_loop(items, render)
        finally:  # the pool holds CPUs (GPUs): release them for the next map or another job
            self._kill_actors()

    def _actor_loop(self, items: list[BatchItem], render: Render) -> Iterator[tuple[BatchItem, Outcome]]:
        ray = self.ray
        live = self._spawn(min(self.workers, max(1, len(items))), render)
        load = {id(a): 0 for a in live}
        todo = collections.deque(items)
        pending: dict[Any, tuple[BatchItem, Any]] = {}
        while todo or pending:
            for a in sorted(live, key=lambda a: load[id(a)]):
                while todo and load[id(a)] < 2:  # two in flight per actor: one runs, one waits
                    item = todo.popleft()
                    data = _read(item)
                    if isinstance(data, Outcome):
                        yield item, data
                        continue
                    pending[a.run.remote(item, data)] = (item, a)
                    load[id(a)] += 1
            self._refs = list(pending)
            if not pending:
                break
            done, _ = ray.wait(list(pending), num_returns=1)
            item, a = pending.pop(done[0])
            load[id(a)] -= 1
            try:
                yield item, ray.get(done[0])
            except ray.exceptions.ObjectLostError:
                # done, but the result was in the object store of a node that died before we fetched it
                # (an actor task's result cannot be rebuilt from lineage): the item is done again
                todo.appendleft(item)
            except ray.exceptions.RayActorError:  # its node or process died: the item goes to another actor
                todo.appendleft(item)
                if a in live:
                    live.remove(a)
                    logger.info("a batch worker was lost; its items go to the %d left", len(live))
                if not live:  # none left: new ones start wherever the cluster has room
                    live = self._spawn(1, render)
                    load.update({id(b): 0 for b in live})
            except ray.exceptions.RayError as exc:
                yield item, Outcome(error=f"worker failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")

    def _kill_actors(self) -> None:
        for a in self._actors:
            with contextlib.suppress(Exception):  # already gone with its node
                self.ray.kill(a)
        self._actors = []

    def close(self) -> None:
        ray = self.ray
        for ref in self._refs:
            with contextlib.suppress(Exception):  # already finished, or its actor is gone
                ray.cancel(ref, force=True)
        self._kill_actors()
        self._refs = []
        if self._own and ray.is_initialized():
            t0 = time.perf_counter()
            ray.shutdown()
            logger.debug("ray.shutdown in %.1f s", time.perf_counter() - t0)

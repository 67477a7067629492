"""Where shard work runs: on Ray Data (the default) or in-process. The only module that talks to Ray.

Ray's API moves between releases (``concurrency=`` deprecated since 2.51 in favour of compute
strategies; ``build_llm_processor`` renamed ``build_processor`` in 2.56), so every call to
``ray`` and ``ray.data`` lives here.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator

WorkFn = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Scheduling:
    """How a batch of shard tasks is placed: per-task resources, pool size, actors or tasks."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory_gb: float | None = None
    workers: int | None = None
    actors: bool = False
    #: Short coordination rounds (dataset-stage shuffles): plain Ray tasks, without Ray Data's per-run start-up.
    light: bool = False


class LocalExecutor:
    """Runs shard tasks one after another in this process (debugging, tiny inputs, no Ray)."""

    name = "local"

    def map(self, fn: WorkFn, items: list[dict[str, Any]], sched: Scheduling) -> Iterator[dict[str, Any]]:
        """Yield fn(item) for each item, in order."""
        for item in items:
            yield fn(item)

    def cluster_cpus(self) -> int:
        """CPUs available to the run."""
        return os.cpu_count() or 1

    def shutdown(self) -> None:
        """Nothing to release."""


class _Call:
    """Ray Data UDF wrapping one shard function; as an actor class it keeps set-up stages warm."""

    def __init__(self, fn: WorkFn, items: list[dict[str, Any]]) -> None:
        self.fn = fn
        self.items = items

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        out_i, out_r = [], []
        for i in batch["i"]:
            out_i.append(int(i))
            out_r.append(json.dumps(self.fn(self.items[int(i)])))
        return {"i": out_i, "result": out_r}


def _run_one(fn: WorkFn, item: dict[str, Any]) -> dict[str, Any]:
    return fn(item)


def current_node() -> str | None:
    """The Ray node id of this process when it runs inside Ray (a worker, or a connected driver), else None."""
    import sys

    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    try:
        return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001  (a driver between sessions has no context)
        return None


class RayExecutor:
    """Runs shard tasks on Ray Data: tasks for stateless stages, actor pools for stateful/GPU ones.

    Stateful and GPU stages run on a Ray Data actor pool (``map_batches`` with an
    ``ActorPoolStrategy``), so models load once per actor and Ray places GPUs. Stateless shard
    work runs as plain Ray tasks, at most ``workers`` in flight: every shard task already streams
    its rows batch by batch and writes them itself, and Ray Data's start-up per execution
    (seconds on a fresh cluster, about half a second warm) would otherwise dominate short stages
    and the many rounds of a dataset stage. Both are retried by Ray when a worker dies.

    With no address an embedded local Ray starts; ``address`` (or ``RAY_ADDRESS``) joins a cluster.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        """Start or join Ray."""
        import ray

        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS")
            kwargs: dict[str, Any] = {"ignore_reinit_error": True, "logging_level": logging.WARNING,
                                      "log_to_driver": True}
            if address:
                kwargs["address"] = address
            else:
                # "local" always starts a fresh embedded Ray: never join a cluster some other process
                # left registered in /tmp/ray (ray.init() without an address would try to)
                kwargs["address"] = "local"
                kwargs["include_dashboard"] = False
                if num_cpus:
                    kwargs["num_cpus"] = num_cpus
            os.environ.setdefault("RAY_DEDUP_LOGS", "1")
            ray.init(**kwargs)
            self._owns = not address
        else:
            self._owns = False
        import ray.data

        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        ctx.execution_options.verbose_progress = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)

    def cluster_cpus(self) -> int:
        """CPUs in the cluster."""
        import ray

        return int(ray.cluster_resources().get("CPU", 1))

    def map(self, fn: WorkFn, items: list[dict[str, Any]], sched: Scheduling) -> Iterator[dict[str, Any]]:
        """Yield fn(item) for each item as it completes (any order)."""
        if not items:
            return
        size = max(1, min(len(items), sched.workers or max(1, int(self.cluster_cpus() // max(sched.cpus, 1e-9)))))
        if not sched.actors:
            yield from self._tasks(fn, items, sched, size)
            return
        import ray.data
        from ray.data import ActorPoolStrategy, TaskPoolStrategy

        ds = ray.data.from_items([{"i": i} for i in range(len(items))], override_num_blocks=len(items))
        remote: dict[str, Any] = {"num_cpus": sched.cpus}
        if sched.gpus:
            remote["num_gpus"] = sched.gpus
        if sched.memory_gb:
            remote["memory"] = int(sched.memory_gb * 1024**3)
        if sched.actors:
            # one shard per actor at a time: a shard is minutes of work, so queueing several on one actor
            # only leaves the other actors idle at the tail
            ds = ds.map_batches(
                _Call, batch_size=1, fn_constructor_args=(fn, items), compute=ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=1), **remote,
            )
        else:
            call = _Call(fn, items)
            ds = ds.map_batches(call, batch_size=1, compute=TaskPoolStrategy(size=size), **remote)
        for row in ds.iter_rows():
            yield json.loads(row["result"])

    def _tasks(self, fn: WorkFn, items: list[dict[str, Any]], sched: Scheduling, size: int) -> Iterator[dict[str, Any]]:
        """At most ``size`` plain Ray tasks in flight; results as they complete. Failed workers are retried."""
        import ray

        remote = ray.remote(num_cpus=sched.cpus, num_gpus=sched.gpus or 0, max_retries=3)(_run_one)
        fn_ref = ray.put(fn)
        pending: list[Any] = []
        nxt = 0
        while nxt < len(items) or pending:
            while nxt < len(items) and len(pending) < size:
                pending.append(remote.remote(fn_ref, items[nxt]))
                nxt += 1
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield ray.get(ref)

    def shutdown(self) -> None:
        """Stop the embedded Ray this executor started."""
        import ray

        if self._owns and ray.is_initialized():
            ray.shutdown()


def make_executor(kind: str = "ray", address: str | None = None, num_cpus: int | None = None) -> LocalExecutor | RayExecutor:
    """Build an executor by name ("ray" or "local")."""
    if kind == "local":
        return LocalExecutor()
    return RayExecutor(address=address, num_cpus=num_cpus)

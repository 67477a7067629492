"""Where shard work runs: on Ray (the default) or in-process. The only engine module that talks to Ray.

Ray's API moves between releases (``concurrency=`` deprecated since 2.51 in favour of compute
strategies; ``build_llm_processor`` renamed ``build_processor`` in 2.56), so the engine's calls
to ``ray`` live here (``dataforge.inference.vllm_backend`` drives Ray Data LLM itself).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator

WorkFn = Callable[[dict[str, Any]], dict[str, Any]]
#: How many times a shard runs again on a fresh actor after its actor was lost (process or node death).
ACTOR_RETRIES = 3
log = logging.getLogger(__name__)


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


class _ShardWorker:
    """A Ray actor running shard functions; the stages it sets up stay warm for every shard it takes."""

    def __init__(self, fn: WorkFn) -> None:
        self.fn = fn

    def run(self, item: dict[str, Any]) -> dict[str, Any]:
        """One shard."""
        return self.fn(item)

    def ready(self) -> bool:
        """Answers once the actor is placed and constructed."""
        return True


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
    """Runs shard tasks on Ray: plain tasks for stateless stages, a pool of actors for stateful/GPU ones.

    A shard task is already a streaming unit of work (it reads its rows batch by batch, runs the
    fused stages and writes its outputs itself), so the executor only has to place shards:
    stateless shard work runs as Ray tasks, at most ``workers`` in flight; stateful and GPU
    stages run on ``workers`` actors that set their models up once and take one shard at a
    time, with Ray placing CPUs, GPUs and memory. Ray Data's streaming executor (what this
    used before) added a second of start-up per execution and a driver-side scheduling loop
    that competes with the workers for the CPUs on small machines, for no gain at shard
    granularity. Tasks and actors are retried by Ray when a worker or node dies.

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
        yield from self._actors(fn, items, sched, size)

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

    def _actors(self, fn: WorkFn, items: list[dict[str, Any]], sched: Scheduling, size: int) -> Iterator[dict[str, Any]]:
        """A pool of ``size`` Ray actors, one shard each at a time; results as they complete.

        Each actor sets its stages up once (models, vocabularies) and keeps them for every shard
        it takes. One shard per actor at a time: a shard is seconds to minutes of work, so
        queueing more on one actor would only leave the others idle at the tail. When an actor
        is lost with its worker process or node, its shard goes back to the queue for the
        surviving actors (up to ``ACTOR_RETRIES`` times per shard; shard work is idempotent, so
        a retry writes the same files) and a replacement actor is requested; it joins the pool
        once Ray has placed it, so a cluster left without room finishes on the survivors.
        """
        import collections

        import ray
        from ray.exceptions import RayActorError

        opts: dict[str, Any] = {"num_cpus": sched.cpus, "max_restarts": 0}
        if sched.gpus:
            opts["num_gpus"] = sched.gpus
        if sched.memory_gb:
            opts["memory"] = int(sched.memory_gb * 1024**3)
        fn_ref = ray.put(fn)
        cls = ray.remote(**opts)(_ShardWorker)
        pool = [cls.remote(fn_ref) for _ in range(size)]
        idle = collections.deque(range(size))
        todo = collections.deque(range(len(items)))
        tries = [0] * len(items)
        pending: dict[Any, tuple[int, int]] = {}  # work ref -> (actor slot, item index)
        starting: dict[Any, int] = {}  # readiness ref of a replacement actor -> its slot
        replaced = 0
        try:
            while todo or pending:
                while todo and idle:
                    a, i = idle.popleft(), todo.popleft()
                    pending[pool[a].run.remote(items[i])] = (a, i)
                waiting = list(pending) + list(starting)
                if not waiting:
                    raise RuntimeError("every worker actor was lost and none could be replaced")
                done, _ = ray.wait(waiting, num_returns=1)
                for ref in done:
                    if ref in starting:  # a replacement is placed and set up, or failed to start
                        a = starting.pop(ref)
                        try:
                            ray.get(ref)
                            idle.append(a)
                        except RayActorError:
                            pass  # the slot stays empty; the others carry on
                        continue
                    a, i = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except RayActorError as exc:  # the actor's process or node is gone
                        tries[i] += 1
                        if tries[i] > ACTOR_RETRIES:
                            raise
                        log.warning("shard %d: worker actor lost (%s); it runs again (%d/%d)",
                                    i, type(exc).__name__, tries[i], ACTOR_RETRIES)
                        ray.kill(pool[a], no_restart=True)
                        todo.appendleft(i)
                        if replaced < size * ACTOR_RETRIES:
                            replaced += 1
                            pool[a] = cls.remote(fn_ref)
                            starting[pool[a].ready.remote()] = a
                        continue
                    idle.append(a)
                    yield result
        finally:
            for actor in pool:
                ray.kill(actor, no_restart=True)

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

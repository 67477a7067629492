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
#: How long a pool with no shard running waits for an actor to be placed before it gives up with the reason.
ACTOR_START_TIMEOUT_S = float(os.environ.get("DATAFORGE_ACTOR_START_TIMEOUT_S", "900"))
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

    def _fits(self, sched: Scheduling) -> int:
        """How many workers of this scheduling the cluster holds at once (CPUs, GPUs and memory)."""
        import ray

        res = ray.cluster_resources()
        n = int(res.get("CPU", 1) // max(sched.cpus, 1e-9))
        if sched.gpus:
            n = min(n, int(res.get("GPU", 0) // sched.gpus))
        if sched.memory_gb:
            n = min(n, int(res.get("memory", 0) // (sched.memory_gb * 1024**3)))
        return max(1, n)

    def map(self, fn: WorkFn, items: list[dict[str, Any]], sched: Scheduling) -> Iterator[dict[str, Any]]:
        """Yield fn(item) for each item as it completes (any order)."""
        if not items:
            return
        size = max(1, min(len(items), sched.workers or self._fits(sched)))
        if not sched.actors:
            yield from self._tasks(fn, items, sched, size)
            return
        yield from self._actors(fn, items, sched, size)

    def _tasks(self, fn: WorkFn, items: list[dict[str, Any]], sched: Scheduling, size: int) -> Iterator[dict[str, Any]]:
        """At most ``size`` plain Ray tasks in flight; results as they complete. Failed workers are retried."""
        import ray

        opts: dict[str, Any] = {"num_cpus": sched.cpus, "num_gpus": sched.gpus or 0, "max_retries": 3}
        if sched.memory_gb:
            opts["memory"] = int(sched.memory_gb * 1024**3)
        remote = ray.remote(**opts)(_run_one)
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
        """A pool of at most ``size`` Ray actors, one shard each at a time; results as they complete.

        Each actor sets its stages up once (models, vocabularies) and keeps them for every shard
        it takes. A shard goes only to an actor that is placed and constructed, so actors the
        cluster has no room for (more than its GPUs or memory allow) never hold work back; one
        shard per actor at a time, since a shard is seconds to minutes of work and queueing more
        on one actor would only leave the others idle at the tail. When an actor is lost with its
        worker process or node, its shard goes back to the queue for the other actors (up to
        ``ACTOR_RETRIES`` times per shard; shard work is idempotent, so a retry writes the same
        files) and a replacement is requested. With no actor running and none placed within
        ``ACTOR_START_TIMEOUT_S``, the run stops with the reason instead of waiting forever.
        """
        import collections

        import ray
        from ray.exceptions import RayActorError

        opts: dict[str, Any] = {"num_cpus": sched.cpus, "max_restarts": 0}
        if sched.gpus:
            opts["num_gpus"] = sched.gpus
        if sched.memory_gb:
            opts["memory"] = int(sched.memory_gb * 1024**3)
        pool: list[Any] = [None] * size
        idle: collections.deque[int] = collections.deque()
        todo = collections.deque(range(len(items)))
        tries = [0] * len(items)
        pending: dict[Any, tuple[int, int]] = {}  # work ref -> (actor slot, item index)
        starting: dict[Any, int] = {}  # readiness ref of an actor being placed -> its slot
        starts = 0
        last_error: BaseException | None = None
        try:
            fn_ref = ray.put(fn)
            cls = ray.remote(**opts)(_ShardWorker)

            def start(slot: int) -> None:
                nonlocal starts
                starts += 1
                pool[slot] = cls.remote(fn_ref)
                starting[pool[slot].ready.remote()] = slot

            for slot in range(size):
                start(slot)
            while todo or pending:
                while todo and idle:
                    a, i = idle.popleft(), todo.popleft()
                    pending[pool[a].run.remote(items[i])] = (a, i)
                if not pending and not starting:
                    raise RuntimeError(f"every worker actor was lost and none could be started ({opts})") from last_error
                # with no shard running, only actors being placed remain: do not wait for them forever
                timeout = None if pending else ACTOR_START_TIMEOUT_S
                done, _ = ray.wait(list(pending) + list(starting), num_returns=1, timeout=timeout)
                if not done:
                    raise RuntimeError(
                        f"no worker actor could be placed in {ACTOR_START_TIMEOUT_S:.0f} s (each asks for {opts}); "
                        "the cluster has no node with room for one: add nodes or lower the stage's resources"
                    ) from last_error
                for ref in done:
                    if ref in starting:  # an actor is placed and set up, or failed to start
                        a = starting.pop(ref)
                        try:
                            ray.get(ref)
                            idle.append(a)
                        except RayActorError as exc:
                            last_error = exc
                            log.warning("a worker actor failed to start: %s", exc)
                            ray.kill(pool[a], no_restart=True)
                            pool[a] = None
                        continue
                    a, i = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except RayActorError as exc:  # the actor's process or node is gone
                        last_error = exc
                        tries[i] += 1
                        if tries[i] > ACTOR_RETRIES:
                            raise
                        log.warning("shard %d: worker actor lost (%s); it runs again (%d/%d)",
                                    i, type(exc).__name__, tries[i], ACTOR_RETRIES)
                        ray.kill(pool[a], no_restart=True)
                        todo.appendleft(i)
                        pool[a] = None
                        if starts < size * (1 + ACTOR_RETRIES):
                            start(a)
                        continue
                    idle.append(a)
                    yield result
        finally:
            for actor in pool:
                if actor is not None:
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

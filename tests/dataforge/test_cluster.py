"""Runs on a local multi-node Ray cluster: work spreads over nodes, output equals a single-node run, a lost node is survived."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import REPO, docs, write_jsonl
from dataforge import spec as spec_mod
from dataforge.executor import LocalExecutor, RayExecutor
from dataforge.runner import make_plan, run

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every Parquet file under a folder, by relative path."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.parquet"))}


def start_cluster(workers: int = 2) -> Cluster:
    """A head without CPUs (so every task lands on a worker node) and ``workers`` one-CPU worker nodes."""
    if ray.is_initialized():
        ray.shutdown()  # a module-scoped local Ray from another test module must not be the one we join
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    for _ in range(workers):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    return cluster


def stop_cluster(cluster: Cluster) -> None:
    """Disconnect this process and stop the cluster this test started (only that one)."""
    if ray.is_initialized():
        ray.shutdown()
    cluster.shutdown()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A fresh 3-node cluster (head + 2 workers) per test, torn down afterwards."""
    c = start_cluster(2)
    try:
        yield c
    finally:
        stop_cluster(c)


PIPELINE = """
name: cluster
input: {{format: jsonl, paths: ["{data}"], id_field: id, split_bytes: 20000}}
output: {{path: "${{OUT}}"}}
stages:
  - stage: slow_v1
    params: {{seconds: {seconds}}}{extra}
  - stage: length_filter_v1
    params: {{min_words: 20}}
  - stage: exact_dedup_v1
"""


def corpus(tmp: Path, n: int = 600) -> Path:
    """n documents with a few exact duplicates, so the dataset stage has work."""
    rows = docs(n)
    rows += [dict(rows[i], id=f"dup{i}") for i in range(0, n, 10)]
    return write_jsonl(tmp / "c.jsonl", rows)


def nodes_per_stage(run_dir: Path) -> dict[str, set[str]]:
    """Stage folder -> Ray node ids its shards ran on (from the per-shard stats)."""
    out: dict[str, set[str]] = {}
    for f in sorted(run_dir.glob("stages/*/stats/*.json")):
        node = json.loads(f.read_text()).get("node")
        out.setdefault(f.parent.parent.name, set()).add(node)
    return out


def reference(tmp: Path, data: Path) -> dict[str, str]:
    """The published output of an in-process (single-node, no Ray) run."""
    pfile = tmp / "ref.yaml"
    pfile.write_text(PIPELINE.format(data=data, seconds=0, extra=""))
    p = spec_mod.load(pfile, sets=[f"OUT={tmp / 'ref-out'}"])
    res = run(make_plan(p, tmp / "ref-run"), LocalExecutor())
    assert res.summary["totals"]["balanced"]
    return digest(tmp / "ref-out")


def test_cli_with_address_spreads_over_nodes_and_matches_single_node(tmp_path: Path, cluster: Cluster) -> None:
    """`dataforge run --address` on head + 2 workers: shards on both workers, byte-identical to a single-node run."""
    data = corpus(tmp_path)
    pfile = tmp_path / "p.yaml"
    pfile.write_text(PIPELINE.format(data=data, seconds=0.05, extra=""))
    r = subprocess.run([sys.executable, "-m", "dataforge", "run", str(pfile), "--quiet", "--address", cluster.address,
                        "--run-dir", str(tmp_path / "run"), "--set", f"OUT={tmp_path / 'out'}"],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    worker_nodes = {n.node_id for n in cluster.worker_nodes}
    spread = nodes_per_stage(tmp_path / "run")
    for stage in ("01-slow_v1", "02-length_filter_v1", "03-exact_dedup_v1"):
        assert spread[stage] <= worker_nodes, (stage, spread[stage])  # the head has no CPU: nothing ran there
    assert spread["01-slow_v1"] == worker_nodes  # the row-level shards used both worker nodes
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["totals"]["balanced"] and summary["dropped"]["exact_dedup_v1.exact_duplicate"] == 60
    out = digest(tmp_path / "out")
    assert out and out == reference(tmp_path, data)


@pytest.mark.parametrize("pool", ["tasks", "actors"])
def test_worker_node_removed_midway_the_run_completes_with_equal_output(tmp_path: Path, cluster: Cluster, pool: str) -> None:
    """Kill one of two worker nodes while shards run: Ray retries its tasks (or restarts its actor) on the other.

    With ``actors`` a stateful stage joins the first segment, so its shards run on the actor pool.
    """
    data = corpus(tmp_path)
    pfile = tmp_path / "p.yaml"
    log = tmp_path / "setups.log"
    extra = f"\n  - stage: setup_log_v1\n    params: {{log: '{log}'}}" if pool == "actors" else ""
    pfile.write_text(PIPELINE.format(data=data, seconds=0.12, extra=extra))
    p = spec_mod.load(pfile, sets=[f"OUT={tmp_path / 'out'}"])
    plan = make_plan(p, tmp_path / "run")
    executor = RayExecutor(address=cluster.address)
    result: dict[str, Any] = {}

    def go() -> None:
        try:
            result["res"] = run(plan, executor)
        except BaseException as exc:  # noqa: BLE001  (reported by the assertion below)
            result["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    stats = tmp_path / "run/stages/01-slow_v1/stats"
    deadline = time.time() + 180
    while time.time() < deadline and len(list(stats.glob("*.json"))) < 3 and thread.is_alive():
        time.sleep(0.05)
    done_before = len(list(stats.glob("*.json")))
    victim = cluster.worker_nodes and sorted(cluster.worker_nodes, key=lambda n: n.node_id)[0]
    cluster.remove_node(victim, allow_graceful=False)
    thread.join(timeout=600)
    assert not thread.is_alive(), "the run hung after a node was removed"
    assert "error" not in result, "".join(__import__("traceback").format_exception(result["error"])) if "error" in result else ""
    summary = result["res"].summary
    assert done_before < summary["shards"], "the run finished before the node could be removed"
    assert summary["totals"]["balanced"] and summary["dropped"]["exact_dedup_v1.exact_duplicate"] == 60
    assert digest(tmp_path / "out") == reference(tmp_path, data)
    if pool == "actors":
        # the shards ran on two set-up actors; the lost node's shard ran again on the survivor (the head has no
        # CPU for a replacement actor, so none is placed, and the run does not wait for one)
        assert len(set(log.read_text().split())) >= 2

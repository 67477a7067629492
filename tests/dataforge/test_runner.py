"""Runs end to end: accounting, run directory, resume and reuse, determinism on Ray, faults."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from conftest import REPO, docs, write_jsonl
from dataforge import spec as spec_mod
from dataforge.executor import LocalExecutor, RayExecutor
from dataforge.runner import make_plan, run


def corpus(tmp: Path, n: int = 400) -> Path:
    """A JSONL corpus with copies, short docs and bad lines."""
    rows = docs(n)
    rows += [dict(rows[i], id=f"copy{i}") for i in range(0, n, 25)]
    rows += [{"id": f"short{i}", "text": "too short"} for i in range(7)]
    raw = [b'{"id": "bad", "text": ', b'{"id": "latin", "text": "caf\xe9"}', json.dumps({"id": "nt"}).encode()]
    return write_jsonl(tmp / "in" / "corpus.jsonl", rows[: n // 2], raw + [json.dumps(r).encode() for r in rows[n // 2:]])


def pipeline(data: Path, out: Path, stages: list[dict[str, Any]] | None = None, **input_kw: Any) -> spec_mod.PipelineSpec:
    doc = {
        "name": "t",
        "input": {"format": "jsonl", "paths": [str(data)], "id_field": "id", "split_bytes": 40_000, **input_kw},
        "output": {"path": str(out)},
        "stages": stages if stages is not None else [
            {"stage": "normalize_text_v1"},
            {"stage": "length_filter_v1", "params": {"min_words": 20}},
            {"stage": "exact_dedup_v1"},
            {"stage": "sample_v1", "params": {"rate": 0.8}},
        ],
    }
    return spec_mod.from_dict(doc)


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.parquet"))}


def test_accounting_and_run_directory(tmp_path: Path) -> None:
    data = corpus(tmp_path)
    res = run(make_plan(pipeline(data, tmp_path / "out"), tmp_path / "run"), LocalExecutor())
    s = res.summary
    t = s["totals"]
    assert t["balanced"]
    assert t["input"] == 400 + 16 + 7 + 3
    assert t["quarantined"] == 3
    assert s["quarantined"] == {"read.invalid_utf8": 1, "read.malformed_json": 1, "read.missing_text": 1}
    assert s["dropped"]["length_filter_v1.too_few_words"] == 7
    assert s["dropped"]["exact_dedup_v1.exact_duplicate"] == 16
    assert t["kept"] + t["dropped"] + t["quarantined"] == t["input"]
    for st in s["stages"]:
        assert st["balanced"]
        assert st["rows_in"] == st["rows_out"] + sum(st["dropped"].values()) + sum(st["quarantined"].values())
    # run directory layout
    run_dir = tmp_path / "run"
    assert json.loads((run_dir / "summary.json").read_text()) == s
    man = json.loads((run_dir / "stages/03-exact_dedup_v1/manifest.json").read_text())
    assert man["counts"]["dropped"] == {"exact_duplicate": 16} and man["config_hash"] and man["versions"]["pyarrow"]
    rejects = pq.read_table(run_dir / "stages/03-exact_dedup_v1/rejects")
    assert set(rejects.column("reason").to_pylist()) == {"exact_duplicate"}
    kept_ids = set(pq.read_table(run_dir / "stages/03-exact_dedup_v1/data").column("id").to_pylist())
    assert set(rejects.column("detail").to_pylist()) <= kept_ids  # detail names the copy that was kept
    quarantine = pq.read_table(run_dir / "stages/00-read/quarantine")
    assert sorted(quarantine.column("reason").to_pylist()) == ["invalid_utf8", "malformed_json", "missing_text"]
    # published output = last stage's kept rows
    out = pq.read_table(tmp_path / "out")
    assert out.num_rows == t["kept"]
    assert json.loads((tmp_path / "out/_dataforge.json").read_text())["rows"] == t["kept"]


def test_empty_stage_list_converts_and_accounts(tmp_path: Path) -> None:
    data = corpus(tmp_path, 50)
    res = run(make_plan(pipeline(data, tmp_path / "out", stages=[]), tmp_path / "run"), LocalExecutor())
    t = res.summary["totals"]
    assert t["balanced"] and t["kept"] == 50 + 2 + 7 and t["quarantined"] == 3
    assert pq.read_table(tmp_path / "out").num_rows == t["kept"]


def test_rerun_skips_and_param_change_reruns_only_downstream(tmp_path: Path) -> None:
    data = corpus(tmp_path)
    p = pipeline(data, tmp_path / "out")
    first = run(make_plan(p, tmp_path / "run"), LocalExecutor())
    shards = first.summary["shards"]
    assert shards > 1
    before = digest(tmp_path / "run")
    again = run(make_plan(p, tmp_path / "run"), LocalExecutor())
    assert all(n == 0 for n in again.executed_units.values())
    assert digest(tmp_path / "run") == before
    assert again.summary["totals"] == first.summary["totals"]

    changed = pipeline(data, tmp_path / "out", stages=[
        {"stage": "normalize_text_v1"},
        {"stage": "length_filter_v1", "params": {"min_words": 20}},
        {"stage": "exact_dedup_v1"},
        {"stage": "sample_v1", "params": {"rate": 0.5}},
    ])
    third = run(make_plan(changed, tmp_path / "run"), LocalExecutor())
    assert third.executed_units[1] == 0 and third.executed_units[2] == 0 and third.executed_units[3] == 0
    assert third.executed_units[4] == shards
    after = digest(tmp_path / "run")
    for k, v in before.items():
        if "/04-" not in k:
            assert after[k] == v, k
    assert third.summary["totals"]["kept"] < first.summary["totals"]["kept"]

    # a change upstream invalidates everything after it, dataset stage included
    upstream = pipeline(data, tmp_path / "out", stages=[
        {"stage": "normalize_text_v1"},
        {"stage": "length_filter_v1", "params": {"min_words": 25}},
        {"stage": "exact_dedup_v1"},
        {"stage": "sample_v1", "params": {"rate": 0.5}},
    ])
    fourth = run(make_plan(upstream, tmp_path / "run"), LocalExecutor())
    assert fourth.executed_units[1] == shards and fourth.executed_units[3] == shards


def test_a_failing_row_is_quarantined_alone(tmp_path: Path) -> None:
    rows = docs(30)
    rows[7]["text"] += " BOOM"
    data = write_jsonl(tmp_path / "b.jsonl", rows)
    res = run(make_plan(pipeline(data, tmp_path / "out", stages=[{"stage": "boom_v1"}]), tmp_path / "run"), LocalExecutor())
    assert res.summary["quarantined"] == {"boom_v1.stage_error": 1}
    assert res.summary["totals"]["kept"] == 29
    q = pq.read_table(tmp_path / "run/stages/01-boom_v1/quarantine")
    assert q.column("id").to_pylist() == ["d00007"] and "found BOOM" in q.column("detail")[0].as_py()


class TestOnRay:
    """The same runs on a local Ray: byte-identical to in-process runs, whatever the worker count."""

    def test_identical_output_for_1_and_2_workers_and_local(self, tmp_path: Path, ray_local: Any) -> None:
        data = corpus(tmp_path, 600)
        ex = RayExecutor()
        outs = []
        for label, executor, workers in (("local", LocalExecutor(), None), ("w1", ex, 1), ("w2", ex, 2)):
            p = pipeline(data, tmp_path / f"out-{label}")
            if workers:
                p = p.model_copy(update={"workers": workers})
            res = run(make_plan(p, tmp_path / f"run-{label}"), executor)
            assert res.summary["totals"]["balanced"]
            outs.append((digest(tmp_path / f"out-{label}"), digest(tmp_path / f"run-{label}")))
        assert len(outs[0][0]) > 3
        assert outs[0] == outs[1] == outs[2]

    def test_stateful_stage_sets_up_once_per_actor(self, tmp_path: Path, ray_local: Any) -> None:
        data = corpus(tmp_path, 600)
        log = tmp_path / "setups.log"
        p = pipeline(data, tmp_path / "out", stages=[{"stage": "setup_log_v1", "params": {"log": str(log)}}])
        p = p.model_copy(update={"workers": 2})
        res = run(make_plan(p, tmp_path / "run"), RayExecutor())
        assert res.summary["shards"] >= 6
        pids = log.read_text().split()
        assert 1 <= len(pids) <= 2 and len(set(pids)) == len(pids)  # one set-up per actor, not per shard

    def test_an_actor_no_node_can_hold_stops_the_run_with_the_reason(self, tmp_path: Path, ray_local: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
        """A stateful stage asking for more memory than the cluster has: a clear error, not an endless wait."""
        from dataforge import executor as executor_mod

        monkeypatch.setattr(executor_mod, "ACTOR_START_TIMEOUT_S", 3.0)
        data = corpus(tmp_path, 100)
        stages = [{"stage": "setup_log_v1", "params": {"log": str(tmp_path / "setups.log")},
                   "resources": {"memory_gb": 100_000}}]
        p = pipeline(data, tmp_path / "out", stages=stages)
        with pytest.raises(RuntimeError, match="no worker actor could be placed in 3 s.*memory"):
            run(make_plan(p, tmp_path / "run"), RayExecutor())
        assert not (tmp_path / "run" / "summary.json").exists()

    def test_more_workers_than_the_cluster_holds_do_not_hold_shards_back(self, tmp_path: Path, ray_local: Any) -> None:
        """workers: 5 on 2 CPUs: three actors are never placed; shards go only to the placed ones and the run ends."""
        data = corpus(tmp_path, 600)
        log = tmp_path / "setups.log"
        p = pipeline(data, tmp_path / "out", stages=[{"stage": "setup_log_v1", "params": {"log": str(log)}}])
        res = run(make_plan(p.model_copy(update={"workers": 5}), tmp_path / "run"), RayExecutor())
        assert res.summary["totals"]["balanced"] and res.summary["shards"] >= 6
        assert len(log.read_text().split()) <= 2  # only two actors ever ran
        ref = run(make_plan(pipeline(data, tmp_path / "ref-out", stages=[]), tmp_path / "ref-run"), LocalExecutor())
        assert digest(tmp_path / "out") == digest(tmp_path / "ref-out") and ref.summary["totals"]["balanced"]

    @pytest.mark.parametrize("pool", ["tasks", "actors"])
    def test_worker_killed_midway_is_retried(self, tmp_path: Path, ray_local: Any, pool: str) -> None:
        """SIGKILL of the worker running a shard: the task is retried, or the actor replaced and the shard rerun."""
        data = corpus(tmp_path, 300)
        marker = tmp_path / "crashed"
        stages = [{"stage": "crash_once_v1", "params": {"doc_id": "d00150", "marker": str(marker)}},
                  {"stage": "length_filter_v1", "params": {"min_words": 20}}]
        if pool == "actors":  # a stateful stage in the segment puts its shards on the actor pool
            stages.insert(0, {"stage": "setup_log_v1", "params": {"log": str(tmp_path / "setups.log")}})
        res = run(make_plan(pipeline(data, tmp_path / "out", stages=stages), tmp_path / "run"), RayExecutor())
        assert marker.exists(), "the worker was never killed"
        ref = run(make_plan(pipeline(data, tmp_path / "ref-out", stages=[{"stage": "length_filter_v1", "params": {"min_words": 20}}]),
                            tmp_path / "ref-run"), LocalExecutor())
        assert res.summary["totals"]["kept"] == ref.summary["totals"]["kept"]
        assert digest(tmp_path / "out") == digest(tmp_path / "ref-out")
        if pool == "actors":  # the killed actor was replaced by a new one that set its stages up again
            assert len(set((tmp_path / "setups.log").read_text().split())) >= 2


def test_driver_killed_resumes_from_completed_shards(tmp_path: Path) -> None:
    """kill -9 of the driver mid-run; the same command resumes and the output equals a clean run's."""
    data = corpus(tmp_path, 600)
    yaml_text = f"""
name: killme
input: {{format: jsonl, paths: ["{data}"], id_field: id, split_bytes: 20000}}
output: {{path: "${{OUT}}"}}
stages:
  - stage: slow_v1
    params: {{seconds: 0.15}}
  - stage: length_filter_v1
    params: {{min_words: 20}}
"""
    pfile = tmp_path / "p.yaml"
    pfile.write_text(yaml_text)
    cmd = [sys.executable, "-m", "dataforge", "run", str(pfile), "--local", "--quiet"]
    env = dict(os.environ)
    stats_dir = tmp_path / "run/stages/02-length_filter_v1/stats"
    proc = subprocess.Popen(cmd + ["--run-dir", str(tmp_path / "run"), "--set", f"OUT={tmp_path / 'out'}"],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(stats_dir.glob("*.json"))) < 3:
        if proc.poll() is not None:
            pytest.fail(f"run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(stats_dir.glob("*.json")))
    assert done_before >= 3
    r = subprocess.run(cmd + ["--run-dir", str(tmp_path / "run"), "--set", f"OUT={tmp_path / 'out'}"],
                       env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    total = summary["shards"]
    assert summary["stages"][2]["shards_computed"] <= total - done_before + 1
    assert summary["totals"]["balanced"]
    r = subprocess.run(cmd + ["--run-dir", str(tmp_path / "clean"), "--set", f"OUT={tmp_path / 'clean-out'}"],
                       env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert digest(tmp_path / "out") == digest(tmp_path / "clean-out")
    assert not list((tmp_path / "run").rglob(".*.tmp"))


def test_fuzzy_dedup_on_ray_is_deterministic_across_workers(tmp_path: Path, ray_local: Any) -> None:
    """minhash_dedup_v1 through the engine: same clusters and kept documents with 1 and 2 workers and in-process."""
    pytest.importorskip("dataforge.stages.dedup.minhash", reason="minhash_v1 signatures not installed")
    rows = docs(300)
    rows += [dict(rows[i], id=f"near{i}", text=rows[i]["text"] + " Edited.") for i in range(0, 300, 7)]
    data = write_jsonl(tmp_path / "fz.jsonl", rows)
    stages = [{"stage": "minhash_dedup_v1", "params": {"threshold": 0.8}}]
    outs = []
    for label, executor, workers in (("local", LocalExecutor(), None), ("w1", RayExecutor(), 1), ("w2", RayExecutor(), 2)):
        p = pipeline(data, tmp_path / f"out-{label}", stages=stages, split_bytes=30_000)
        if workers:
            p = p.model_copy(update={"workers": workers})
        res = run(make_plan(p, tmp_path / f"run-{label}"), executor)
        assert res.summary["totals"]["balanced"]
        assert res.summary["dropped"].get("minhash_dedup_v1.near_duplicate", 0) >= 300 // 7
        outs.append(digest(tmp_path / f"out-{label}"))
    assert outs[0] == outs[1] == outs[2]


def test_shards_without_any_row_are_fine(tmp_path: Path) -> None:
    """A byte range holding no line start (inside one long line) is an empty shard, not an error."""
    rows = [{"id": "long", "text": "word " * 30_000}] + docs(5)
    data = write_jsonl(tmp_path / "l.jsonl", rows)
    p = pipeline(data, tmp_path / "out", stages=[{"stage": "length_filter_v1", "params": {"min_words": 5}}],
                 split_bytes=20_000)
    res = run(make_plan(p, tmp_path / "run"), LocalExecutor())
    assert res.summary["shards"] > 5
    assert res.summary["totals"]["kept"] == 6 and res.summary["totals"]["balanced"]
    again = run(make_plan(p, tmp_path / "run"), LocalExecutor())
    assert all(n == 0 for n in again.executed_units.values())
    assert pq.read_table(tmp_path / "out").num_rows == 6


def test_incremental_fuzzy_dedup_against_a_previous_run(tmp_path: Path) -> None:
    """A new batch is deduplicated against an earlier run's stored signatures (not recomputed)."""
    pytest.importorskip("dataforge.stages.dedup.minhash", reason="minhash_v1 signatures not installed")
    import random

    rnd = random.Random(0)
    vocab = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rnd.choice(vocab) for _ in range(200)) for _ in range(120)]
    old = write_jsonl(tmp_path / "old" / "a.jsonl", [{"id": f"old{i}", "text": t} for i, t in enumerate(texts[:80])])
    stages = [{"stage": "minhash_dedup_v1"}]
    first = run(make_plan(pipeline(old, tmp_path / "out1", stages=stages), tmp_path / "run1"), LocalExecutor())
    assert first.summary["totals"]["kept"] == 80
    ref = str(tmp_path / "run1/stages/01-minhash_dedup_v1")
    new_rows = [{"id": f"copy{i}", "text": texts[i] + " extra"} for i in range(0, 80, 10)]
    new_rows += [{"id": f"new{i}", "text": t} for i, t in enumerate(texts[80:])]
    new = write_jsonl(tmp_path / "new" / "b.jsonl", new_rows)
    stages = [{"stage": "minhash_dedup_v1", "params": {"reference": [ref]}}]
    second = run(make_plan(pipeline(new, tmp_path / "out2", stages=stages), tmp_path / "run2"), LocalExecutor())
    assert second.summary["totals"]["kept"] == 40
    rejects = pq.read_table(tmp_path / "run2/stages/01-minhash_dedup_v1/rejects")
    assert dict(zip(rejects.column("id").to_pylist(), rejects.column("detail").to_pylist())) == {
        f"copy{i}": f"old{i}" for i in range(0, 80, 10)}

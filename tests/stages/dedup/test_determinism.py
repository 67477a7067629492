"""minhash_v1 -> minhash_dedup_v1 on Ray: the same clusters and kept documents with 1, 2 and 8 workers."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from conftest import write_jsonl
from dataforge import spec as spec_mod
from dataforge.executor import LocalExecutor, RayExecutor
from dataforge.runner import make_plan, run


def _rows() -> list[dict[str, str]]:
    """Distinct documents, near copies (some across shards), a chain, empty and one-word documents."""
    rnd = random.Random(5)
    vocab = [f"w{i}" for i in range(4000)]
    base = [" ".join(rnd.choice(vocab) for _ in range(150)) for _ in range(160)]
    rows = [{"id": f"d{i:04d}", "text": t} for i, t in enumerate(base)]
    for i in range(0, 160, 9):  # near copies: two words changed, appended at the end (another shard)
        w = base[i].split()
        w[10], w[90] = "changed", "edited"
        rows.append({"id": f"n{i:04d}", "text": " ".join(w)})
    rows += [{"id": "empty", "text": ""}, {"id": "tiny", "text": "hello"}, {"id": "tiny2", "text": "hello"}]
    return rows


def _pipeline(data: Path, out: Path) -> spec_mod.PipelineSpec:
    return spec_mod.from_dict({
        "name": "det",
        "input": {"format": "jsonl", "paths": [str(data)], "id_field": "id", "split_bytes": 25_000},
        "output": {"path": str(out)},
        "stages": [{"stage": "minhash_v1"}, {"stage": "minhash_dedup_v1", "params": {"threshold": 0.8}}],
    })


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.parquet"))}


def test_same_clusters_and_kept_documents_with_1_2_and_8_workers(tmp_path: Path, ray_local: Any) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", _rows())
    results = []
    for label, executor, workers in (("local", LocalExecutor(), None), ("w1", RayExecutor(), 1),
                                     ("w2", RayExecutor(), 2), ("w8", RayExecutor(), 8)):
        p = _pipeline(data, tmp_path / f"out-{label}")
        if workers:
            p = p.model_copy(update={"workers": workers})
        res = run(make_plan(p, tmp_path / f"run-{label}"), executor)
        assert res.summary["totals"]["balanced"]
        assert res.summary["shards"] >= 4  # several shards, so partitions really are shuffled across tasks
        kept = pq.read_table(tmp_path / f"out-{label}")
        rejects = pq.read_table(tmp_path / f"run-{label}/stages/02-minhash_dedup_v1/rejects")
        clusters = sorted(zip(kept.column("id").to_pylist(), kept.column("cluster_id").to_pylist(),
                              kept.column("cluster_size").to_pylist()))
        removed = sorted(zip(rejects.column("id").to_pylist(), rejects.column("detail").to_pylist()))
        results.append((clusters, removed, _digest(tmp_path / f"out-{label}")))
    clusters, removed, _ = results[0]
    assert removed == [(f"n{i:04d}", f"d{i:04d}") for i in range(0, 160, 9)] + [("tiny2", "tiny")]
    assert ("empty", "empty", 1) in clusters and ("d0000", "d0000", 2) in clusters
    for other in results[1:]:
        assert other == results[0]

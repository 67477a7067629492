"""write_shards_v1: global shuffle into sized shards, manifests, packing; readable without dataforge."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from conftest import table
from dataforge.shuffle import InMemoryContext, run_in_memory
from dataforge.stages.mix.shards import WriteShards


def tokenized(n: int = 300) -> pa.Table:
    rows = [{"id": f"d{i:04d}", "text": "x", "source": "s"} for i in range(n)]
    t = table(rows)
    lens = [5 + (i * 13) % 40 for i in range(n)]
    toks = [list(range(i, i + k)) for i, k in enumerate(lens)]
    t = t.append_column("tokens", pa.array(toks, pa.list_(pa.uint32())))
    t = t.append_column("n_tokens", pa.array(lens, pa.int32()))
    t = t.append_column("mix_domain", pa.array(["web" if i % 3 else "code" for i in range(n)]))
    return t.append_column("mixture", pa.array(["general" if i % 4 else "long" for i in range(n)]))


def run_stage(stage: WriteShards, t: pa.Table, folder: Path) -> None:
    ctx = InMemoryContext(stage, t, folder)
    stage.run_dataset(ctx)


def test_shards_are_shuffled_sized_and_described(tmp_path: Path) -> None:
    t = tokenized()
    stage = WriteShards({"target_shard_mb": 0.004, "seed": 3})
    run_stage(stage, t, tmp_path)
    man = json.loads((tmp_path / "shards/general/manifest.json").read_text())
    assert len(man["shards"]) > 1
    files = [tmp_path / "shards" / s["file"] for s in man["shards"]]
    data = pa.concat_tables([pq.read_table(f) for f in files])
    assert data.num_rows == man["documents"] == sum(1 for i in range(300) if i % 4)
    assert data.schema.field("tokens").type == pa.list_(pa.uint32())
    ids = data.column("id").to_pylist()
    assert ids != sorted(ids)  # shuffled across the whole output, not in input order
    assert man["tokens"] == sum(pc_len for pc_len in data.column("n_tokens").to_pylist())
    assert sum(man["documents_by_domain"].values()) == man["documents"]
    import hashlib

    assert all(hashlib.sha256((tmp_path / "shards" / s["file"]).read_bytes()).hexdigest() == s["sha256"] for s in man["shards"])
    # same seed, same bytes
    other = tmp_path / "again"
    run_stage(WriteShards({"target_shard_mb": 0.004, "seed": 3}), t, other)
    assert (other / "shards/general/manifest.json").read_text() == (tmp_path / "shards/general/manifest.json").read_text()


def test_packing_keeps_every_token_and_boundaries(tmp_path: Path) -> None:
    t = tokenized(50).filter(pa.compute.equal(tokenized(50).column("mixture"), "general"))
    stage = WriteShards({"pack": True, "seq_len": 64})
    run_stage(stage, t, tmp_path)
    man = json.loads((tmp_path / "shards/general/manifest.json").read_text())
    data = pa.concat_tables([pq.read_table(tmp_path / "shards" / s["file"]) for s in man["shards"]])
    lens = data.column("n_tokens").to_pylist()
    assert all(n == 64 for n in lens[:-1]) and sum(lens) == sum(t.column("n_tokens").to_pylist())
    first = data.slice(0, 1)
    assert first.column("doc_offsets")[0].as_py()[0] == 0
    all_ids = [i for ids in data.column("doc_ids").to_pylist() for i in ids]
    assert set(all_ids) == set(t.column("id").to_pylist())


def test_stage_keeps_rows_for_lineage() -> None:
    t = tokenized(20)
    res = run_in_memory(WriteShards({"target_shard_mb": 1}), t)
    assert res.kept.num_rows == 20 and res.dropped is None

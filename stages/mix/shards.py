"""Globally shuffled token shards of a target size, with a manifest per mixture."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from dataforge.hashing import hash_strings
from dataforge.shuffle import PART_COLUMN
from dataforge.stage import BatchResult, DatasetStage, StageParams

SHARDS = "shards"


class ShardParams(StageParams):
    """Shard size, shuffle seed, kept columns, and optional packing into fixed-length sequences."""

    target_shard_mb: float = Field(256.0, gt=0, description="approximate size of each shard file")
    seed: int = 0
    tokens_column: str = Field("tokens", description="list<uint32> token ids (qwen_tokenize_v1)")
    columns: list[str] = Field(
        default_factory=lambda: ["id", "mix_domain", "source", "language", "n_tokens", "repeat"],
        description="columns written beside the tokens (absent ones are skipped)")
    pack: bool = Field(False, description="pack documents into fixed-length sequences with a document-boundary index")
    seq_len: int = Field(4096, gt=0, description="tokens per packed sequence (4,096; 32,768 for a long-context stage)")
    compression_level: int = Field(3, ge=1, le=22, description="zstd level")


class WriteShards(DatasetStage):
    """Write tokenized documents as globally shuffled Parquet shards (~256 MB, zstd) with a manifest.json per mixture.

    Every row gets a key hash(seed, mixture, id, repeat); the shard is key mod n_shards and rows
    are sorted by key inside it, so the order is a global shuffle that never holds more than one
    shard in memory, and identical on any number of workers. Shards hold ``tokens``
    (list<uint32>) with the document id, domain, source and token count, and read with pyarrow,
    DuckDB, polars or Hugging Face ``datasets``. With ``pack``, documents are concatenated into
    ``seq_len`` sequences with ``doc_offsets`` (where each document starts) and ``doc_ids``.
    Rows of each mixture (column ``mixture``, from mix_v1) go to their own folder.
    """

    name = "write_shards_v1"
    Params = ShardParams
    batch_size = 8192
    requires = ("tokens",)

    def _mixtures(self, batch: pa.Table) -> pa.Array:
        n = batch.num_rows
        if "mixture" in batch.column_names:
            return pc.fill_null(pc.cast(batch.column("mixture"), pa.string()), "default")
        return pa.array(["default"] * n, pa.string())

    def _keys(self, batch: pa.Table, mixtures: pa.Array) -> np.ndarray:
        p: ShardParams = self.params  # type: ignore[assignment]
        rep = (pc.cast(pc.fill_null(batch.column("repeat"), 0), pa.string()) if "repeat" in batch.column_names
               else pa.array(["0"] * batch.num_rows))
        joined = pc.binary_join_element_wise(mixtures, batch.column("id"), rep, "\x1f")
        return hash_strings(joined, p.seed)

    # -- rounds ------------------------------------------------------------------------------------
    def run_dataset(self, ctx: Any) -> None:
        """Measure, route rows to shards by key, write each shard sorted by key, then the manifests."""
        from dataforge.rundir import reset_dir

        p: ShardParams = self.params  # type: ignore[assignment]
        reset_dir(Path(ctx.folder) / SHARDS)  # shards of an earlier configuration must not linger
        sizes: dict[str, int] = {}
        for r in ctx.map_shards("sizes", "shard_sizes"):
            for m, b in r.get("bytes", {}).items():
                sizes[m] = sizes.get(m, 0) + b
        target = p.target_shard_mb * 1024 * 1024
        layout, offset = {}, 0
        for m in sorted(sizes):
            n = max(1, math.ceil(sizes[m] / target))
            layout[m] = {"offset": offset, "shards": n}
            offset += n
        self.layout = layout
        self.partitions = max(1, offset)
        self._folder = str(ctx.folder)
        Path(ctx.folder).mkdir(parents=True, exist_ok=True)
        (Path(ctx.folder) / "layout.json").write_text(json.dumps(layout, indent=2, sort_keys=True))
        ctx.map_shards("routed", "shard_route")
        results = ctx.map_partitions("written", "partition_write", inputs=["routed"])
        by_mix: dict[str, list[dict[str, Any]]] = {}
        for r in results:
            if r.get("file"):
                by_mix.setdefault(r["mixture"], []).append({k: r[k] for k in (
                    "file", "sha256", "bytes", "rows", "documents", "tokens", "documents_by_domain", "tokens_by_domain")})
        for m, shards in by_mix.items():
            shards.sort(key=lambda s: s["file"])
            manifest = {
                "mixture": m, "format": "parquet", "compression": "zstd", "packed": p.pack,
                "seq_len": p.seq_len if p.pack else None, "seed": p.seed, "tokenizer_column": p.tokens_column,
                "shards": shards,
                "documents": sum(s["documents"] for s in shards), "tokens": sum(s["tokens"] for s in shards),
                "tokens_by_domain": _sum_dicts(s["tokens_by_domain"] for s in shards),
                "documents_by_domain": _sum_dicts(s["documents_by_domain"] for s in shards),
            }
            path = Path(ctx.folder) / SHARDS / m / "manifest.json"
            path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    def shard_sizes(self, unit: int, batches: Iterator[pa.Table]) -> tuple[None, dict[str, Any]]:
        """Approximate output bytes per mixture (4 bytes per token plus row overhead)."""
        p: ShardParams = self.params  # type: ignore[assignment]
        out: dict[str, int] = {}
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if p.tokens_column not in batch.column_names:
                raise ValueError(f"{self.name}: no {p.tokens_column!r} column; put qwen_tokenize_v1 before it")
            lengths = pc.fill_null(pc.list_value_length(batch.column(p.tokens_column)), 0)
            sizes = pa.table({"m": self._mixtures(batch), "b": pc.add(pc.multiply(pc.cast(lengths, pa.int64()), 4), 64)})
            for row in sizes.group_by("m").aggregate([("b", "sum")]).to_pylist():
                out[row["m"]] = out.get(row["m"], 0) + row["b_sum"]
        return None, {"bytes": out}

    def shard_route(self, unit: int, batches: Iterator[pa.Table]) -> pa.Table | None:
        """Kept columns plus the shuffle key, routed to the shard the key picks."""
        p: ShardParams = self.params  # type: ignore[assignment]
        parts = []
        for batch in batches:
            if batch.num_rows == 0:
                continue
            mixtures = self._mixtures(batch)
            keys = self._keys(batch, mixtures)
            cols = [c for c in p.columns if c in batch.column_names and c != p.tokens_column]
            t = batch.select(cols + [p.tokens_column])
            t = t.append_column("mixture", mixtures) if "mixture" not in t.column_names else t
            t = t.append_column("_key", pa.array(keys, pa.uint64()))
            names = sorted(self.layout)
            which = np.asarray(pc.index_in(mixtures, value_set=pa.array(names, pa.string())).to_numpy(zero_copy_only=False))
            offs = np.array([self.layout[m]["offset"] for m in names], dtype=np.uint64)[which]
            ns = np.array([self.layout[m]["shards"] for m in names], dtype=np.uint64)[which]
            t = t.append_column(PART_COLUMN, pa.array((offs + keys % ns).astype(np.int32)))
            parts.append(t)
        return pa.concat_tables(parts, promote_options="permissive") if parts else None

    def partition_write(self, part: int, tables: dict[str, pa.Table | None]) -> tuple[None, dict[str, Any]]:
        """Sort one shard's rows by key (ties by id), optionally pack, write it, and describe it."""
        p: ShardParams = self.params  # type: ignore[assignment]
        t = tables["routed"]
        if t is None or t.num_rows == 0:
            return None, {}
        t = t.sort_by([("_key", "ascending"), ("id", "ascending")])
        mixture = t.column("mixture")[0].as_py()
        local = part - self.layout[mixture]["offset"]
        folder = Path(self._folder) / SHARDS / mixture
        folder.mkdir(parents=True, exist_ok=True)
        name = f"shard-{local:05d}-of-{self.layout[mixture]['shards']:05d}.parquet"
        domain = "mix_domain" if "mix_domain" in t.column_names else None
        lengths = np.asarray(pc.list_value_length(t.column(p.tokens_column)).to_numpy(zero_copy_only=False))
        docs_by, toks_by = {}, {}
        if domain:
            g = pa.table({"d": pc.fill_null(t.column(domain), "(none)"), "n": pa.array(lengths, pa.int64())})
            for row in g.group_by("d").aggregate([("n", "count"), ("n", "sum")]).to_pylist():
                docs_by[row["d"]], toks_by[row["d"]] = row["n_count"], row["n_sum"]
        body = _pack(t, p) if p.pack else t.drop_columns(["_key", PART_COLUMN, "mixture"])
        tokens_col = body.column(p.tokens_column)
        if tokens_col.type != pa.list_(pa.uint32()):
            body = body.set_column(body.column_names.index(p.tokens_column), p.tokens_column,
                                   pc.cast(tokens_col, pa.list_(pa.uint32())))
        path = folder / name
        tmp = path.with_name("." + path.name + ".tmp")
        pq.write_table(body, tmp, compression="zstd", compression_level=p.compression_level, row_group_size=16384)
        os.replace(tmp, path)
        digest = _file_sha256(path)  # streamed: a 256 MB shard is never held twice
        return None, {"mixture": mixture, "file": f"{mixture}/{name}", "sha256": digest, "bytes": path.stat().st_size,
                      "rows": body.num_rows, "documents": t.num_rows, "tokens": int(lengths.sum()),
                      "documents_by_domain": dict(sorted(docs_by.items())), "tokens_by_domain": dict(sorted(toks_by.items()))}

    def apply_batch(self, batch: pa.Table, drops: pa.Table, annotations: pa.Table | None, folder: Any) -> BatchResult:
        """Every row is kept: the shards are the stage's output, the per-shard rows stay for lineage."""
        return BatchResult(kept=batch)

    def published(self, folder: Any) -> Any:
        """The shards folder is what a training run reads."""
        return Path(folder) / SHARDS

    def report(self, folder: Any) -> dict[str, Any] | None:
        """Shard counts, sizes and tokens per mixture, from the manifests."""
        out = {}
        for man in sorted((Path(folder) / SHARDS).glob("*/manifest.json")):
            m = json.loads(man.read_text())
            out[m["mixture"]] = {"shards": len(m["shards"]), "documents": m["documents"], "tokens": m["tokens"],
                                 "bytes": sum(s["bytes"] for s in m["shards"]), "manifest": str(man)}
        return {"shards": out} if out else None


def _file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sum_dicts(ds: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in ds:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items()))


def _pack(t: pa.Table, p: ShardParams) -> pa.Table:
    """Concatenate documents in key order and cut into ``seq_len`` sequences with boundary indexes."""
    col = t.column(p.tokens_column).combine_chunks()
    flat = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=np.uint32)
    lengths = np.asarray(pc.list_value_length(col).to_numpy(zero_copy_only=False), dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    n_seq = max(1, math.ceil(len(flat) / p.seq_len))
    seq_starts = np.arange(n_seq, dtype=np.int64) * p.seq_len
    ids = t.column("id").to_pylist()
    offsets_list, ids_list = [], []
    for s in seq_starts.tolist():
        e = s + p.seq_len
        lo = int(np.searchsorted(starts, s, side="right")) - 1  # the document covering the sequence start
        hi = int(np.searchsorted(starts, e, side="left"))
        docs = range(max(lo, 0), hi)
        offsets_list.append([max(0, int(starts[d]) - s) for d in docs])
        ids_list.append([ids[d] for d in docs])
    tokens = pa.ListArray.from_arrays(pa.array(np.minimum(np.append(seq_starts, len(flat)), len(flat)).astype(np.int32)),
                                      pa.array(flat, pa.uint32()))
    return pa.table({
        "tokens": tokens,
        "doc_offsets": pa.array(offsets_list, pa.list_(pa.uint32())),
        "doc_ids": pa.array(ids_list, pa.list_(pa.string())),
        "n_tokens": pa.array(np.diff(np.minimum(np.append(seq_starts, len(flat)), len(flat))).astype(np.int64)),
    })

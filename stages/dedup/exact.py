"""Exact deduplication on a hash of normalised text."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from dataforge.hashing import hash_strings
from dataforge.stage import DatasetStage, StageParams


class ExactDedupParams(StageParams):
    """What counts as the same document and which copy survives."""

    on: Literal["text", "url"] = Field("text", description="deduplicate on normalised text or on URL")
    normalize: bool = Field(True, description="lowercase, fold whitespace and strip punctuation before hashing")
    priority: str | None = Field(None, description="numeric column; the copy with the highest value is kept")


class ExactDedup(DatasetStage):
    """Keep one document per group of identical (normalised) texts or URLs, across the whole dataset.

    The survivor is the row with the highest ``priority`` column value if one is configured,
    then the smallest id (so the choice is deterministic). Removed rows carry the reason
    ``exact_duplicate`` and, as detail, the id of the kept document. Grouping is by a 64-bit
    xxh3 hash, partitioned across workers; no node sees all documents.
    """

    name = "exact_dedup_v1"
    Params = ExactDedupParams
    batch_size = 8192

    def keys(self, batch: pa.Table) -> pa.Table:
        """id, key (uint64 hash) and priority for each row."""
        p: ExactDedupParams = self.params  # type: ignore[assignment]
        col = pc.fill_null(batch.column(p.on), "")
        if p.normalize:
            col = pc.utf8_lower(col)
            col = pc.replace_substring_regex(col, r"[\p{P}\p{S}]+", "")
            col = pc.utf8_trim_whitespace(pc.replace_substring_regex(col, r"\s+", " "))
        cols = {"id": batch.column("id"), "key": pa.array(hash_strings(col), pa.uint64())}
        if p.priority:
            cols["priority"] = pc.cast(pc.fill_null(batch.column(p.priority), float("-inf")), pa.float64())
        return pa.table(cols)

    def decide(self, keys: pa.Table) -> pa.Table:
        """Within each key group keep the top row; return the others with the kept id."""
        if keys.num_rows == 0:
            return pa.table({"id": pa.array([], pa.string()), "reason": pa.array([], pa.string()),
                             "detail": pa.array([], pa.string())})
        order = [("key", "ascending")]
        if "priority" in keys.column_names:
            order.append(("priority", "descending"))
        order.append(("id", "ascending"))
        s = keys.sort_by(order)
        key = s.column("key").to_numpy()
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(key)), 0))
        ids = s.column("id")
        kept_id = pc.take(ids, pa.array(group_start))
        drop = pa.array(~first)
        return pa.table({
            "id": pc.filter(ids, drop),
            "reason": pa.array(["exact_duplicate"] * int((~first).sum()), pa.string()),
            "detail": pc.filter(kept_id, drop),
        })

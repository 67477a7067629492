"""Keep the best-of-n responses per prompt, or those above a reward threshold or percentile."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from dataforge.hashing import hash_strings
from dataforge.stage import DatasetStage, StageParams

EMPTY_DROPS = {"id": pa.string(), "reason": pa.string(), "detail": pa.string()}


class RewardFilterParams(StageParams):
    """Selection rule over the ``reward`` column written by ``reward_score_v1``."""

    mode: Literal["best_of_n", "threshold", "percentile"] = Field("best_of_n", description="selection rule")
    column: str = Field("reward", description="the score column")
    group_column: str | None = Field("source_id", description="best-of-n / percentile groups (null: the whole dataset)")
    top_k: int = Field(1, ge=1, description="best_of_n: rows kept per group")
    threshold: float | None = Field(None, description="threshold: keep reward >= threshold (also a floor for best_of_n)")
    percentile: float | None = Field(None, ge=0, le=100, description="percentile: keep reward >= this percentile")

    @model_validator(mode="after")
    def _mode_needs(self) -> "RewardFilterParams":
        if self.mode == "threshold" and self.threshold is None:
            raise ValueError("mode 'threshold' needs threshold: e.g. threshold: 0.5")
        if self.mode == "percentile" and self.percentile is None:
            raise ValueError("mode 'percentile' needs percentile (0-100): e.g. percentile: 50 keeps the top half")
        if self.mode == "best_of_n" and not self.group_column:
            raise ValueError("mode 'best_of_n' needs group_column (the column shared by a prompt's samples, e.g. source_id)")
        return self


class RewardFilter(DatasetStage):
    """Select synthetic rows by reward: best-of-n per prompt group, a threshold, or a percentile.

    Groups (``source_id`` by default: all samples of one prompt) are gathered across shards by
    hash partition, so best-of-n is exact however the samples were split. Ties go to the
    smaller id. Percentile with ``group_column: null`` ranks the whole dataset in one
    partition (ids and rewards only). Reasons: ``not_best_of_n`` (detail: the kept id),
    ``reward_below_threshold``, ``reward_below_percentile`` (detail: reward and cut), and
    ``no_reward`` for rows without a score (run ``reward_score_v1`` first).
    """

    name = "reward_filter_v1"
    Params = RewardFilterParams
    batch_size = 8192

    def keys(self, batch: pa.Table) -> pa.Table:
        """id, key (hash of the group, or 0 for one global group) and reward."""
        p: RewardFilterParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        if p.column in batch.column_names:
            reward = pc.cast(batch.column(p.column), pa.float64())
        else:
            reward = pa.nulls(n, pa.float64())
        ids = batch.column("id")
        if p.group_column is None:
            key = pa.array(np.zeros(n, dtype=np.uint64))
        else:
            group = batch.column(p.group_column) if p.group_column in batch.column_names else pa.nulls(n, pa.string())
            group = pc.cast(group, pa.string())
            key = pa.array(hash_strings(pc.if_else(pc.is_null(group), pc.binary_join_element_wise("\x00id:", ids, ""), group)),
                           pa.uint64())
        return pa.table({"id": ids, "key": key, "reward": reward})

    def decide(self, keys: pa.Table) -> pa.Table:
        """Rows to drop in one partition, by the configured rule."""
        p: RewardFilterParams = self.params  # type: ignore[assignment]
        if keys.num_rows == 0:
            return pa.schema(EMPTY_DROPS).empty_table()
        reward = keys.column("reward").to_numpy(zero_copy_only=False).astype(np.float64)
        missing = np.isnan(reward)
        ids = np.asarray(keys.column("id").to_pylist(), dtype=object)
        reasons = np.full(len(ids), None, dtype=object)
        details = np.full(len(ids), None, dtype=object)
        reasons[missing] = "no_reward"
        details[missing] = f"no {p.column!r} value; run reward_score_v1 before reward_filter_v1"
        if p.threshold is not None and p.mode in ("threshold", "best_of_n"):
            low = ~missing & (reward < p.threshold)
            reasons[low] = "reward_below_threshold"
            details[low] = [f"{r:.6g} < {p.threshold:g}" for r in reward[low]]
        live = reasons == None  # noqa: E711 - elementwise on an object array
        key = keys.column("key").to_numpy()
        if p.mode == "best_of_n":
            # sort by group, reward descending, id ascending; the first top_k of each group survive
            order = np.lexsort((ids, -np.where(live, reward, -np.inf), key))
            k_sorted = key[order]
            first = np.ones(len(order), dtype=bool)
            first[1:] = k_sorted[1:] != k_sorted[:-1]
            start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
            rank = np.arange(len(order)) - start
            live_sorted = live[order]
            lose = live_sorted & (rank >= p.top_k)
            best = ids[order][start]
            idx = order[lose]
            reasons[idx] = "not_best_of_n"
            details[idx] = best[lose]
        elif p.mode == "percentile":
            for g in np.unique(key):
                sel = live & (key == g)
                if not sel.any():
                    continue
                cut = float(np.percentile(reward[sel], p.percentile))
                low = sel & (reward < cut)
                reasons[low] = "reward_below_percentile"
                details[low] = [f"{r:.6g} < {cut:.6g} (p{p.percentile:g})" for r in reward[low]]
        drop = reasons != None  # noqa: E711
        return pa.table({"id": pa.array(ids[drop].tolist(), pa.string()),
                         "reason": pa.array(reasons[drop].tolist(), pa.string()),
                         "detail": pa.array([None if d is None else str(d) for d in details[drop]], pa.string())})

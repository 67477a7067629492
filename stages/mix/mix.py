"""Target domain mixtures in tokens: exact down-sampling, capped up-sampling, several mixtures per run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dataforge.hashing import hash_strings, unit_interval
from dataforge.shuffle import PART_COLUMN
from dataforge.stage import BatchResult, DatasetStage, StageParams

PLAN_FILE = "mix_plan.json"


class Mixture(BaseModel):
    """One target mixture: domain weights (shares of tokens), a token budget, a repetition cap."""

    model_config = ConfigDict(extra="forbid")
    weights: dict[str, float] = Field(description="domain -> share of the budget in tokens (normalised to sum 1)")
    total_tokens: float = Field(gt=0, description="token budget of this mixture")
    max_repeats: float = Field(4.0, ge=1.0, description="cap on up-sampling (Muennighoff et al. 2023: up to 4 epochs cost little)")
    prefer: str | None = Field(None, description="numeric column: when down-sampling, take the highest values first")

    @model_validator(mode="after")
    def _weights(self) -> "Mixture":
        if not self.weights or any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        return self

    def share(self, domain: str) -> float:
        """Normalised target share of a domain."""
        return self.weights.get(domain, 0.0) / sum(self.weights.values())


class MixParams(StageParams):
    """The mixtures, where domains and token counts come from, and the seed of every draw."""

    mixtures: dict[str, Mixture] = Field(min_length=1, description="name -> mixture; each output row says which")
    domain_column: str = Field("mix_domain", description="mixture-domain label (see domain_rules_v1)")
    token_column: str = Field("n_tokens", description="tokens per document; estimated from UTF-8 bytes when absent")
    bytes_per_token: float = Field(4.0, gt=0, description="estimate used when the token column is absent")
    seed: int = 0
    strict: bool = Field(False, description="fail the run when a target cannot be met, instead of capping and reporting")


class Mix(DatasetStage):
    """Produce target mixtures in tokens: down-sample over-represented domains, up-sample valuable ones (Qwen recipe).

    Per mixture and domain the target is share × budget. A domain with more tokens than its
    target is down-sampled *exactly*: documents are ordered by (preferred score, descending, if
    ``prefer`` is set, then u(seed, id)) and the prefix whose token count is closest to the target
    is kept, so shares land within half a document of the target. A domain with fewer tokens is repeated
    ``floor(f)`` times plus an exact prefix for the fraction, with f capped at ``max_repeats``;
    a target still out of reach is reported (which domain, by how much, what was done) — never
    silently rescaled — or, with ``strict``, fails the run. Draws depend only on (seed, id), so
    changing one domain's weight changes only that domain's selection, on any number of
    workers. Output rows carry ``mixture`` and ``repeat`` (0 for the first copy); rows no
    mixture takes are dropped with ``not_selected`` or ``domain_not_in_mixture``.
    """

    name = "mix_v1"
    Params = MixParams
    batch_size = 8192
    example = {"mixtures": {"main": {"weights": {"web": 1.0}, "total_tokens": 1000}}}

    # -- helpers ---------------------------------------------------------------------------------
    def _columns(self, batch: pa.Table) -> tuple[pa.Array, np.ndarray, np.ndarray]:
        p: MixParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        dom = (pc.fill_null(pc.cast(batch.column(p.domain_column), pa.string()), "(none)")
               if p.domain_column in batch.column_names else pa.array(["(none)"] * n))
        if p.token_column in batch.column_names:
            tokens = np.asarray(pc.fill_null(batch.column(p.token_column), 0).to_numpy(zero_copy_only=False), dtype=np.int64)
        else:
            nbytes = np.asarray(pc.fill_null(pc.binary_length(batch.column("text")), 0).to_numpy(zero_copy_only=False))
            tokens = np.ceil(nbytes / p.bytes_per_token).astype(np.int64)
        u = unit_interval(batch.column("id"), p.seed)
        return dom, tokens, u

    def _score(self, batch: pa.Table, column: str | None) -> np.ndarray | None:
        if not column:
            return None
        if column not in batch.column_names:
            raise ValueError(f"{self.name}: prefer column {column!r} is not in the data; add the stage that writes it "
                             "before mix_v1 or remove `prefer`")
        return np.asarray(pc.fill_null(pc.cast(batch.column(column), pa.float64()), float("-inf"))
                          .to_numpy(zero_copy_only=False))

    # -- rounds ----------------------------------------------------------------------------------
    def run_dataset(self, ctx: Any) -> None:
        """Per-document (domain, tokens, draw, scores) by domain partition -> exact per-domain plans."""
        p: MixParams = self.params  # type: ignore[assignment]
        ctx.map_shards("stats", "shard_stats")
        results = ctx.map_partitions("plans", "partition_plan", inputs=["stats"])
        plans = {}
        for r in results:
            plans.update(r.get("plans", {}))
        totals: dict[str, int] = {}
        for key, plan in plans.items():
            totals[plan["domain"]] = plan["tokens_available"]
        plan_doc = {"mixtures": {}, "available_tokens": dict(sorted(totals.items()))}
        problems = []
        for m, mix in sorted(p.mixtures.items()):
            entries = {}
            for d in sorted(set(totals) | set(mix.weights)):
                e = plans.get(f"{m}\x1f{d}") or _plan_domain(mix, d, np.zeros(0, np.int64), np.zeros(0), None)
                entries[d] = e
                if e.get("shortfall_tokens"):
                    problems.append(f"mixture {m!r}, domain {d!r}: target {e['tokens_target']:,.0f} tokens but only "
                                    f"{e['tokens_available']:,} available; at the cap of {mix.max_repeats:g} repeats it gets "
                                    f"{e['tokens_planned']:,} ({e['shortfall_tokens']:,.0f} short, "
                                    f"{e['tokens_planned'] / e['tokens_target']:.1%} of target). Raise max_repeats, add "
                                    f"data, or lower its weight.")
            plan_doc["mixtures"][m] = {"total_tokens": mix.total_tokens, "domains": entries,
                                       "planned_tokens": int(sum(e["tokens_planned"] for e in entries.values()))}
        plan_doc["problems"] = problems
        path = Path(ctx.folder) / PLAN_FILE
        path.write_text(json.dumps(plan_doc, indent=2, sort_keys=True))
        if problems:
            import sys

            for line in problems:
                print(f"warning: {self.name}: {line}", file=sys.stderr)
            if p.strict:
                raise RuntimeError(f"{self.name}: targets cannot be met (strict): " + "; ".join(problems))

    def shard_stats(self, unit: int, batches: Iterator[pa.Table]) -> pa.Table:
        """Per document: domain, tokens, draw u and the preferred scores, routed by domain."""
        p: MixParams = self.params  # type: ignore[assignment]
        prefer_cols = sorted({m.prefer for m in p.mixtures.values() if m.prefer})
        parts = []
        for batch in batches:
            if batch.num_rows == 0:
                continue
            dom, tokens, u = self._columns(batch)
            cols = {"domain": dom, "tokens": pa.array(tokens), "u": pa.array(u)}
            for c in prefer_cols:
                cols[f"score:{c}"] = pa.array(self._score(batch, c))
            cols[PART_COLUMN] = pa.array((hash_strings(dom) % np.uint64(self.partitions)).astype(np.int32))
            parts.append(pa.table(cols))
        return pa.concat_tables(parts) if parts else None  # type: ignore[return-value]

    def partition_plan(self, part: int, tables: dict[str, pa.Table | None]) -> tuple[None, dict[str, Any]]:
        """Exact plans for the domains of one partition, for every mixture."""
        p: MixParams = self.params  # type: ignore[assignment]
        t = tables["stats"]
        plans: dict[str, Any] = {}
        if t is None or t.num_rows == 0:
            return None, {"plans": plans}
        t = t.sort_by([("domain", "ascending")])
        dom = t.column("domain").to_pylist()
        tokens = t.column("tokens").to_numpy()
        u = t.column("u").to_numpy()
        bounds = [0] + [i for i in range(1, len(dom)) if dom[i] != dom[i - 1]] + [len(dom)]
        for a, b in zip(bounds, bounds[1:]):
            d = dom[a]
            for m, mix in p.mixtures.items():
                score = t.column(f"score:{mix.prefer}").to_numpy()[a:b] if mix.prefer else None
                plans[f"{m}\x1f{d}"] = _plan_domain(mix, d, tokens[a:b], u[a:b], score)
        return None, {"plans": plans}

    # -- applying the plan -----------------------------------------------------------------------
    def _plan(self, folder: Any) -> dict[str, Any]:
        if getattr(self, "_plan_cache", None) is None:
            self._plan_cache = json.loads((Path(folder) / PLAN_FILE).read_text())
        return self._plan_cache

    def apply_batch(self, batch: pa.Table, drops: pa.Table, annotations: pa.Table | None, folder: Any) -> BatchResult:
        """Give each row its copies in each mixture; rows no mixture takes are dropped with the reason."""
        p: MixParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        if n == 0:
            empty = batch.append_column("mixture", pa.array([], pa.string())).append_column("repeat", pa.array([], pa.int32()))
            return BatchResult(kept=empty)
        plan = self._plan(folder)
        dom, tokens, u = self._columns(batch)
        doms = np.asarray(dom.to_pylist(), dtype=object)
        present = sorted(set(doms.tolist()))
        masks = {d: doms == d for d in present}
        names = sorted(p.mixtures)
        copies = np.zeros((len(names), n), dtype=np.int64)
        for j, m in enumerate(names):
            entries = plan["mixtures"][m]["domains"]
            mix = p.mixtures[m]
            score = self._score(batch, mix.prefer) if mix.prefer else None
            for d in present:
                e = entries.get(d)
                if not e or e["mode"] == "excluded":
                    continue
                rows = masks[d]
                extra = _selected(e, u[rows], None if score is None else score[rows])
                copies[j, rows] = e["full_copies"] + extra.astype(np.int64)
        keep_rows = copies.sum(axis=0) > 0
        # output rows: for each input row in order, each mixture in name order, each copy
        per_cell = copies.T.ravel()  # (row, mixture) cells in row-major order
        row_idx = np.repeat(np.repeat(np.arange(n), len(names)), per_cell)
        mix_idx = np.repeat(np.tile(np.arange(len(names)), n), per_cell)
        cell_start = np.repeat(np.cumsum(per_cell) - per_cell, per_cell)
        rep_idx = np.arange(len(row_idx)) - cell_start
        kept = batch.take(pa.array(row_idx, pa.int64()))
        kept = kept.append_column("mixture", pc.take(pa.array(names, pa.string()), pa.array(mix_idx, pa.int64())))
        kept = kept.append_column("repeat", pa.array(rep_idx.astype(np.int32)))
        dropped = None
        if not keep_rows.all():
            drop_i = np.flatnonzero(~keep_rows)
            dropped = batch.take(pa.array(drop_i))
            why: dict[str, tuple[str, str]] = {}
            for d in present:  # one reason per domain, not per row
                listed = [m for m in names if plan["mixtures"][m]["domains"].get(d, {}).get("mode", "excluded") != "excluded"]
                why[d] = ("not_selected" if listed else "domain_not_in_mixture",
                          f"domain {d!r}" + (f" down-sampled in {', '.join(listed)}" if listed else " has no weight"))
            dropped = dropped.append_column("reason", pa.array([why[d][0] for d in doms[drop_i]], pa.string()))
            dropped = dropped.append_column("detail", pa.array([why[d][1] for d in doms[drop_i]], pa.string()))
        created = len(row_idx) - int(keep_rows.sum())
        return BatchResult(kept=kept, dropped=dropped, created=created)

    def report(self, folder: Any) -> dict[str, Any] | None:
        """Mixture statistics: per domain tokens and shares before/after vs target, repetition, quality quantiles."""
        from dataforge.stages.mix.report import mixture_report

        return mixture_report(self, Path(folder))


def _order(u: np.ndarray, score: np.ndarray | None) -> np.ndarray:
    """Selection order: highest score first (if any), then the smallest draw."""
    return np.lexsort((u, -score)) if score is not None else np.argsort(u, kind="stable")


def _plan_domain(mix: Mixture, domain: str, tokens: np.ndarray, u: np.ndarray, score: np.ndarray | None) -> dict[str, Any]:
    """How one domain meets its target in one mixture: full copies plus an exact prefix of the order."""
    available = int(tokens.sum())
    target = mix.share(domain) * mix.total_tokens
    base = {"domain": domain, "tokens_available": available, "documents": int(len(tokens)),
            "tokens_target": target, "target_share": mix.share(domain)}
    if target <= 0 or available == 0:
        short = target if target > 0 else 0.0
        return {**base, "mode": "excluded", "full_copies": 0, "tokens_planned": 0, "repeat_factor": 0.0,
                "shortfall_tokens": short, "cut_score": None, "cut_u": -1.0}
    factor = min(target / available, mix.max_repeats)
    full = int(math.floor(factor)) if factor >= 1 else 0
    remainder = target - full * available if factor < mix.max_repeats else (factor - full) * available
    order = _order(u, score)
    cum = np.cumsum(tokens[order])
    k = int(np.searchsorted(cum, remainder, side="left")) if remainder > 0 else -1
    if k >= len(order):
        k = len(order) - 1
    if k >= 0 and abs((cum[k - 1] if k > 0 else 0) - remainder) < abs(cum[k] - remainder):
        k -= 1  # stopping one document earlier lands closer to the target
    cut_u = float(u[order[k]]) if k >= 0 else -1.0
    cut_score = float(score[order[k]]) if (k >= 0 and score is not None) else None
    planned = int(full * available + (cum[k] if k >= 0 else 0))
    return {**base, "mode": "upsample" if full >= 1 else "downsample", "full_copies": full,
            "cut_u": cut_u, "cut_score": cut_score, "tokens_planned": planned,
            "repeat_factor": planned / available, "shortfall_tokens": max(0.0, target - planned)
            if factor >= mix.max_repeats and target - planned > 0.005 * target else 0.0}


def _selected(entry: dict[str, Any], u: np.ndarray, score: np.ndarray | None) -> np.ndarray:
    """Rows inside the exact prefix: (score, u) ordered before or at the cut."""
    if entry["cut_u"] < 0:
        return np.zeros(len(u), dtype=bool)
    if entry["cut_score"] is None or score is None:
        return u <= entry["cut_u"]
    s = entry["cut_score"]
    return (score > s) | ((score == s) & (u <= entry["cut_u"]))

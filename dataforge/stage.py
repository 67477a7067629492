"""Stage kinds: Annotator, Filter, Transform and DatasetStage, and the batch contract they share.

A stage's ``__init__`` only validates and stores its parameters; models load in ``setup()``,
once per worker. Every stage accepts an empty batch and passes unknown columns through.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from dataforge.schema import DETAIL_COLUMN, REASON_COLUMN, quarantine_table


#: A batch of at least this many rows in which every row fails is a broken stage, not bad data.
SYSTEMATIC_FAILURE_ROWS = 4


class NoParams(BaseModel):
    """Parameters of a stage that takes none."""

    model_config = ConfigDict(extra="forbid")


class StageParams(BaseModel):
    """Base for stage parameter models: unknown keys are rejected, values are validated."""

    model_config = ConfigDict(extra="forbid")


class Resources(BaseModel):
    """What one worker of a stage needs from the cluster."""

    model_config = ConfigDict(extra="forbid")
    cpus: float = 1.0
    gpus: float = 0.0
    memory_gb: float | None = None


@dataclass
class BatchResult:
    """What a stage made of one batch: kept rows, dropped rows (with reason), quarantined rows."""

    kept: pa.Table
    dropped: pa.Table | None = None  # has REASON_COLUMN and DETAIL_COLUMN
    quarantined: pa.Table | None = None  # QUARANTINE_SCHEMA
    created: int = 0  # rows a splitting Transform made beyond one per input row

    def count(self, table: pa.Table | None) -> int:
        """Rows in an optional table."""
        return 0 if table is None else table.num_rows


class StageError(RuntimeError):
    """A stage broke its contract (not a bad document: a bug or a misconfiguration)."""


class Stage:
    """Base class of every stage. Subclasses set ``name`` (versioned) and a ``Params`` model."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]] = NoParams
    resources: ClassVar[Resources] = Resources()
    batch_size: ClassVar[int] = 1024
    workers: ClassVar[int | None] = None  # None: as many as the cluster's CPUs allow
    stateful: ClassVar[bool] = False  # True: run on an actor pool so setup() happens once per actor
    #: Parameters that make a working instance, for docs and the contract test (stages with required params).
    example: ClassVar[dict[str, Any]] = {}
    #: Columns an earlier stage must have written (e.g. ``tokens``); a batch without them is an error.
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: BaseModel | dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Validate and store the parameters; load nothing heavy here."""
        if isinstance(params, BaseModel):
            self.params = self.Params.model_validate(params.model_dump())
        else:
            merged = dict(params or {})
            merged.update(kwargs)
            self.params = self.Params.model_validate(merged)
        self._ready = False

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        """Load models, tokenizers and other heavy state; called once per worker."""

    def ensure_setup(self) -> None:
        """Call setup() once."""
        if not self._ready:
            self.setup()
            self._ready = True

    def versions(self) -> dict[str, str]:
        """Versions or checksums of the models and libraries this stage uses, for manifests."""
        return {}

    def config_hash(self) -> str:
        """A stable hash of the stage name and its parameters."""
        payload = json.dumps({"stage": self.name, "params": self.params.model_dump(mode="json")}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    # -- batch processing ------------------------------------------------------------------
    def process(self, batch: pa.Table) -> BatchResult:
        """Process one batch; subclasses of the four kinds implement this."""
        raise NotImplementedError

    def __call__(self, batch: pa.Table) -> BatchResult:
        """Process a batch; a batch that raises is retried row by row so one bad row is quarantined alone."""
        self.ensure_setup()
        try:
            result = self.process(batch)
        except Exception:  # noqa: BLE001 - isolate the offending rows instead of failing the run
            if batch.num_rows <= 1:
                return self._quarantine_rows(batch)
            result = self._row_by_row(batch)
        self._check(batch, result)
        return result

    def _row_by_row(self, batch: pa.Table) -> BatchResult:
        kept, dropped, quarantined, created = [], [], [], 0
        failures: list[BaseException] = []
        for i in range(batch.num_rows):
            row = batch.slice(i, 1)
            try:
                r = self.process(row)
            except Exception as exc:  # noqa: BLE001
                failures.append(exc)
                if len(failures) == batch.num_rows and batch.num_rows >= SYSTEMATIC_FAILURE_ROWS:
                    raise StageError(
                        f"stage {self.name!r} failed on every one of {batch.num_rows} rows of a batch "
                        f"({type(exc).__name__}: {exc}); this is a stage or configuration problem, not bad "
                        "data, so the run stops instead of quarantining everything"
                    ) from exc
                r = self._quarantine_rows(row)
            kept.append(r.kept)
            if r.dropped is not None and r.dropped.num_rows:
                dropped.append(r.dropped)
            if r.quarantined is not None and r.quarantined.num_rows:
                quarantined.append(r.quarantined)
            created += r.created
        good = [t for t in kept if t.num_rows] or kept[:1]
        return BatchResult(
            kept=pa.concat_tables(good, promote_options="permissive"),
            dropped=pa.concat_tables(dropped, promote_options="permissive") if dropped else None,
            quarantined=pa.concat_tables(quarantined) if quarantined else None,
            created=created,
        )

    def _quarantine_rows(self, rows: pa.Table) -> BatchResult:
        err = traceback.format_exc(limit=3).strip().splitlines()
        detail = err[-1] if err else "unknown error"
        ids = rows.column("id").to_pylist() if "id" in rows.column_names else [None] * rows.num_rows
        sources = rows.column("source").to_pylist() if "source" in rows.column_names else [None] * rows.num_rows
        texts = rows.column("text").to_pylist() if "text" in rows.column_names else [None] * rows.num_rows
        q = quarantine_table(ids, "", self.name, ["stage_error"] * rows.num_rows, [detail] * rows.num_rows, texts)
        q = q.set_column(1, "source", pa.array(sources, pa.string()))
        return BatchResult(kept=rows.slice(0, 0), quarantined=q)

    def _check(self, batch: pa.Table, result: BatchResult) -> None:
        n_in = batch.num_rows
        n_out = result.kept.num_rows - result.created + result.count(result.dropped) + result.count(result.quarantined)
        if n_in != n_out:
            raise StageError(
                f"stage {self.name!r} lost track of rows: {n_in} in, but kept {result.kept.num_rows} "
                f"(created {result.created}) + dropped {result.count(result.dropped)} + "
                f"quarantined {result.count(result.quarantined)}; every row must be kept, dropped or quarantined"
            )

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Name, kind, docs, parameters with defaults, and scheduling of this stage."""
        params = {}
        for pname, f in cls.Params.model_fields.items():
            params[pname] = {
                "type": getattr(f.annotation, "__name__", str(f.annotation)),
                "default": None if f.is_required() else f.get_default(call_default_factory=True),
                "required": f.is_required(),
                "doc": f.description or "",
            }
        return {
            "name": cls.name,
            "kind": cls.kind,
            "doc": (cls.__doc__ or "").strip(),
            "params": params,
            "resources": cls.resources.model_dump(),
            "batch_size": cls.batch_size,
            "workers": cls.workers,
            "stateful": cls.stateful,
        }


class Annotator(Stage):
    """Adds or updates columns; never drops rows. Models score here."""

    kind = "annotator"

    def annotate(self, batch: pa.Table) -> pa.Table:
        """Return the batch with the stage's columns added (same rows, same order)."""
        raise NotImplementedError

    def process(self, batch: pa.Table) -> BatchResult:
        """Annotate and check the row count is unchanged."""
        out = self.annotate(batch)
        if out.num_rows != batch.num_rows:
            raise StageError(f"annotator {self.name!r} changed the row count ({batch.num_rows} -> {out.num_rows})")
        return BatchResult(kept=out)


class Filter(Stage):
    """Returns, per row, a reason to drop it or null to keep it; the engine does the rest.

    A filter may also override ``annotate`` to add the signal columns its decision uses
    (e.g. language and score); kept rows carry them, so a later stage can re-threshold.
    """

    kind = "filter"

    def annotate(self, batch: pa.Table) -> pa.Table:
        """Columns to add before deciding (default: none). Same rows, same order."""
        return batch

    def reasons(self, batch: pa.Table) -> pa.Array | list[str | None] | tuple[Any, Any]:
        """Per row: a drop reason (short snake_case) or None to keep; optionally (reasons, details)."""
        raise NotImplementedError

    def process(self, batch: pa.Table) -> BatchResult:
        """Split the batch into kept rows and dropped rows with their reason and detail."""
        annotated = self.annotate(batch)
        if annotated.num_rows != batch.num_rows:
            raise StageError(f"filter {self.name!r} annotate() changed the row count")
        batch = annotated
        out = self.reasons(batch)
        details: Any = None
        if isinstance(out, tuple):
            out, details = out
        reasons = out if isinstance(out, (pa.Array, pa.ChunkedArray)) else pa.array(out, pa.string())
        if len(reasons) != batch.num_rows:
            raise StageError(f"filter {self.name!r} returned {len(reasons)} reasons for {batch.num_rows} rows")
        keep = pc.is_null(reasons)
        kept = batch.filter(keep)
        if kept.num_rows == batch.num_rows:
            return BatchResult(kept=kept)
        drop = pc.invert(keep)
        dropped = batch.filter(drop)
        dropped = dropped.append_column(REASON_COLUMN, pc.filter(reasons, drop).cast(pa.string()))
        if details is None:
            det = pa.nulls(dropped.num_rows, pa.string())
        else:
            det_arr = details if isinstance(details, (pa.Array, pa.ChunkedArray)) else pa.array(details, pa.string())
            det = pc.filter(det_arr, drop).cast(pa.string())
        dropped = dropped.append_column(DETAIL_COLUMN, det)
        return BatchResult(kept=kept, dropped=dropped)


class Transform(Stage):
    """Rewrites rows (HTML to text, PDF to pages, span removal)."""

    kind = "transform"

    def transform(self, batch: pa.Table) -> pa.Table | BatchResult:
        """Return the rewritten batch (one row per input row), or a BatchResult for splits and drops."""
        raise NotImplementedError

    def process(self, batch: pa.Table) -> BatchResult:
        """Run transform() and wrap a plain table result."""
        out = self.transform(batch)
        if isinstance(out, BatchResult):
            return out
        if out.num_rows != batch.num_rows:
            raise StageError(
                f"transform {self.name!r} returned {out.num_rows} rows for {batch.num_rows}; "
                "return a BatchResult with created/dropped counts to split or drop rows"
            )
        return BatchResult(kept=out)


@dataclass
class GroupDecision:
    """Rows a DatasetStage drops: their ids, the reason, and a detail (e.g. the id kept instead)."""

    ids: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    details: list[str | None] = field(default_factory=list)


class DatasetStage(Stage):
    """Global work over the whole dataset: distributed rounds, then per-shard decisions applied.

    The simple form is map -> grouped decide: ``keys(batch)`` runs on every shard and returns
    ``id``, ``key`` (uint64) and whatever ``decide`` needs; the engine groups key rows by hash
    partition across workers (no node sees everything) and calls ``decide(keys)`` per
    partition, which returns ``id``, ``reason``, ``detail`` of the rows to drop. Stages that need
    several rounds (clustering) override ``run_dataset(ctx)`` and use the context's
    ``map_shards`` / ``map_partitions``; they must leave a ``decisions`` dataset (rows to drop,
    routed by ``_unit``) and may leave an ``annotations`` dataset (columns for kept rows, see
    ``annotate_kept``). Everything else passes through unchanged, in order.
    """

    kind = "dataset"
    #: Number of hash partitions intermediate data is grouped into. The engine sets it per run
    #: from the number of shards (never from the number of workers, so results stay identical).
    partitions: int = 16

    @staticmethod
    def partitions_for(shards: int) -> int:
        """Hash partitions for a run of ``shards`` shards: two per shard, between 4 and 512."""
        return max(4, min(512, 2 * shards))

    def keys(self, batch: pa.Table) -> pa.Table:
        """Per row: ``id``, ``key`` (uint64) and the columns decide() needs."""
        raise NotImplementedError

    def decide(self, keys: pa.Table) -> pa.Table:
        """Given all key rows of one hash partition, return ``id``, ``reason``, ``detail`` of rows to drop."""
        raise NotImplementedError

    def annotate_kept(self, batch: pa.Table, annotations: pa.Table | None) -> pa.Table:
        """Add columns from the ``annotations`` dataset to a shard's kept rows (default: none)."""
        return batch

    def apply_batch(self, batch: pa.Table, drops: pa.Table, annotations: pa.Table | None, folder: Any) -> BatchResult:
        """Apply the global decisions to one batch of a shard: drop, then annotate (override to repeat rows)."""
        res = apply_drops(batch, drops)
        res.kept = self.annotate_kept(res.kept, annotations)
        return res

    def report(self, folder: Any) -> dict[str, Any] | None:
        """A stage-specific report for the run summary, read from the stage folder (default: none)."""
        return None

    def published(self, folder: Any) -> Any:
        """A folder whose files are the run's published output instead of per-shard rows (default: none)."""
        return None

    # -- the distributed form ----------------------------------------------------------------
    def run_dataset(self, ctx: Any) -> None:
        """Run the global rounds on the cluster; the default is keys -> decide."""
        ctx.map_shards("keys", "shard_keys")
        ctx.map_partitions("decisions", "partition_decide", inputs=["keys"])

    def shard_keys(self, unit: int, batches: Any) -> pa.Table:
        """One shard's key rows, tagged with the shard and routed by ``key``."""
        import numpy as np

        from dataforge.shuffle import partition_of

        parts = [self.keys(b) for b in batches if b.num_rows]
        if not parts:
            return pa.table({"_part": pa.array([], pa.int32())})
        t = pa.concat_tables(parts, promote_options="permissive")
        t = t.append_column("_unit", pa.array(np.full(t.num_rows, unit, dtype=np.int32)))
        return t.append_column("_part", partition_of(t.column("key"), self.partitions))

    def partition_decide(self, p: int, tables: dict[str, pa.Table | None]) -> tuple[pa.Table | None, dict[str, Any]]:
        """Decide over one key partition; route the drops to their shards."""
        keys = tables["keys"]
        if keys is None or keys.num_rows == 0:
            return None, {"drops": 0}
        drops = self.decide(keys)
        return route_to_units(drops, keys, self.partitions), {"drops": drops.num_rows}

    def process(self, batch: pa.Table) -> BatchResult:
        """Apply the stage to this batch alone, through the same rounds it runs on a cluster."""
        from dataforge.shuffle import run_in_memory

        return run_in_memory(self, batch)


def route_to_units(rows: pa.Table, keys: pa.Table, partitions: int) -> pa.Table:
    """Attach each row's shard (looked up by ``id`` in ``keys``) and route it with ``_part = _unit % partitions``."""
    import numpy as np

    where = pc.index_in(rows.column("id"), value_set=keys.column("id").combine_chunks())
    unit = pc.take(keys.column("_unit"), where).cast(pa.int32())
    rows = rows.append_column("_unit", unit)
    part = (np.asarray(unit.to_numpy(zero_copy_only=False)) % partitions).astype(np.int32)
    return rows.append_column("_part", pa.array(part))


def apply_drops(batch: pa.Table, drops: pa.Table) -> BatchResult:
    """Remove rows whose id is in ``drops`` (id, reason, detail) and return them with their reasons."""
    if drops.num_rows == 0 or batch.num_rows == 0:
        return BatchResult(kept=batch)
    ids = batch.column("id")
    mask = pc.is_in(ids, value_set=drops.column("id").combine_chunks())
    if not pc.any(mask).as_py():
        return BatchResult(kept=batch)
    kept = batch.filter(pc.invert(mask))
    dropped = batch.filter(mask)
    idx = pc.index_in(dropped.column("id"), value_set=drops.column("id").combine_chunks())
    dropped = dropped.append_column(REASON_COLUMN, pc.take(drops.column("reason"), idx).cast(pa.string()))
    dropped = dropped.append_column(DETAIL_COLUMN, pc.take(drops.column("detail"), idx).cast(pa.string()))
    return BatchResult(kept=kept, dropped=dropped)

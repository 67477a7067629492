"""Hash-partitioned intermediate tables, and the context dataset stages use to run on the cluster.

A *partitioned dataset* is a folder of Parquet files, each holding one row group per partition
(a ``_part`` column says which) and a JSON sidecar mapping partition -> row group. Any number
of tasks write files into it (one per shard, or one per partition of a previous round); a task
for partition ``p`` then reads row group ``p`` of every file. That is a shuffle with no node
ever holding more than one partition, and it is deterministic: files are read in name order and
rows keep their order within a file.
"""

from __future__ import annotations

import contextlib

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataforge.rundir import atomic_write_json, read_json, reset_dir, tmp_name

if TYPE_CHECKING:
    from dataforge.runner import Plan

PART_COLUMN = "_part"
UNIT_COLUMN = "_unit"


def partition_of(values: pa.Array | pa.ChunkedArray | np.ndarray, partitions: int) -> pa.Array:
    """Partition of each unsigned/signed integer key: key mod partitions, as int32."""
    arr = values if isinstance(values, np.ndarray) else np.asarray(values.to_numpy(zero_copy_only=False))
    return pa.array((arr.astype(np.uint64) % np.uint64(partitions)).astype(np.int32))


def write_partitioned(path: Path, table: pa.Table, partitions: int) -> dict[str, Any]:
    """Write ``table`` (with a ``_part`` column) as one row group per non-empty partition."""
    if PART_COLUMN not in table.column_names:
        raise ValueError(f"a partitioned table needs a {PART_COLUMN!r} column")
    groups: dict[str, int] = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    if table.num_rows:
        order = pc.sort_indices(table, sort_keys=[(PART_COLUMN, "ascending")])  # stable: keeps row order
        table = table.take(order)
        parts = table.column(PART_COLUMN).to_numpy()
        bounds = np.flatnonzero(np.diff(parts)) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [len(parts)]))
        tmp = tmp_name(path)
        with pq.ParquetWriter(tmp, table.schema, compression="zstd") as w:
            for s, e in zip(starts.tolist(), ends.tolist()):
                groups[str(int(parts[s]))] = len(groups)
                w.write_table(table.slice(s, e - s), row_group_size=e - s)
        os.replace(tmp, path)
    elif path.exists():
        path.unlink()
    atomic_write_json(path.with_suffix(".json"), {"rows": table.num_rows, "groups": groups})
    return {"rows": table.num_rows, "partitions": len(groups)}


def read_partition(folder: Path, p: int) -> pa.Table | None:
    """Row group ``p`` of every file in a partitioned dataset, concatenated in file-name order."""
    tables = []
    if not folder.exists():
        return None
    for meta_path in sorted(folder.glob("part-*.json")):
        meta = read_json(meta_path) or {}
        g = (meta.get("groups") or {}).get(str(p))
        if g is None:
            continue
        tables.append(pq.ParquetFile(meta_path.with_suffix(".parquet")).read_row_group(g))
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="permissive")


def rows_for_unit(folder: Path, unit: int, partitions: int, columns: list[str] | None = None) -> pa.Table | None:
    """Rows of a unit-routed partitioned dataset (``_part = _unit % partitions``) that belong to ``unit``."""
    t = read_partition(folder, unit % partitions)
    if t is None:
        return None
    t = t.filter(pc.equal(t.column(UNIT_COLUMN), unit))
    return t.select(columns) if columns else t


class DatasetContext:
    """What a DatasetStage's ``run_dataset`` gets: shard maps and partition rounds on the executor.

    Each call runs tasks on the cluster through the run's executor and writes a partitioned
    dataset under the stage's folder; methods are named (strings) so the work travels to Ray
    workers as the pickled stage plus a method name.
    """

    def __init__(self, plan: "Plan", index: int, executor: Any, progress: Any) -> None:
        """Bind to one dataset stage of a planned run."""
        self.plan = plan
        self.index = index
        self.executor = executor
        self.progress = progress
        self.stage_plan = plan.stages[index]

    @property
    def partitions(self) -> int:
        """The stage's partition count (a stage may set it between rounds, e.g. to its number of output shards)."""
        return self.stage_plan.stage.partitions  # type: ignore[union-attr]

    @property
    def folder(self) -> Path:
        """The stage's folder in the run directory."""
        return self.stage_plan.folder

    def map_shards(self, name: str | list[str], method: str, inputs: list[str] | None = None,
                   **kwargs: Any) -> list[dict[str, Any]]:
        """For every shard: ``stage.<method>(unit_index, batches, **kwargs)`` -> table with ``_part`` written to
        ``name`` (or, with a list of names, a dict name -> table). With ``inputs`` (unit-routed datasets, see
        :func:`route_to_units_by_column`) the method also gets ``tables={input: this shard's rows or None}``."""
        from dataforge.executor import Scheduling
        from dataforge.runner import _Job

        for n in [name] if isinstance(name, str) else name:
            reset_dir(self.folder / n)
        items = [{"unit": u.index, "name": name, "method": method, "kwargs": kwargs, "inputs": inputs or []}
                 for u in self.plan.units]
        return self._run(f"{self.stage_plan.name}: {name if isinstance(name, str) else '+'.join(name)}", _Job(self.plan, "ctx_shard", self.index), items,
                         Scheduling(cpus=self.stage_plan.sched.cpus, workers=self.stage_plan.sched.workers, light=True))

    def map_partitions(self, name: str | list[str], method: str, inputs: list[str], **kwargs: Any) -> list[dict[str, Any]]:
        """For every partition p: ``stage.<method>(p, {input: table|None}, **kwargs)`` -> (output, info), where the
        output is a table with ``_part`` (or None) for one name, or a dict name -> table for a list of names."""
        from dataforge.executor import Scheduling
        from dataforge.runner import _Job

        for n in [name] if isinstance(name, str) else name:
            reset_dir(self.folder / n)
        items = [{"partition": p, "name": name, "method": method, "inputs": inputs, "kwargs": kwargs}
                 for p in range(self.partitions)]
        return self._run(f"{self.stage_plan.name}: {name}", _Job(self.plan, "ctx_partition", self.index), items,
                         Scheduling(cpus=self.stage_plan.sched.cpus, workers=self.stage_plan.sched.workers, light=True))

    def _run(self, label: str, job: Any, items: list[dict[str, Any]], sched: Any) -> list[dict[str, Any]]:
        task = self.progress.start(label, len(items))
        out = []
        with contextlib.closing(self.executor.map(job, items, sched)) as results:
            for res in results:
                out.append(res)
                self.progress.advance(task)
        self.progress.finish(task)
        return sorted(out, key=lambda r: (r.get("unit", -1), r.get("partition", -1)))


def shard_task(plan: "Plan", index: int, item: dict[str, Any]) -> dict[str, Any]:
    """Worker side of ``map_shards``."""
    from dataforge.runner import read_part, rebatch

    ps = plan.stages[index]
    stage = ps.stage
    stage.ensure_setup()  # type: ignore[union-attr]
    unit = plan.units[item["unit"]]
    batches: Iterator[pa.Table] = rebatch(read_part(plan.source_of(index, unit), unit, ps.batch_size), ps.batch_size)
    kwargs = dict(item["kwargs"])
    if item.get("inputs"):
        kwargs["tables"] = {n: rows_for_unit(ps.folder / n, unit.index, stage.partitions)  # type: ignore[union-attr]
                            for n in item["inputs"]}
    out = getattr(stage, item["method"])(unit.index, batches, **kwargs)
    info: dict[str, Any] = {}
    if isinstance(out, tuple):  # (output, info) like partition methods
        out, info = out
    rows = _write_outputs(ps.folder, item["name"], out, f"part-{unit.index:05d}.parquet", stage.partitions)  # type: ignore[union-attr]
    return {"unit": unit.index, "rows": rows, **(info or {})}


def _write_outputs(folder: Path, name: str | list[str], out: Any, filename: str, partitions: int) -> dict[str, int]:
    names = [name] if isinstance(name, str) else name
    tables = {name: out} if isinstance(name, str) else (out or {})
    rows = {}
    for n in names:
        table = tables.get(n)
        if table is None:
            table = pa.table({PART_COLUMN: pa.array([], pa.int32())})
        rows[n] = write_partitioned(folder / n / filename, table, partitions)["rows"]
    return rows


def partition_task(plan: "Plan", index: int, item: dict[str, Any]) -> dict[str, Any]:
    """Worker side of ``map_partitions``."""
    ps = plan.stages[index]
    stage = ps.stage
    stage.ensure_setup()  # type: ignore[union-attr]
    p = item["partition"]
    tables = {name: read_partition(ps.folder / name, p) for name in item["inputs"]}
    out, info = getattr(stage, item["method"])(p, tables, **item["kwargs"])
    rows = _write_outputs(ps.folder, item["name"], out, f"part-{p:05d}.parquet", stage.partitions)  # type: ignore[union-attr]
    return {"partition": p, "rows": rows, **(info or {})}


def route_to_units_by_column(rows: pa.Table, partitions: int) -> pa.Table:
    """Route rows that carry ``_unit`` to the partition their shard's apply task reads (``_unit % partitions``)."""
    unit = np.asarray(rows.column(UNIT_COLUMN).to_numpy(zero_copy_only=False))
    return rows.append_column(PART_COLUMN, pa.array((unit % partitions).astype(np.int32)))


class InMemoryContext:
    """The same rounds as DatasetContext, on one in-memory batch (a single shard, no executor).

    Lets a dataset stage be called directly on a table (tests, the contract check, tiny inputs)
    through exactly the code paths it runs on the cluster.
    """

    def __init__(self, stage: Any, batch: pa.Table, folder: Path | None = None) -> None:
        """Hold the stage and the one batch that plays shard 0; ``folder`` takes files a stage writes."""
        import tempfile

        self.stage = stage
        self.batch = batch
        self.folder = folder or Path(tempfile.mkdtemp(prefix="dataforge-inmemory-"))
        self.data: dict[str, list[pa.Table]] = {}

    @property
    def partitions(self) -> int:
        """The stage's current partition count."""
        return self.stage.partitions

    def _store(self, name: str | list[str], out: Any) -> None:
        names = [name] if isinstance(name, str) else name
        tables = {name: out} if isinstance(name, str) else (out or {})
        for n in names:
            t = tables.get(n)
            if t is not None and t.num_rows:
                self.data.setdefault(n, []).append(t)

    def _partition(self, name: str, p: int) -> pa.Table | None:
        parts = [t.filter(pc.equal(t.column(PART_COLUMN), p)) for t in self.data.get(name, [])]
        parts = [t for t in parts if t.num_rows]
        return pa.concat_tables(parts, promote_options="permissive") if parts else None

    def map_shards(self, name: str | list[str], method: str, inputs: list[str] | None = None,
                   **kwargs: Any) -> list[dict[str, Any]]:
        """Run the shard method on the one batch (with ``tables`` of the unit-routed ``inputs``, if any)."""
        if inputs:
            kwargs["tables"] = {n: self.rows_for_unit(n) for n in inputs}
        for n in [name] if isinstance(name, str) else name:
            self.data.pop(n, None)
        out = getattr(self.stage, method)(0, iter([self.batch]), **kwargs)
        info: dict[str, Any] = {}
        if isinstance(out, tuple):
            out, info = out
        self._store(name, out)
        return [{"unit": 0, **(info or {})}]

    def map_partitions(self, name: str | list[str], method: str, inputs: list[str], **kwargs: Any) -> list[dict[str, Any]]:
        """Run the partition method for every partition, reading the in-memory inputs."""
        results, outputs = [], []
        for p in range(self.partitions):
            tables = {i: self._partition(i, p) for i in inputs}
            out, info = getattr(self.stage, method)(p, tables, **kwargs)
            outputs.append(out)
            results.append({"partition": p, **(info or {})})
        for n in [name] if isinstance(name, str) else name:
            self.data.pop(n, None)
        for out in outputs:
            self._store(name, out)
        return results

    def rows_for_unit(self, name: str) -> pa.Table | None:
        """All rows of a unit-routed dataset (there is one shard)."""
        parts = self.data.get(name, [])
        return pa.concat_tables(parts, promote_options="permissive") if parts else None


def run_in_memory(stage: Any, batch: pa.Table) -> Any:
    """Apply a dataset stage to a single batch through its distributed rounds, in memory."""
    if batch.num_rows == 0:
        from dataforge.stage import BatchResult

        return BatchResult(kept=stage.annotate_kept(batch, None))
    ctx = InMemoryContext(stage, batch)
    stage.run_dataset(ctx)
    drops = ctx.rows_for_unit("decisions")
    if drops is None:
        drops = pa.table({"id": pa.array([], pa.string()), "reason": pa.array([], pa.string()),
                          "detail": pa.array([], pa.string())})
    return stage.apply_batch(batch, drops.select(["id", "reason", "detail"]), ctx.rows_for_unit("annotations"), ctx.folder)

"""Hash-partitioned intermediate tables, and the context dataset stages use to run on the cluster.

A *partitioned dataset* is a folder of Parquet files, each holding one row group per partition
(a ``_part`` column says which) and a JSON sidecar mapping partition -> row group. Any number
of tasks write files into it (one per shard, or one per partition of a previous round); a task
for partition ``p`` then reads row group ``p`` of every file. That is a shuffle with no node
ever holding more than one partition, and it is deterministic: files are read in name order and
rows keep their order within a file.
"""

from __future__ import annotations

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
        self.partitions: int = self.stage_plan.stage.partitions  # type: ignore[union-attr]

    @property
    def folder(self) -> Path:
        """The stage's folder in the run directory."""
        return self.stage_plan.folder

    def map_shards(self, name: str, method: str, **kwargs: Any) -> list[dict[str, Any]]:
        """For every shard: ``stage.<method>(unit_index, batches, **kwargs)`` -> table with ``_part``; written to ``name``."""
        from dataforge.executor import Scheduling
        from dataforge.runner import _Job

        reset_dir(self.folder / name)
        items = [{"unit": u.index, "name": name, "method": method, "kwargs": kwargs} for u in self.plan.units]
        return self._run(f"{self.stage_plan.name}: {name}", _Job(self.plan, "ctx_shard", self.index), items,
                         Scheduling(cpus=self.stage_plan.sched.cpus, workers=self.stage_plan.sched.workers))

    def map_partitions(self, name: str, method: str, inputs: list[str], **kwargs: Any) -> list[dict[str, Any]]:
        """For every partition p: ``stage.<method>(p, {input: table|None}, **kwargs)`` -> (table with ``_part`` | None, info)."""
        from dataforge.executor import Scheduling
        from dataforge.runner import _Job

        reset_dir(self.folder / name)
        items = [{"partition": p, "name": name, "method": method, "inputs": inputs, "kwargs": kwargs}
                 for p in range(self.partitions)]
        return self._run(f"{self.stage_plan.name}: {name}", _Job(self.plan, "ctx_partition", self.index), items,
                         Scheduling(cpus=self.stage_plan.sched.cpus, workers=self.stage_plan.sched.workers))

    def _run(self, label: str, job: Any, items: list[dict[str, Any]], sched: Any) -> list[dict[str, Any]]:
        task = self.progress.start(label, len(items))
        out = []
        for res in self.executor.map(job, items, sched):
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
    batches: Iterator[pa.Table] = rebatch(read_part(plan.stages[index - 1], unit, ps.batch_size), ps.batch_size)
    table = getattr(stage, item["method"])(unit.index, batches, **item["kwargs"])
    info = write_partitioned(ps.folder / item["name"] / f"part-{unit.index:05d}.parquet", table, stage.partitions)  # type: ignore[union-attr]
    return {"unit": unit.index, **info}


def partition_task(plan: "Plan", index: int, item: dict[str, Any]) -> dict[str, Any]:
    """Worker side of ``map_partitions``."""
    ps = plan.stages[index]
    stage = ps.stage
    stage.ensure_setup()  # type: ignore[union-attr]
    p = item["partition"]
    tables = {name: read_partition(ps.folder / name, p) for name in item["inputs"]}
    table, info = getattr(stage, item["method"])(p, tables, **item["kwargs"])
    if table is None:
        table = pa.table({PART_COLUMN: pa.array([], pa.int32())})
    written = write_partitioned(ps.folder / item["name"] / f"part-{p:05d}.parquet", table, stage.partitions)  # type: ignore[union-attr]
    return {"partition": p, **written, **(info or {})}

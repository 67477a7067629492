"""Plan and run a pipeline: shards through stage segments, dataset stages, resume, accounting.

A run is split into *shards* (the reader's units: files or byte/row ranges, fixed by the input
and ``split_bytes`` alone). Consecutive row-level stages (annotators, filters, transforms) form
a *segment* that runs shard by shard: read the shard's input, stream it batch by batch through
the stages, write each stage's kept rows, rejects and quarantine for that shard. Dataset
stages run between segments as map (keys per shard) -> grouped decide (per hash partition)
-> apply (per shard). Every shard of every stage has a fingerprint that chains the input
file, the reader config and each stage's config, so an unchanged shard is skipped on rerun,
a changed stage reruns with what follows it, and output is byte-identical whatever the
number of workers.

A pipeline with several ``inputs`` reads each input's shards with its own reader and runs
them through that input's own row-level stages (its *branch*) before the shared stages: the
plan lists every stage once (reader, each branch's stages in input order, shared stages),
and a branch stage simply does not apply to another input's shards, which read from the
last stage that did apply to them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from dataforge import __version__, registry
from dataforge.executor import Scheduling, current_node
from dataforge.readers import Unit, get_reader
from dataforge.readers.files import expand
from dataforge.rundir import (
    OutputError,
    PartWriter,
    check_writable,
    atomic_write_bytes,
    atomic_write_json,
    clean_tmp,
    writing,
    part_path,
    read_json,
    remove_stale_parts,
    reset_dir,
    stage_dir,
)
from dataforge.schema import DETAIL_COLUMN, REASON_COLUMN
from dataforge.spec import PipelineSpec
from dataforge.stage import DatasetStage, Resources, Stage, apply_drops

READ = "read"


def _h(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


@dataclass
class PlannedStage:
    """A stage placed in a run: its instance, folder, scheduling and chained fingerprint."""

    index: int
    name: str
    stage: Stage | None  # None for the reader (index 0)
    folder: Path
    fingerprint: str
    sched: Scheduling
    batch_size: int
    write_data: bool = True
    branch: int | None = None  # the input whose shards this stage sees (None: every shard)

    @property
    def is_dataset(self) -> bool:
        """Whether this is a whole-dataset stage."""
        return isinstance(self.stage, DatasetStage)

    def unit_fp(self, unit: Unit) -> str:
        """Fingerprint of this stage's output for one shard."""
        return _h(self.fingerprint, unit.fingerprint)


@dataclass
class Plan:
    """Everything a run needs, picklable so workers get it once per task."""

    spec: PipelineSpec
    run_dir: Path
    units: list[Unit]
    stages: list[PlannedStage]  # stages[0] is the reader
    compression: str = "zstd"
    unit_branch: list[int] = field(default_factory=list)  # input index of each shard (empty: all input 0)

    def branch_of(self, unit: Unit) -> int:
        """Which input a shard comes from."""
        return self.unit_branch[unit.index] if self.unit_branch else 0

    def applies(self, ps: PlannedStage, unit: Unit) -> bool:
        """Whether a stage processes this shard (a branch stage only sees its own input's shards)."""
        return ps.branch is None or ps.branch == self.branch_of(unit)

    def source_of(self, index: int, unit: Unit) -> PlannedStage:
        """The stage whose output stage ``index`` reads for this shard: the last earlier stage that applies to it."""
        for i in range(index - 1, 0, -1):
            if self.applies(self.stages[i], unit):
                return self.stages[i]
        return self.stages[0]

    def input_spec(self, unit: Unit) -> Any:
        """The input spec (format, options) a shard is read with."""
        return self.spec.branches()[self.branch_of(unit)]

    def segments(self) -> list[tuple[int, int]]:
        """Runs of consecutive row-level stages as (first, last) indices; dataset stages alone."""
        segs: list[tuple[int, int]] = []
        i = 1
        n = len(self.stages)
        if n == 1 or self.stages[1].is_dataset:
            segs.append((0, 0))  # the reader alone: nothing row-level to fuse it with
        elif self.stages[0].write_data:
            i = 0  # some input goes straight to a dataset stage: the reader leads the first segment
        while i < n:
            if self.stages[i].is_dataset:
                segs.append((i, i))
                i += 1
                continue
            j = i
            while j + 1 < n and not self.stages[j + 1].is_dataset and _same_place(self.stages[i], self.stages[j + 1]):
                j += 1
            segs.append((i, j))
            i = j + 1
        return segs


def _same_place(a: PlannedStage, b: PlannedStage) -> bool:
    """Whether two stages can share a worker (both GPU or both CPU)."""
    return (a.sched.gpus > 0) == (b.sched.gpus > 0)


def make_plan(spec: PipelineSpec, run_dir: str | Path) -> Plan:
    """Resolve stages, expand inputs into shards, chain fingerprints. Reads no document."""
    import dataclasses

    run_dir = Path(run_dir).resolve()
    branches = spec.branches()
    units: list[Unit] = []
    unit_branch: list[int] = []
    cfgs: list[str] = []
    for b, branch in enumerate(branches):
        reader_cls = get_reader(branch.format)
        files = expand(branch.paths, reader_cls.extensions)
        for u in reader_cls(branch).plan(files):
            units.append(u if u.index == len(units) else dataclasses.replace(u, index=len(units)))
            unit_branch.append(b)
        cfgs.append(json.dumps(branch.model_dump(mode="json", exclude={"paths", "stages"}), sort_keys=True))
    all_units = _h(*[u.fingerprint for u in units])
    chain = _h("dataforge-read-v1", *cfgs)
    stages = [
        PlannedStage(0, READ, None, stage_dir(run_dir, 0, READ), chain, Scheduling(), branches[0].batch_rows)
    ]
    placed: list[tuple[int | None, Any]] = [(b, st) for b, br in enumerate(spec.inputs) for st in br.stages]
    placed += [(None, st) for st in spec.stages]
    branch_chain = {b: _h(chain, str(b)) if spec.inputs else chain for b in range(len(branches))}
    joined = False
    for i, (branch, st) in enumerate(placed, start=1):
        if branch is None and not joined:
            chain = _h(*branch_chain.values()) if spec.inputs else chain  # the join: every branch's config
            joined = True
        elif branch is not None:
            chain = branch_chain[branch]
        cls = registry.get(st.stage)
        inst = cls(st.params)
        if isinstance(inst, DatasetStage):
            inst.partitions = DatasetStage.partitions_for(len(units))
        res: Resources = st.resources or cls.resources
        sched = Scheduling(
            cpus=res.cpus, gpus=res.gpus, memory_gb=res.memory_gb,
            workers=st.workers or spec.workers or cls.workers,
            actors=cls.stateful or res.gpus > 0,
        )
        chain = _h(chain, inst.config_hash(), str(spec.seed))
        if issubclass(cls, DatasetStage):
            chain = _h(chain, all_units)  # a global stage's output depends on every shard
        if branch is not None:
            branch_chain[branch] = chain
        label = st.id or st.stage
        stages.append(PlannedStage(i, st.stage, inst, stage_dir(run_dir, i, label), chain, sched,
                                   st.batch_size or cls.batch_size, branch=branch))
    # The reader's rows are only written when something reads them from disk: when, for some input,
    # the first stage after the reader is a dataset stage (or there is none).
    firsts = [next((ps for ps in stages[1:] if ps.branch in (None, b)), None) for b in range(len(branches))]
    stages[0].write_data = any(ps is None or ps.is_dataset for ps in firsts)
    return Plan(spec, run_dir, units, stages, spec.output.compression, unit_branch if spec.inputs else [])


# --------------------------------------------------------------------------------------------
# Shard work (runs on workers)
# --------------------------------------------------------------------------------------------


def is_done(ps: PlannedStage, unit: Unit) -> dict[str, Any] | None:
    """The shard's stats if this stage already produced it with the current fingerprint."""
    stats = read_json(part_path(ps.folder, "stats", unit.index, ".json"))
    if stats and stats.get("fingerprint") == ps.unit_fp(unit):
        # a shard that kept no row and never saw a schema has no data file
        if not ps.write_data or stats.get("rows_out") == 0 or part_path(ps.folder, "data", unit.index).exists():
            return stats
    return None


def rebatch(tables: Iterator[pa.Table], size: int) -> Iterator[pa.Table]:
    """Re-cut a stream of tables into tables of exactly ``size`` rows (the last may be shorter)."""
    pending: list[pa.Table] = []
    have = 0
    schema = None
    for t in tables:
        schema = schema or t.schema
        if t.num_rows == 0:
            continue
        pending.append(t)
        have += t.num_rows
        while have >= size:
            merged = pa.concat_tables(pending, promote_options="permissive") if len(pending) > 1 else pending[0]
            yield merged.slice(0, size)
            rest = merged.slice(size)
            pending = [rest] if rest.num_rows else []
            have = rest.num_rows
    if have:
        yield pa.concat_tables(pending, promote_options="permissive") if len(pending) > 1 else pending[0]
    elif schema is not None:
        yield schema.empty_table()  # stages see an empty batch, so empty shards keep their schema


class StageSink:
    """Collects one stage's outputs and counts for one shard."""

    def __init__(self, ps: PlannedStage, unit: Unit, compression: str) -> None:
        self.ps = ps
        self.unit = unit
        self.data = PartWriter(part_path(ps.folder, "data", unit.index), compression, always=True)
        self.rejects = PartWriter(part_path(ps.folder, "rejects", unit.index), compression)
        self.quarantine = PartWriter(part_path(ps.folder, "quarantine", unit.index), compression)
        self.rows_in = self.rows_out = self.created = 0
        self.dropped: dict[str, int] = {}
        self.quarantined: dict[str, int] = {}
        self.seconds = 0.0

    def add(self, kept: pa.Table, dropped: pa.Table | None, quarantined: pa.Table | None, rows_in: int, created: int = 0) -> None:
        """Record one batch's outcome."""
        self.rows_in += rows_in
        self.rows_out += kept.num_rows
        self.created += created
        if self.ps.write_data:
            self.data.write(kept)
        for table, counts, writer in ((dropped, self.dropped, self.rejects), (quarantined, self.quarantined, self.quarantine)):
            if table is None or table.num_rows == 0:
                continue
            writer.write(table)
            for reason, n in _count(table.column(REASON_COLUMN)).items():
                counts[reason] = counts.get(reason, 0) + n

    def commit(self, versions: dict[str, str]) -> dict[str, Any]:
        """Rename outputs into place, then the stats file that marks the shard done."""
        if self.ps.write_data:
            self.data.commit()
        self.rejects.commit()
        self.quarantine.commit()
        stats = {
            "unit": self.unit.index,
            "fingerprint": self.ps.unit_fp(self.unit),
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "created": self.created,
            "dropped": dict(sorted(self.dropped.items())),
            "quarantined": dict(sorted(self.quarantined.items())),
            "seconds": round(self.seconds, 4),
            "versions": versions,
            "node": current_node(),
        }
        atomic_write_json(part_path(self.ps.folder, "stats", self.unit.index, ".json"), stats)
        return stats

    def abort(self) -> None:
        """Remove temporary files."""
        for w in (self.data, self.rejects, self.quarantine):
            w.abort()


def _count(col: pa.ChunkedArray | pa.Array) -> dict[str, int]:
    vc = col.value_counts()
    return {str(v["values"]): int(v["counts"]) for v in vc.to_pylist()}


def read_part(ps: PlannedStage, unit: Unit, batch_rows: int) -> Iterator[pa.Table]:
    """Stream a finished stage's kept rows for one shard."""
    path = part_path(ps.folder, "data", unit.index)
    if not path.exists():
        return  # an empty shard (no rows, no schema)
    pf = pq.ParquetFile(path)
    empty = True
    for rb in pf.iter_batches(batch_size=batch_rows):
        empty = False
        yield pa.Table.from_batches([rb])
    if empty:
        yield pf.schema_arrow.empty_table()


def run_segment_unit(plan: Plan, first: int, last: int, unit: Unit) -> dict[str, Any]:
    """Bring stages first..last up to date for one shard; return {stage index: stats}."""
    stages = plan.stages
    out: dict[str, Any] = {}
    mine = [i for i in range(first, last + 1) if plan.applies(stages[i], unit)]
    todo = list(mine)
    while todo:  # the longest finished prefix of the segment
        stats = is_done(stages[todo[0]], unit)
        if not stats:
            break
        out[str(todo[0])] = stats
        todo.pop(0)
    if not todo:
        return out
    begin = todo[0]
    read_input = begin == 0 or (plan.source_of(begin, unit).index == 0 and not stages[0].write_data)
    sinks: list[StageSink] = []
    try:
        if read_input:  # the reader's rows are not kept on disk (or the reader is this segment): read the input
            src = _read_source(plan, unit, stages[0], sinks)
        else:
            src = read_part(plan.source_of(begin, unit), unit, stages[begin].batch_size)
        for i in todo:
            if i == 0:
                continue
            src = _apply_stage(stages[i], unit, rebatch(src, stages[i].batch_size), sinks, plan.compression)
        for _ in src:
            pass
        # Commit in pipeline order: a later stage's stats must never exist without an earlier one's
        # (generators start outermost-first, so ``sinks`` is in reverse order of the pipeline).
        for sink in sorted(sinks, key=lambda k: k.ps.index):
            st = sink.ps.stage
            out[str(sink.ps.index)] = sink.commit(st.versions() if st is not None else {})
    except BaseException:
        for sink in sinks:
            sink.abort()
        raise
    return out


def _read_source(plan: Plan, unit: Unit, ps: PlannedStage, sinks: list[StageSink]) -> Iterator[pa.Table]:
    sink = StageSink(ps, unit, plan.compression)
    sinks.append(sink)
    inp = plan.input_spec(unit)
    reader = get_reader(inp.format)(inp)
    t0 = time.perf_counter()
    for rb in reader.read(unit):
        sink.add(rb.documents, None, rb.quarantined, rb.seen)
        sink.seconds += time.perf_counter() - t0
        yield rb.documents
        t0 = time.perf_counter()
    sink.seconds += time.perf_counter() - t0


def _apply_stage(ps: PlannedStage, unit: Unit, batches: Iterator[pa.Table], sinks: list[StageSink], compression: str) -> Iterator[pa.Table]:
    sink = StageSink(ps, unit, compression)
    sinks.append(sink)
    stage = ps.stage
    assert stage is not None
    for batch in batches:
        t0 = time.perf_counter()
        res = stage(batch)
        sink.add(res.kept, res.dropped, res.quarantined, batch.num_rows, res.created)
        sink.seconds += time.perf_counter() - t0
        yield res.kept


# -- dataset stages ----------------------------------------------------------------------------


def apply_unit(plan: Plan, index: int, unit: Unit) -> dict[str, Any]:
    """Apply phase: drop the decided rows from one shard and annotate the kept ones."""
    from dataforge.shuffle import rows_for_unit

    ps = plan.stages[index]
    prev = is_done(ps, unit)
    if prev:
        return {str(index): prev}
    stage = ps.stage
    assert isinstance(stage, DatasetStage)
    stage.ensure_setup()
    drops = rows_for_unit(ps.folder / "decisions", unit.index, stage.partitions, ["id", "reason", "detail"])
    if drops is None:
        drops = pa.table({"id": pa.array([], pa.string()), "reason": pa.array([], pa.string()),
                          "detail": pa.array([], pa.string())})
    annotations = rows_for_unit(ps.folder / "annotations", unit.index, stage.partitions)
    sink = StageSink(ps, unit, plan.compression)
    try:
        for batch in read_part(plan.source_of(index, unit), unit, ps.batch_size):
            t0 = time.perf_counter()
            res = stage.apply_batch(batch, drops, annotations, ps.folder)
            sink.add(res.kept, res.dropped, res.quarantined, batch.num_rows, res.created)
            sink.seconds += time.perf_counter() - t0
        return {str(index): sink.commit(stage.versions())}
    except BaseException:
        sink.abort()
        raise


# --------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What a run did: the summary and where it lives."""

    run_dir: Path
    summary: dict[str, Any]
    executed_units: dict[int, int] = field(default_factory=dict)  # stage index -> shards computed


class _Job:
    """Picklable shard function for executors."""

    def __init__(self, plan: Plan, kind: str, index: int, last: int = 0) -> None:
        self.plan, self.kind, self.index, self.last = plan, kind, index, last

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        if self.kind == "segment":
            return run_segment_unit(self.plan, self.index, self.last, self.plan.units[item["unit"]])
        if self.kind == "ctx_shard":
            from dataforge.shuffle import shard_task

            return shard_task(self.plan, self.index, item)
        if self.kind == "ctx_partition":
            from dataforge.shuffle import partition_task

            return partition_task(self.plan, self.index, item)
        if self.kind == "apply":
            return apply_unit(self.plan, self.index, self.plan.units[item["unit"]])
        raise ValueError(self.kind)


def run(plan: Plan, executor: Any, progress: Any = None) -> RunResult:
    """Run a planned pipeline on an executor; returns the summary (also written to summary.json)."""
    try:
        return _run(plan, executor, progress)
    except Exception as exc:
        # A worker's OutputError arrives wrapped by Ray; re-raise it plainly so the CLI prints one clear line.
        cause = getattr(exc, "cause", None)
        if isinstance(cause, OutputError) and not type(exc) is OutputError:
            raise OutputError(cause.path, cause.problem, cause.code) from None
        raise


def _run(plan: Plan, executor: Any, progress: Any = None) -> RunResult:
    """Body of ``run``."""
    run_dir = plan.run_dir
    check_writable(run_dir)
    if "://" not in plan.spec.output.path:
        check_writable(plan.spec.output.path)  # fail now, not after hours of work
    clean_tmp(run_dir)
    (run_dir / "summary.json").unlink(missing_ok=True)  # a run in progress is not a finished one
    t_start = time.time()
    atomic_write_bytes(run_dir / "pipeline.json", (json.dumps(plan.spec.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode())
    for ps in plan.stages:
        remove_stale_parts(ps.folder, len(plan.units))
    executed: dict[int, int] = {}
    walls: dict[int, float] = {}
    progress = progress or _NullProgress()
    for first, last in plan.segments():
        t0 = time.perf_counter()
        if plan.stages[first].is_dataset:
            executed[first] = _run_dataset_stage(plan, executor, first, progress)
        else:
            group_stages = plan.stages[max(first, 0):last + 1]
            todo = [u for u in plan.units if not all(is_done(ps, u) for ps in group_stages if plan.applies(ps, u))]
            group = plan.stages[first:last + 1]
            sched = _merge_sched([ps.sched for ps in group])
            label = " → ".join(ps.name for ps in group)
            task = progress.start(label, len(plan.units), len(plan.units) - len(todo))
            job = _Job(plan, "segment", first, last)
            # closing(): an error here releases the executor's workers (actors) at once, not at garbage collection
            with contextlib.closing(executor.map(job, [{"unit": u.index} for u in todo], sched)) as results:
                for stats in results:
                    progress.advance(task, sum(s.get("rows_in", 0) for s in stats.values() if s) and 1)
            for i in range(max(first, 0), last + 1):
                executed[i] = len(todo)
            progress.finish(task)
        walls[first] = time.perf_counter() - t0
    summary = summarize(plan, executed, walls, time.time() - t_start)
    with writing(plan.spec.output.path):
        publish(plan)
    atomic_write_json(run_dir / "summary.json", summary)
    return RunResult(run_dir, summary, executed)


def _merge_sched(scheds: list[Scheduling]) -> Scheduling:
    workers = [s.workers for s in scheds if s.workers]
    mems = [s.memory_gb for s in scheds if s.memory_gb]
    return Scheduling(
        cpus=max(s.cpus for s in scheds), gpus=max(s.gpus for s in scheds),
        memory_gb=max(mems) if mems else None, workers=min(workers) if workers else None,
        actors=any(s.actors for s in scheds),
    )


def _run_dataset_stage(plan: Plan, executor: Any, index: int, progress: Any) -> int:
    ps = plan.stages[index]
    stage = ps.stage
    assert isinstance(stage, DatasetStage)
    todo = [u for u in plan.units if not is_done(ps, u)]
    if not todo:
        return 0
    marker = ps.folder / "_decided.json"
    decided = read_json(marker)
    if not decided or decided.get("fingerprint") != ps.fingerprint:
        from dataforge.shuffle import DatasetContext

        marker.unlink(missing_ok=True)
        for kind in ("decisions", "annotations"):
            reset_dir(ps.folder / kind)
        stage.ensure_setup()
        stage.run_dataset(DatasetContext(plan, index, executor, progress))
        atomic_write_json(marker, {"fingerprint": ps.fingerprint})
    task = progress.start(f"{ps.name}: apply", len(plan.units), len(plan.units) - len(todo))
    items = [{"unit": u.index} for u in todo]
    with contextlib.closing(executor.map(_Job(plan, "apply", index), items, Scheduling(cpus=1, workers=ps.sched.workers))) as results:
        for _ in results:
            progress.advance(task)
    progress.finish(task)
    return len(todo)


class _NullProgress:
    def start(self, label: str, total: int, done: int = 0) -> int:
        return 0

    def advance(self, task: int, n: int = 1) -> None:
        pass

    def finish(self, task: int) -> None:
        pass


def summarize(plan: Plan, executed: dict[int, int], walls: dict[int, float], wall: float) -> dict[str, Any]:
    """Aggregate shard stats into per-stage manifests and the run summary; check the books balance."""
    stages_out = []
    for ps in plan.stages:
        agg: dict[str, Any] = {"rows_in": 0, "rows_out": 0, "created": 0, "dropped": {}, "quarantined": {}, "seconds": 0.0}
        versions: dict[str, str] = {}
        for u in plan.units:
            if not plan.applies(ps, u):
                continue
            s = read_json(part_path(ps.folder, "stats", u.index, ".json"))
            if s is None:
                if ps.index == 0 and not ps.write_data and plan.stages[1:]:
                    continue
                raise RuntimeError(f"stage {ps.name}: shard {u.index} has no stats after the run; rerun to resume")
            for k in ("rows_in", "rows_out", "created"):
                agg[k] += s[k]
            agg["seconds"] += s.get("seconds", 0.0)
            for k in ("dropped", "quarantined"):
                for r, n in s[k].items():
                    agg[k][r] = agg[k].get(r, 0) + n
            versions.update(s.get("versions") or {})
        agg["dropped"] = dict(sorted(agg["dropped"].items()))
        agg["quarantined"] = dict(sorted(agg["quarantined"].items()))
        agg["seconds"] = round(agg["seconds"], 3)
        balanced = agg["rows_in"] + agg["created"] == agg["rows_out"] + sum(agg["dropped"].values()) + sum(agg["quarantined"].values())
        entry = {"index": ps.index, "stage": ps.name, "folder": ps.folder.name, **agg, "balanced": balanced,
                 "shards_computed": executed.get(ps.index, 0), "shards": len(plan.units)}
        report: dict[str, Any] = {}
        if ps.is_dataset:
            custom = ps.stage.report(ps.folder)  # type: ignore[union-attr]
            if custom:
                report.update(custom)
        if agg["dropped"]:
            from dataforge.breakdown import cluster_report, removal_breakdown

            report.update(removal_breakdown(ps.folder))
            if ps.is_dataset:
                clusters = cluster_report(ps.folder)
                if clusters:
                    report["clusters"] = clusters
        if report:
            entry["report"] = report
        stages_out.append(entry)
        manifest = {
            "stage": ps.name,
            "index": ps.index,
            "kind": ps.stage.kind if ps.stage else "reader",
            "params": ps.stage.params.model_dump(mode="json") if ps.stage else
                      (plan.spec.input.model_dump(mode="json") if plan.spec.input is not None else
                       [b.model_dump(mode="json", exclude={"stages"}) for b in plan.spec.inputs]),
            "config_hash": ps.stage.config_hash() if ps.stage else ps.fingerprint,
            "fingerprint": ps.fingerprint,
            "inputs": [{"unit": u.index, "file": u.relpath, "start": u.start, "end": u.end, "size": u.size,
                        "mtime_ns": u.mtime_ns, "fingerprint": ps.unit_fp(u),
                        **({"input": plan.branch_of(u)} if plan.unit_branch else {})} for u in plan.units]
                      if ps.index == 0 else
                      {"stage": plan.stages[ps.index - 1].folder.name, "shards": len(plan.units),
                       **({"input": ps.branch} if ps.branch is not None else {})},
            "counts": {k: agg[k] for k in ("rows_in", "rows_out", "created", "dropped", "quarantined")},
            "seconds_cpu": agg["seconds"],
            "seconds_wall_last_run": round(walls.get(ps.index, 0.0), 3),
            "versions": {**library_versions(), **versions},
        }
        atomic_write_json(ps.folder / "manifest.json", manifest)
    first, last = stages_out[0], stages_out[-1]
    dropped_total: dict[str, int] = {}
    quarantined_total: dict[str, int] = {}
    created = 0
    for s in stages_out:
        created += s["created"]
        for r, n in s["dropped"].items():
            key = f"{s['stage']}.{r}"
            dropped_total[key] = dropped_total.get(key, 0) + n
        for r, n in s["quarantined"].items():
            key = f"{s['stage']}.{r}"
            quarantined_total[key] = quarantined_total.get(key, 0) + n
    totals = {
        "input": first["rows_in"],
        "kept": last["rows_out"],
        "created": created,
        "dropped": sum(dropped_total.values()),
        "quarantined": sum(quarantined_total.values()),
    }
    totals["balanced"] = totals["input"] + totals["created"] == totals["kept"] + totals["dropped"] + totals["quarantined"] and all(
        s["balanced"] for s in stages_out)
    return {
        "pipeline": plan.spec.name,
        "dataforge": __version__,
        "run_dir": str(plan.run_dir),
        "output": plan.spec.output.path,
        "shards": len(plan.units),
        "wall_seconds": round(wall, 3),
        "stages": stages_out,
        "totals": totals,
        "dropped": dict(sorted(dropped_total.items())),
        "quarantined": dict(sorted(quarantined_total.items())),
    }


def library_versions() -> dict[str, str]:
    """Versions of the engine and the libraries that shape output bytes."""
    import pyarrow

    out = {"dataforge": __version__, "pyarrow": pyarrow.__version__, "python": platform.python_version()}
    try:
        from importlib.metadata import version

        out["ray"] = version("ray")
    except Exception:  # noqa: BLE001
        pass
    return out


def publish(plan: Plan) -> None:
    """Expose the last stage's kept shards at ``output.path`` (hard links where possible) with a manifest."""
    last = plan.stages[-1]
    out = Path(plan.spec.output.path)
    special = last.stage.published(last.folder) if last.is_dataset else None  # type: ignore[union-attr]
    if special is not None:
        _publish_folder(Path(special), plan.spec.output.path)
        return
    if "://" in plan.spec.output.path:
        _publish_remote(plan)
        return
    _publish_local(plan, out)


def _publish_local(plan: Plan, out: Path) -> None:
    """Hard-link (or copy) each shard's final rows into a local output folder, then write its manifest."""
    last = plan.stages[-1]
    out.mkdir(parents=True, exist_ok=True)
    files = []
    wanted = set()
    for u in plan.units:
        src = part_path(plan.source_of(len(plan.stages), u).folder, "data", u.index)
        if not src.exists():
            continue  # an empty shard
        dst = out / src.name
        wanted.add(dst.name)
        link_or_copy(src, dst)
        meta = pq.read_metadata(dst)
        files.append({"file": dst.name, "rows": meta.num_rows, "bytes": dst.stat().st_size})
    for stale in out.glob("part-*.parquet"):
        if stale.name not in wanted:
            stale.unlink()
    atomic_write_json(out / "_dataforge.json", {
        "pipeline": plan.spec.name, "run_dir": str(plan.run_dir), "stage": last.name,
        "fingerprint": last.fingerprint, "files": files, "rows": sum(f["rows"] for f in files),
    })


def link_or_copy(src: Path, dst: Path) -> None:
    """Put ``src`` at ``dst`` atomically: a hard link where the filesystem allows, else a copy."""
    tmp = dst.with_name("." + dst.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        import shutil

        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _publish_remote(plan: Plan) -> None:
    from dataforge.readers.files import filesystem

    last = plan.stages[-1]
    fs, base = filesystem(plan.spec.output.path)
    fs.create_dir(base, recursive=True)
    for u in plan.units:
        src = part_path(plan.source_of(len(plan.stages), u).folder, "data", u.index)
        if not src.exists():
            continue
        with open(src, "rb") as fh, fs.open_output_stream(f"{base}/{src.name}", compression=None) as dst:
            while chunk := fh.read(1 << 24):
                dst.write(chunk)


def _publish_folder(src: Path, dest: str) -> None:
    """Mirror a folder of finished files (e.g. token shards with their manifests) to the output path."""
    from dataforge.readers.files import filesystem

    files = sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith("."))
    if "://" in dest:
        fs, base = filesystem(dest)
        for f in files:
            rel = f.relative_to(src).as_posix()
            fs.create_dir(f"{base}/{rel}".rsplit("/", 1)[0], recursive=True)
            with open(f, "rb") as fh, fs.open_output_stream(f"{base}/{rel}", compression=None) as dst:
                while chunk := fh.read(1 << 24):
                    dst.write(chunk)
        return
    out = Path(dest)
    wanted = set()
    for f in files:
        rel = f.relative_to(src)
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        wanted.add(target)
        link_or_copy(f, target)
    for stale in out.rglob("*"):
        if stale.is_file() and stale not in wanted and not stale.name.startswith("."):
            stale.unlink()

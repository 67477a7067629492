"""Distributions of a run's numeric signal columns (quantiles, histograms, kept vs removed), to choose thresholds.

For each stage of a run, the numeric columns that are not core columns (scores and signals such
as ``quality_hq``, ``gopher_word_count``, ``language_score``) are read from the stage's kept rows
(``data/``) and its rejects (``rejects/``): together they are every document that reached the
stage, so a filter's signals are seen before it decided. By default a column is reported at the
stage where it first appears and at every stage that removed documents (split into what it kept
and what it removed); ``all_stages`` reports it everywhere. Only the numeric columns are
read, in Arrow batches: exact count, missing, min, max and mean; a 20-bin histogram over
[min, max] split into kept and removed rows; quantiles p1..p99 computed exactly up to
``max_values`` values per column and stage, beyond that from an evenly strided subset of rows
(every k-th row, deterministic).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataforge.schema import CORE_COLUMNS

PERCENTILES: tuple[int, ...] = (1, 5, 10, 25, 50, 75, 90, 95, 99)
BINS = 20
#: Columns the engine adds for routing; never signals.
ENGINE_COLUMNS = frozenset({"_unit", "_part", "key"})
PARTS = ("data", "rejects")


def _is_signal(field: pa.Field) -> bool:
    """A numeric (integer or floating) column that is neither core nor engine bookkeeping."""
    t = field.type
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t)
    return numeric and field.name not in CORE_COLUMNS and field.name not in ENGINE_COLUMNS


def _files(stage_dir: Path, part: str) -> list[Path]:
    """The Parquet files of one part (data or rejects) of a stage, in shard order."""
    return sorted((stage_dir / part).glob("*.parquet"))


def _batches(files: list[Path], columns: list[str]) -> Iterator[pa.RecordBatch]:
    """Record batches of the requested columns (those a file has)."""
    for f in files:
        pf = pq.ParquetFile(f)
        have = [c for c in columns if c in pf.schema_arrow.names]
        if not have:
            continue
        yield from pf.iter_batches(columns=have, batch_size=65536)


def _values(batch: pa.RecordBatch, column: str) -> np.ndarray | None:
    """The column as float64 with NaN for nulls, or None when the batch lacks it."""
    if column not in batch.schema.names:
        return None
    col = batch.column(column)
    return np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _stage_signals(stage_dir: Path, columns: list[str], max_values: int) -> dict[str, Any]:
    """Two passes over one stage's data and rejects: totals and a strided sample, then histograms."""
    files = {part: _files(stage_dir, part) for part in PARTS}
    rows = {part: sum(pq.ParquetFile(f).metadata.num_rows for f in files[part]) for part in PARTS}
    total = rows["data"] + rows["rejects"]
    stride = max(1, math.ceil(total / max_values)) if max_values > 0 else 1
    acc = {c: {"count": 0, "missing": 0, "sum": 0.0, "min": math.inf, "max": -math.inf, "sample": []} for c in columns}
    for part in PARTS:
        offset = 0  # row position within this part, for the stride
        for batch in _batches(files[part], columns):
            start = (-offset) % stride
            for c in columns:
                v = _values(batch, c)
                if v is None:
                    continue
                finite = np.isfinite(v)
                a = acc[c]
                a["missing"] += int(v.size - finite.sum())
                good = v[finite]
                if good.size:
                    a["count"] += int(good.size)
                    a["sum"] += float(good.sum())
                    a["min"] = min(a["min"], float(good.min()))
                    a["max"] = max(a["max"], float(good.max()))
                picked = v[start::stride]
                a["sample"].append(picked[np.isfinite(picked)])
            offset += batch.num_rows
    out: dict[str, Any] = {}
    for c, a in acc.items():
        if a["count"] == 0 and a["missing"] == 0:
            continue
        sample = np.concatenate(a["sample"]) if a["sample"] else np.zeros(0)
        info: dict[str, Any] = {"count": a["count"], "missing": a["missing"],
                                "min": a["min"] if a["count"] else None, "max": a["max"] if a["count"] else None,
                                "mean": a["sum"] / a["count"] if a["count"] else None,
                                "quantiles_exact": stride == 1}
        if sample.size:
            qs = np.percentile(sample, PERCENTILES)
            info["quantiles"] = {f"p{p}": float(q) for p, q in zip(PERCENTILES, qs)}
        else:
            info["quantiles"] = {}
        out[c] = info
    # second pass: histograms over [min, max], kept and removed apart
    edges = {c: _edges(out[c]["min"], out[c]["max"]) for c in out if out[c]["count"]}
    for c in out:
        out[c]["histogram"] = {"edges": edges[c].tolist() if c in edges else [],
                               **{part: [0] * BINS if c in edges else [] for part in PARTS}}
    for part in PARTS:
        counts = {c: np.zeros(BINS, dtype=np.int64) for c in edges}
        for batch in _batches(files[part], list(edges)):
            for c in edges:
                v = _values(batch, c)
                if v is None:
                    continue
                v = v[np.isfinite(v)]
                counts[c] += np.histogram(v, bins=edges[c])[0]
        for c in edges:
            out[c]["histogram"][part] = counts[c].tolist()
    return {"rows": rows, "signals": out}


def _edges(lo: float, hi: float) -> np.ndarray:
    """BINS + 1 bin edges over [lo, hi] (a unit-wide range around a constant)."""
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, BINS + 1)


def _removed(run_dir: Path, stage_dir: Path, index: int) -> dict[str, int]:
    """Documents each rule removed at a stage: from summary.json, else counted in the rejects."""
    summary = run_dir / "summary.json"
    if summary.exists():
        try:
            for s in json.loads(summary.read_text(encoding="utf-8")).get("stages", []):
                if s.get("index") == index:
                    return {k: int(v) for k, v in (s.get("dropped") or {}).items()}
        except (OSError, ValueError):
            pass
    counts: dict[str, int] = {}
    for batch in _batches(_files(stage_dir, "rejects"), ["reason"]):
        vc = pc.value_counts(batch.column("reason"))
        for item in vc.to_pylist():
            if item["values"] is not None:
                counts[item["values"]] = counts.get(item["values"], 0) + int(item["counts"])
    return counts


def signal_distributions(run_dir: str | Path, all_stages: bool = False, max_values: int = 2_000_000) -> dict[str, Any]:
    """Per stage: the distribution of each numeric signal column and the documents each rule removed.

    ``all_stages``: report a column at every stage that carries it, not only where it first appears
    and where documents were removed.
    """
    run = Path(run_dir)
    root = run / "stages"
    if not root.is_dir():
        raise FileNotFoundError(f"{root} not found: is {run} a run directory?")
    result: dict[str, Any] = {"run_dir": str(run), "percentiles": list(PERCENTILES), "bins": BINS, "stages": []}
    seen: set[str] = set()
    for stage_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name[:2].isdigit()):
        index = int(stage_dir.name[:2])
        name = stage_dir.name[3:]
        schema_cols: list[str] = []
        for part in PARTS:
            for f in _files(stage_dir, part)[:1]:
                for fld in pq.read_schema(f):
                    if _is_signal(fld) and fld.name not in schema_cols:
                        schema_cols.append(fld.name)
        removed = _removed(run, stage_dir, index)
        if all_stages or any(removed.values()):  # where documents were removed, show what they scored
            columns = schema_cols
        else:
            columns = [c for c in schema_cols if c not in seen]
        seen.update(schema_cols)
        entry: dict[str, Any] = {"index": index, "stage": name, "removed": removed}
        entry.update(_stage_signals(stage_dir, columns, max_values) if columns else
                     {"rows": {p: sum(pq.ParquetFile(f).metadata.num_rows for f in _files(stage_dir, p)) for p in PARTS},
                      "signals": {}})
        result["stages"].append(entry)
    return result


_BARS = " ▁▂▃▄▅▆▇█"


def sparkline(counts: list[int], scale: int | None = None) -> str:
    """Counts as a row of block characters, square-root scaled to ``scale`` (or their maximum) so small bins show."""
    top = scale or max(counts or [0])
    if not top:
        return " " * len(counts)
    return "".join(_BARS[max(1, min(8, math.ceil(8 * math.sqrt(c / top))))] if c else " " for c in counts)


def print_signals(result: dict[str, Any], console: Any) -> None:
    """Quantile tables, kept/removed histograms and removals per rule, stage by stage."""
    from rich.table import Table

    def fmt(x: float | None) -> str:
        """A number in three significant digits, '-' for none."""
        return "-" if x is None else f"{x:.3g}"

    for s in result["stages"]:
        if not s["signals"] and not s["removed"]:
            continue
        title = f"{s['index']:02d} {s['stage']}: {s['rows']['data']:,} kept, {s['rows']['rejects']:,} removed"
        if s["signals"]:
            t = Table(title=title, title_justify="left")
            t.add_column("signal", no_wrap=True)
            t.add_column("n", justify="right", no_wrap=True)
            t.add_column("missing", justify="right", no_wrap=True)
            for p in result["percentiles"]:
                t.add_column(f"p{p}", justify="right", no_wrap=True, min_width=8)
            h = Table(title=f"{s['stage']}: histograms, {result['bins']} bins from min to max", title_justify="left")
            for col in ("signal", "kept", "removed", "min", "max"):
                h.add_column(col, no_wrap=True, justify="right" if col in ("min", "max") else "left")
            for name, info in s["signals"].items():
                q = info.get("quantiles") or {}
                t.add_row(name + ("" if info.get("quantiles_exact", True) else " *"), f"{info['count']:,}",
                          f"{info['missing']:,}", *[fmt(q.get(f"p{p}")) for p in result["percentiles"]])
                hist = info.get("histogram") or {}
                if hist.get("edges"):
                    scale = max([*hist["data"], *hist["rejects"], 0])
                    h.add_row(name, f"[{sparkline(hist['data'], scale)}]", f"[{sparkline(hist['rejects'], scale)}]",
                              fmt(hist["edges"][0]), fmt(hist["edges"][-1]))
            console.print(t)
            if any(not i.get("quantiles_exact", True) for i in s["signals"].values()):
                console.print("  * quantiles from an evenly strided subset of rows")
            console.print(h)
        else:
            console.print(f"[bold]{title}[/]")
        if s["removed"]:
            console.print("  removed by rule: " + ", ".join(
                f"{r}={n:,}" for r, n in sorted(s["removed"].items(), key=lambda kv: -kv[1])))

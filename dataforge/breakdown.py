"""Per-stage removal breakdowns (by source and domain) and stage-specific reports for run summaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

TOP = 20


def read_columns(folder: Path, columns: list[str]) -> pa.Table | None:
    """The given columns (those present) of every Parquet file in a folder, or None when there is none."""
    files = sorted(str(f) for f in folder.glob("*.parquet")) if folder.exists() else []
    if not files:
        return None
    ds = pads.dataset(files, format="parquet")
    cols = [c for c in columns if c in ds.schema.names]
    return ds.to_table(columns=cols) if cols else None


def _counts(table: pa.Table | None, column: str) -> dict[str, int]:
    if table is None or column not in table.column_names or table.num_rows == 0:
        return {}
    vc = pc.value_counts(pc.fill_null(table.column(column), "(none)"))
    return {str(v["values"]): int(v["counts"]) for v in vc.to_pylist()}


def removal_breakdown(stage_folder: Path) -> dict[str, Any]:
    """For one stage: documents in and removed, and the removal rate, per source and per domain (top 20)."""
    rejects = read_columns(stage_folder / "rejects", ["reason", "source", "domain"])
    if rejects is None or rejects.num_rows == 0:
        return {}
    kept = read_columns(stage_folder / "data", ["source", "domain"])
    out: dict[str, Any] = {}
    for col in ("source", "domain"):
        removed = _counts(rejects, col)
        if not removed or set(removed) == {"(none)"}:
            continue
        kept_n = _counts(kept, col)
        rows = []
        for key in set(removed) | set(kept_n):
            n_in = removed.get(key, 0) + kept_n.get(key, 0)
            rows.append({col: key, "in": n_in, "removed": removed.get(key, 0),
                         "rate": round(removed.get(key, 0) / n_in, 4) if n_in else 0.0})
        rows.sort(key=lambda r: (-r["removed"], r[col]))
        out[f"by_{col}"] = rows[:TOP]
    return out


def cluster_report(stage_folder: Path) -> dict[str, Any]:
    """For a clustering dedup stage: cluster-size histogram and the largest clusters with example ids."""
    ann = read_columns(stage_folder / "annotations", ["id", "cluster_size"])
    if ann is None or ann.num_rows == 0:
        return {}
    decisions = read_columns(stage_folder / "decisions", ["id", "detail"])
    sizes = ann.column("cluster_size").to_numpy()
    edges = [2, 3, 5, 10, 100, 1000, 10_000]
    hist = {}
    for lo, hi in zip(edges, edges[1:] + [None]):
        n = int(((sizes >= lo) & (sizes < hi)).sum()) if hi else int((sizes >= lo).sum())
        hist[(str(lo) if hi - 1 == lo else f"{lo}-{hi - 1}") if hi else f"{lo}+"] = n
    top = ann.sort_by([("cluster_size", "descending"), ("id", "ascending")]).slice(0, 10)
    largest = []
    for kept_id, size in zip(top.column("id").to_pylist(), top.column("cluster_size").to_pylist()):
        examples = []
        if decisions is not None:
            sel = decisions.filter(pc.equal(decisions.column("detail"), kept_id)).slice(0, 3)
            examples = sel.column("id").to_pylist()
        largest.append({"kept": kept_id, "size": int(size), "removed_examples": examples})
    return {"clusters": int(len(sizes)), "documents_in_clusters": int(sizes.sum()),
            "size_histogram": hist, "largest": largest}

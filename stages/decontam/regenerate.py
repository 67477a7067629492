"""Regenerate a finished run's token shards without the documents that match new benchmarks.

The run's ``write_shards_v1`` stage keeps every routed row (with its text) as lineage in its
``data/`` folder, and its ``layout.json`` says which shard each row went to. Regeneration
matches that lineage against the new benchmarks, routes the contaminated rows to their shards
with the stage's own key function, and rewrites only those shards through the stage's own
writer, from the lineage minus every removed document. Other shards are not touched (same
bytes, same inode). Each mixture's ``manifest.json`` records the benchmarks applied (by
fingerprint: content of the files plus index settings), the documents removed per shard with
benchmark and items, and recomputed totals; ``summary.json`` gets the recomputed mixture
statistics and a ``contamination`` report. Benchmarks already applied are skipped, so a second
run with the same benchmarks changes nothing. Documents are removed whole: cutting spans
would need re-tokenisation, which is what ``decontaminate_v1`` in the pipeline does.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataforge.hashing import hash_strings
from dataforge.stages.decontam.benchmarks import BenchmarkSpec
from dataforge.stages.decontam.index import IndexConfig, NgramIndex, benchmark_fingerprint
from dataforge.stages.decontam.matching import match_texts
from dataforge.stages.decontam.report import contamination_summary

SHARD_STAGE = "write_shards_v1"
BATCH_ROWS = 8192


class RegenerationError(RuntimeError):
    """The run cannot be regenerated; the message says why and what to do."""


@dataclass
class Regeneration:
    """What a regeneration did (or would do, with ``dry_run``)."""

    run_dir: str
    applied: list[str] = field(default_factory=list)  # benchmark names newly applied
    already_applied: list[str] = field(default_factory=list)
    documents_scanned: int = 0
    documents_matched: int = 0
    rows_removed: int = 0
    tokens_removed: int = 0
    shards_total: int = 0
    shards_rewritten: list[str] = field(default_factory=list)
    shards_deleted: list[str] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False
    contamination: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Whether any file was (or would be) changed."""
        return bool(self.applied)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"changed": self.changed}


def _shard_stage(run_dir: Path) -> tuple[dict[str, Any], Path]:
    path = run_dir / "summary.json"
    if not path.exists():
        raise RegenerationError(f"{path} not found: is {run_dir} the run directory of a finished run?")
    summary = json.loads(path.read_text())
    for s in reversed(summary["stages"]):
        if s["stage"] == SHARD_STAGE:
            folder = run_dir / "stages" / s["folder"]
            if not (folder / "layout.json").exists() or not (folder / "shards").exists():
                raise RegenerationError(f"{folder}: no layout.json or shards/; the {SHARD_STAGE} stage did not finish "
                                        "(rerun the pipeline first)")
            return summary, folder
    raise RegenerationError(f"run {run_dir} has no {SHARD_STAGE} stage: regeneration rewrites token shards. For other "
                            "runs add decontaminate_v1 to the pipeline and rerun it (finished stages before it are reused)")


def _lineage(folder: Path, columns: list[str]) -> Iterator[pa.Table]:
    files = sorted((folder / "data").glob("part-*.parquet"))
    for f in files:
        pf = pq.ParquetFile(f)
        cols = [c for c in columns if c in pf.schema_arrow.names]
        for rb in pf.iter_batches(batch_size=BATCH_ROWS, columns=cols):
            yield pa.Table.from_batches([rb])


def _shard_writer(folder: Path) -> Any:
    """The run's write_shards_v1 stage, configured as it ran, with its shard layout loaded."""
    from dataforge import registry

    manifest = json.loads((folder / "manifest.json").read_text())
    ws = registry.get(SHARD_STAGE)(manifest["params"])
    ws.layout = json.loads((folder / "layout.json").read_text())
    ws.partitions = max(1, sum(v["shards"] for v in ws.layout.values()))
    ws._folder = str(folder)  # noqa: SLF001 - the stage's writer needs its output folder, as in run_dataset
    return ws


def _part_file(layout: dict[str, Any], part: int) -> tuple[str, str]:
    for m, v in layout.items():
        if v["offset"] <= part < v["offset"] + v["shards"]:
            return m, f"{m}/shard-{part - v['offset']:05d}-of-{v['shards']:05d}.parquet"
    raise KeyError(part)


def regenerate(run_dir: str | Path, specs: list[BenchmarkSpec], cfg: IndexConfig | None = None, min_matches: int = 1,
               dry_run: bool = False, log: Callable[[str], None] = lambda _m: None) -> Regeneration:
    """Apply new benchmarks to a finished run's shards; see the module docstring."""
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    cfg = cfg or IndexConfig()
    summary, folder = _shard_stage(run_dir)
    shards_dir = folder / "shards"
    manifests = {p.parent.name: json.loads(p.read_text()) for p in sorted(shards_dir.glob("*/manifest.json"))}
    res = Regeneration(str(run_dir), dry_run=dry_run, shards_total=sum(len(m["shards"]) for m in manifests.values()))
    applied_fps = set.intersection(*[{a["fingerprint"] for a in m.get("decontamination", {}).get("applied", [])}
                                     for m in manifests.values()]) if manifests else set()
    fps = {s.name: benchmark_fingerprint(s, cfg) for s in specs}
    new = [s for s in specs if fps[s.name] not in applied_fps]
    res.already_applied = [s.name for s in specs if fps[s.name] in applied_fps]
    if not new:
        res.seconds = round(time.perf_counter() - t0, 3)
        return res
    log(f"indexing {len(new)} benchmark(s): {', '.join(s.name for s in new)}")
    index = NgramIndex.build(new, cfg)
    removed_before = {r["id"] for m in manifests.values() for s in m["shards"] for r in s.get("removed", [])}

    # pass 1: match each distinct document of the lineage once
    log("matching the run's lineage")
    matched: dict[str, dict[str, Any]] = {}
    seen = np.zeros(0, np.uint64)
    for batch in _lineage(folder, ["id", "text", "source", "domain", "repeat"]):
        if "text" not in batch.column_names:
            raise RegenerationError(f"{folder / 'data'} has no text column, so the lineage cannot be matched")
        if "repeat" in batch.column_names:
            batch = batch.filter(pc.equal(pc.fill_null(batch.column("repeat"), 0), 0))
        hid = hash_strings(batch.column("id"))
        _, first = np.unique(hid, return_index=True)
        fresh = np.zeros(len(hid), dtype=bool)
        fresh[first] = True
        fresh &= ~np.isin(hid, seen)
        seen = np.union1d(seen, hid)
        batch = batch.filter(pa.array(fresh))
        res.documents_scanned += batch.num_rows
        m = match_texts(batch.column("text"), index, min_matches)
        for r, dm in m.docs.items():
            row = batch.slice(r, 1).to_pylist()[0]
            matched[row["id"]] = {"id": row["id"], "source": row.get("source"), "domain": row.get("domain"),
                                  "action": "dropped", "match": dm.describe(action="dropped", why="regeneration")}
    res.documents_matched = len(matched)
    res.applied = [s.name for s in new]
    res.contamination = contamination_summary(matched.values(), index.meta)

    # pass 2: which shards hold the matched documents (routing by the stage's own keys)
    ws = _shard_writer(folder)
    new_ids = pa.array(sorted(set(matched) - removed_before), pa.string())
    removed_rows: dict[int, list[dict[str, Any]]] = {}
    if len(new_ids):
        for batch in _lineage(folder, ["id", "mixture", "repeat", ws.params.tokens_column, "mix_domain"]):
            hit = batch.filter(pc.is_in(batch.column("id"), value_set=new_ids))
            if not hit.num_rows:
                continue
            routed = ws.shard_route(0, iter([hit]))
            lengths = pc.list_value_length(routed.column(ws.params.tokens_column)).to_pylist()
            for r, n_tok in zip(routed.select(["id", "repeat", "_part"] if "repeat" in routed.column_names else ["id", "_part"])
                                .to_pylist(), lengths):
                mt = matched[r["id"]]["match"]
                removed_rows.setdefault(r["_part"], []).append(
                    {"id": r["id"], "repeat": r.get("repeat", 0), "tokens": n_tok, "benchmarks": mt["benchmarks"], "items": mt["items"]})
    affected = sorted(removed_rows)
    exclude = pa.array(sorted(set(matched) | removed_before), pa.string())

    # pass 3: rewrite each affected shard from its lineage rows minus every removed document
    rows_by_part: dict[int, list[pa.Table]] = {p: [] for p in affected}
    if affected:
        want = pa.array(affected, pa.int32())
        cols = list(dict.fromkeys(list(ws.params.columns) + [ws.params.tokens_column, "mixture", "repeat", "id"]))
        for batch in _lineage(folder, cols):
            routed = ws.shard_route(0, iter([batch]))
            if routed is None:
                continue
            routed = routed.filter(pc.and_(pc.is_in(routed.column("_part"), value_set=want),
                                           pc.invert(pc.is_in(routed.column("id"), value_set=exclude))))
            for p in np.unique(routed.column("_part").to_numpy()).tolist():
                rows_by_part[p].append(routed.filter(pc.equal(routed.column("_part"), p)))
    new_entries: dict[str, dict[str, Any] | None] = {}
    for p in affected:
        mixture, rel = _part_file(ws.layout, p)
        res.rows_removed += len(removed_rows[p])
        res.tokens_removed += sum(r["tokens"] for r in removed_rows[p])
        parts = rows_by_part[p]
        if parts and sum(t.num_rows for t in parts):
            res.shards_rewritten.append(rel)
            if dry_run:
                continue
            _, info = ws.partition_write(p, {"routed": pa.concat_tables(parts, promote_options="permissive")})
            new_entries[rel] = {k: info[k] for k in ("file", "sha256", "bytes", "rows", "documents", "tokens",
                                                     "documents_by_domain", "tokens_by_domain")}
        else:
            res.shards_deleted.append(rel)
            if not dry_run:
                (shards_dir / rel).unlink(missing_ok=True)
            new_entries[rel] = None
    res.seconds = round(time.perf_counter() - t0, 3)
    if dry_run:
        return res
    _update_manifests(manifests, shards_dir, new_entries, removed_rows, ws.layout, index, new, fps, res)
    _publish(summary, shards_dir, manifests, new_entries)
    _update_summary(run_dir, summary, folder, manifests, res)
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


def _sum(ds: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in ds:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items()))


def _update_manifests(manifests: dict[str, dict[str, Any]], shards_dir: Path, new_entries: dict[str, Any],
                      removed_rows: dict[int, list[dict[str, Any]]], layout: dict[str, Any], index: NgramIndex,
                      new: list[BenchmarkSpec], fps: dict[str, str], res: Regeneration) -> None:
    removed_by_file = {_part_file(layout, p)[1]: rows for p, rows in removed_rows.items()}
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for m, man in manifests.items():
        shards = []
        for s in man["shards"]:
            rel = s["file"]
            if rel not in new_entries:
                shards.append(s)
                continue
            if new_entries[rel] is None:
                continue
            shards.append({**new_entries[rel], "removed": s.get("removed", []) + removed_by_file.get(rel, [])})
        man["shards"] = shards
        man["documents"] = sum(s["documents"] for s in shards)
        man["tokens"] = sum(s["tokens"] for s in shards)
        man["tokens_by_domain"] = _sum(s["tokens_by_domain"] for s in shards)
        man["documents_by_domain"] = _sum(s["documents_by_domain"] for s in shards)
        rows_here = [r for rel, rows in removed_by_file.items() if rel.startswith(m + "/") for r in rows]
        dec = man.setdefault("decontamination", {"applied": [], "history": []})
        for s in new:
            meta = index.meta["benchmarks"][s.name]
            dec["applied"].append({"benchmark": s.name, "fingerprint": fps[s.name], "layout": s.layout,
                                   "fields": meta["fields"], "items": meta["items"], "ngram": meta["ngram"],
                                   "documents_removed": sum(1 for r in rows_here if s.name in r["benchmarks"])})
        dec["history"].append({
            "at": at, "benchmarks": [s.name for s in new],
            "shards_rewritten": sorted(rel for rel in new_entries if rel.startswith(m + "/") and new_entries[rel] is not None),
            "shards_deleted": sorted(rel for rel in new_entries if rel.startswith(m + "/") and new_entries[rel] is None),
            "documents_removed": len(rows_here), "tokens_removed": sum(r["tokens"] for r in rows_here),
            "why": "rows of documents matching the benchmarks removed; the shard was rewritten from the run's lineage",
        })
        path = shards_dir / m / "manifest.json"
        tmp = path.with_name(".manifest.json.tmp")
        tmp.write_text(json.dumps(man, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)


def _publish(summary: dict[str, Any], shards_dir: Path, manifests: dict[str, Any], new_entries: dict[str, Any]) -> None:
    """Mirror the changed shards and the manifests to the run's published output folder."""
    from dataforge.runner import link_or_copy

    out = summary.get("output")
    if not out:
        return
    if "://" in out:
        from dataforge.runner import _publish_folder  # noqa: PLC2701 - remote output: mirror the folder

        _publish_folder(shards_dir, out)
        return
    base = Path(out)
    if not base.exists():
        return
    for rel, entry in new_entries.items():
        if entry is None:
            (base / rel).unlink(missing_ok=True)
        else:
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(shards_dir / rel, base / rel)
    for m in manifests:
        link_or_copy(shards_dir / m / "manifest.json", base / m / "manifest.json")


def _update_summary(run_dir: Path, summary: dict[str, Any], folder: Path, manifests: dict[str, Any], res: Regeneration) -> None:
    """Recompute the mixture statistics and shard counts in summary.json and add the contamination report."""
    from dataforge.rundir import atomic_write_json

    for s in summary["stages"]:
        report = s.get("report") or {}
        mixture = report.get("mixture")
        if mixture:
            for m, mm in mixture.get("mixtures", {}).items():
                man = manifests.get(m)
                if not man:
                    continue
                toks, docs = man["tokens_by_domain"], man["documents_by_domain"]
                total = sum(toks.values()) or 1
                mm["tokens_after"] = sum(toks.values())
                for d in mm["domains"]:
                    d["tokens_after"] = toks.get(d["domain"], 0)
                    d["documents_after"] = docs.get(d["domain"], 0)
                    d["share_after"] = round(d["tokens_after"] / total, 5)
                    d["repeat_factor"] = round(d["tokens_after"] / d["tokens_before"], 3) if d["tokens_before"] else 0.0
        if s["folder"] == folder.name:
            for m, man in manifests.items():
                info = report.setdefault("shards", {}).setdefault(m, {})
                info.update({"shards": len(man["shards"]), "documents": man["documents"], "tokens": man["tokens"],
                             "bytes": sum(x["bytes"] for x in man["shards"])})
            report["contamination"] = {**res.contamination, "regenerated": True,
                                       "shards_rewritten": len(res.shards_rewritten), "shards_deleted": len(res.shards_deleted),
                                       "rows_removed": res.rows_removed, "tokens_removed": res.tokens_removed}
            s["report"] = report
    summary.setdefault("decontamination", []).append({k: v for k, v in res.to_dict().items() if k != "contamination"})
    atomic_write_json(run_dir / "summary.json", summary)

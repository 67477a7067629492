"""The contamination report: per benchmark, items found, documents affected, by source and domain, examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import pyarrow.compute as pc

from dataforge.breakdown import read_columns

REASON = "contaminated"
EXAMPLES = 3
TOP = 10


def contamination_summary(records: Iterable[dict[str, Any]], index_meta: dict[str, Any] | None) -> dict[str, Any]:
    """Aggregate match records ({id, source, domain, action, match}) per benchmark, with the index's load counts."""
    benches: dict[str, dict[str, Any]] = {}
    for name, b in sorted(((index_meta or {}).get("benchmarks") or {}).items()):
        benches[name] = _empty(b)
    total = 0
    for r in records:
        total += 1
        m = r["match"]
        for name in m.get("benchmarks") or [m.get("benchmark")]:
            b = benches.setdefault(name, _empty({}))
            b["documents_affected"] += 1
            b[f"documents_{r['action']}"] = b.get(f"documents_{r['action']}", 0) + 1
            b["_items"].update(i for i in m.get("items", []) if i.startswith(name + "/"))
            for key in ("source", "domain"):
                v = r.get(key) or "(none)"
                b[f"by_{key}"][v] = b[f"by_{key}"].get(v, 0) + 1
            if len(b["examples"]) < EXAMPLES:
                b["examples"].append({"id": r["id"], "items": [i for i in m.get("items", []) if i.startswith(name + "/")][:3],
                                      "longest_span": m.get("longest_span"), "excerpt": m.get("excerpt", "")})
    for b in benches.values():
        b["items_found"] = len(b.pop("_items"))
        for key in ("by_source", "by_domain"):
            b[key] = dict(sorted(b[key].items(), key=lambda kv: (-kv[1], kv[0]))[:TOP])
    return {"documents_affected": total, "benchmarks": benches}


def _empty(meta: dict[str, Any]) -> dict[str, Any]:
    return {"items_indexed": meta.get("items", 0), "ngram": meta.get("ngram"), "skipped": meta.get("skipped", {}),
            "items_too_short": meta.get("items_too_short", 0), "documents_affected": 0, "_items": set(),
            "by_source": {}, "by_domain": {}, "examples": []}


def stage_records(folder: Path) -> list[dict[str, Any]]:
    """Match records of a finished decontaminate_v1 stage: its contaminated rejects and its annotated kept rows."""
    out: list[dict[str, Any]] = []
    rejects = read_columns(folder / "rejects", ["id", "reason", "detail", "source", "domain"])
    if rejects is not None and "reason" in rejects.column_names and rejects.num_rows:
        rows = rejects.filter(pc.equal(rejects.column("reason"), REASON)).to_pylist()
        for r in rows:
            out.append({"id": r["id"], "source": r.get("source"), "domain": r.get("domain"), "action": "dropped",
                        "match": json.loads(r["detail"] or "{}")})
    kept = read_columns(folder / "data", ["id", "decontam", "source", "domain"])
    if kept is not None and "decontam" in kept.column_names and kept.num_rows:
        for r in kept.filter(pc.is_valid(kept.column("decontam"))).to_pylist():
            m = json.loads(r["decontam"])
            out.append({"id": r["id"], "source": r.get("source"), "domain": r.get("domain"),
                        "action": m.get("action", "annotated"), "match": m})
    return out


def stage_report(folder: Path) -> dict[str, Any] | None:
    """The ``contamination`` report of a decontaminate_v1 stage folder (None before it ran)."""
    meta_path = folder / "index" / "index.json"
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    return {"contamination": contamination_summary(stage_records(folder), meta)}

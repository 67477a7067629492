"""Mixture statistics of a finished mix_v1 stage: shares before and after against targets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from dataforge.breakdown import read_columns

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def _group_tokens(t: pa.Table, key: str, tokens: str) -> dict[str, tuple[int, int]]:
    if key not in t.column_names:
        return {}
    g = t.group_by(key).aggregate([(tokens, "sum"), (tokens, "count")])
    return {str(k if k is not None else "(none)"): (int(s), int(c))
            for k, s, c in zip(g.column(key).to_pylist(), g.column(f"{tokens}_sum").to_pylist(),
                               g.column(f"{tokens}_count").to_pylist())}


def _estimated_tokens(text: pa.ChunkedArray | pa.Array, bytes_per_token: float) -> pa.Array:
    """Token estimate per document when no token counts exist: ceil(UTF-8 bytes / bytes_per_token)."""
    nbytes = np.asarray(pc.fill_null(pc.binary_length(text), 0).to_numpy(zero_copy_only=False))
    return pa.array(np.ceil(nbytes / bytes_per_token).astype(np.int64))


def _read_stats(folder: Path, cols: list[str], token_column: str, bytes_per_token: float) -> pa.Table | None:
    """The small per-document columns the report needs, never the text: memory stays far below the corpus size.

    Without a token-count column the estimate is computed from ``text`` one record batch at a
    time, so only the estimates (8 bytes per document) are kept, not the whole corpus' text.
    """
    data = read_columns(folder, cols)
    if data is None or token_column in data.column_names:
        return data
    files = sorted(str(f) for f in folder.glob("*.parquet"))
    ds = pads.dataset(files, format="parquet")
    if "text" not in ds.schema.names:
        return data
    est = [_estimated_tokens(b.column(0), bytes_per_token) for b in ds.to_batches(columns=["text"], batch_size=8192)]
    chunks = pa.chunked_array([e for e in est if len(e)] or [pa.array([], pa.int64())], pa.int64())
    return data.append_column(token_column, chunks)


#: How far a domain's share after mixing may be from its target (absolute, in share units: 0.01 = 1 point).
TOLERANCE = 0.01


def check_shares(mixture: str, rows: list[dict[str, Any]], max_repeats: float) -> tuple[bool, list[str]]:
    """Whether every domain's share is within TOLERANCE of its target; for each one that is not, why (in words).

    Each row gets ``share_error`` (after minus target) and ``status`` (``ok`` or ``off``). The
    reasons told apart: not enough tokens even at the repetition cap; a domain on its token
    target whose share moved because another domain fell short; whole-document granularity
    (the domain's largest selected document is a large part of its target).
    """
    short = [r["domain"] for r in rows if r.get("shortfall_tokens")]
    notes = []
    for r in rows:
        err = r["share_after"] - r["target_share"]
        r["share_error"] = round(err, 5)
        r["status"] = "ok" if abs(err) <= TOLERANCE + 1e-9 else "off"
        if r["status"] == "ok":
            continue
        where = (f"mixture {mixture!r}, domain {r['domain']!r}: share {r['share_after']:.2%} vs target "
                 f"{r['target_share']:.2%} ({err * 100:+.2f} points)")
        target = r.get("tokens_target") or 0.0
        if r.get("shortfall_tokens"):
            notes.append(f"{where}: only {r['tokens_before']:,} tokens available; at the cap of {max_repeats:g} "
                         f"repeats it got {r['tokens_after']:,} of {target:,.0f}. Raise max_repeats, add data or "
                         "lower its weight.")
        elif target and abs(r["tokens_after"] - target) <= TOLERANCE * target and short:
            notes.append(f"{where}: its tokens are on target ({r['tokens_after']:,} of {target:,.0f}), but "
                         f"{', '.join(repr(x) for x in short)} fell short, so every other share is of a smaller total.")
        else:
            big = r.get("largest_document_tokens", 0)
            notes.append(f"{where}: documents are taken whole and its largest has {big:,} tokens "
                         f"({big / target:.1%} of its {target:,.0f}-token target)" if target else f"{where}.")
    return not notes, notes


def mixture_report(stage: Any, folder: Path) -> dict[str, Any] | None:
    """Per mixture and domain: documents, tokens, share before/after, target share, repetition, quality quantiles."""
    plan_path = folder / "mix_plan.json"
    if not plan_path.exists():
        return None
    plan = json.loads(plan_path.read_text())
    p = stage.params
    prefer = sorted({m.prefer for m in p.mixtures.values() if m.prefer})
    cols = ["mixture", p.domain_column, p.token_column, "language", "source", *prefer]
    data = _read_stats(folder / "data", cols, p.token_column, p.bytes_per_token)
    available = plan["available_tokens"]
    total_before = sum(available.values()) or 1
    out: dict[str, Any] = {"mixtures": {}, "problems": plan.get("problems", [])}
    for m, mp in sorted(plan["mixtures"].items()):
        sel = None
        if data is not None and data.num_rows:
            sel = data.filter(pc.equal(data.column("mixture"), m))
        after = _group_tokens(sel, p.domain_column, p.token_column) if sel is not None else {}
        total_after = sum(v[0] for v in after.values()) or 1
        rows = []
        for d, e in sorted(mp["domains"].items()):
            tok_after, docs_after = after.get(d, (0, 0))
            row = {
                "domain": d, "documents_before": e["documents"], "documents_after": docs_after,
                "tokens_before": e["tokens_available"], "tokens_after": tok_after,
                "share_before": round(e["tokens_available"] / total_before, 5),
                "share_after": round(tok_after / total_after, 5), "target_share": round(e["target_share"], 5),
                "repeat_factor": round(tok_after / e["tokens_available"], 3) if e["tokens_available"] else 0.0,
                "tokens_target": e["tokens_target"], "shortfall_tokens": e.get("shortfall_tokens", 0.0),
            }
            if sel is not None and p.domain_column in sel.column_names and docs_after:
                mine = sel.filter(pc.equal(sel.column(p.domain_column), d)).column(p.token_column)
                row["largest_document_tokens"] = int(pc.max(mine).as_py() or 0)
            mix = p.mixtures[m]
            if mix.prefer and sel is not None and mix.prefer in sel.column_names:
                vals = sel.filter(pc.equal(sel.column(p.domain_column), d)).column(mix.prefer)
                vals = np.asarray(pc.drop_null(vals).to_numpy(zero_copy_only=False), dtype=float)
                if len(vals):
                    row["quality_quantiles"] = {str(q): round(float(np.quantile(vals, q)), 4) for q in QUANTILES}
            rows.append(row)
        by = {}
        for key in ("language", "source"):
            if sel is not None and key in sel.column_names:
                g = _group_tokens(sel, key, p.token_column)
                by[key] = [{key: k, "documents": c, "tokens": s, "share": round(s / total_after, 5)}
                           for k, (s, c) in sorted(g.items(), key=lambda kv: -kv[1][0])[:20]]
        within, notes = check_shares(m, rows, p.mixtures[m].max_repeats)
        out["mixtures"][m] = {"total_tokens_target": mp["total_tokens"], "tokens_after": total_after if after else 0,
                              "domains": rows, "within_tolerance": within, "tolerance": TOLERANCE, "notes": notes,
                              **{f"by_{k}": v for k, v in by.items()}}
    return {"mixture": out}

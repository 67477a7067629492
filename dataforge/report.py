"""A self-contained HTML report of a run: funnel, drop reasons, mixtures vs targets, length distributions.

Plots are inline SVG drawn here (no plotting library, no network): the file opens anywhere.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]


def _bar_chart(title: str, labels: list[str], series: dict[str, list[float]], fmt: str = "{:,.0f}",
               width: int = 760, percent: bool = False) -> str:
    """Horizontal grouped bars: one group per label, one bar per series."""
    n_series = max(1, len(series))
    bar_h, gap = 14, 10
    group_h = bar_h * n_series + gap
    left, right = 260, 90
    height = 40 + group_h * len(labels) + 24 * ((n_series + 2) // 3)
    vmax = max([v for vals in series.values() for v in vals] + [1e-12])
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
           f'<text x="0" y="16" font-weight="bold" font-size="14">{html.escape(title)}</text>']
    for i, label in enumerate(labels):
        y0 = 30 + i * group_h
        out.append(f'<text x="{left - 6}" y="{y0 + group_h / 2}" text-anchor="end" font-size="12">{html.escape(label[:40])}</text>')
        for j, (name, vals) in enumerate(series.items()):
            v = vals[i]
            w = (width - left - right) * v / vmax
            y = y0 + j * bar_h
            text = f"{v:.1%}" if percent else fmt.format(v)
            out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{COLORS[j % len(COLORS)]}">'
                       f'<title>{html.escape(name)}: {text}</title></rect>')
            out.append(f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 4}" font-size="11">{text}</text>')
    y = 30 + group_h * len(labels) + 8
    for j, name in enumerate(series):
        x = left + (j % 3) * 190
        yy = y + (j // 3) * 20
        out.append(f'<rect x="{x}" y="{yy}" width="12" height="12" fill="{COLORS[j % len(COLORS)]}"/>'
                   f'<text x="{x + 16}" y="{yy + 11}" font-size="12">{html.escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def _histogram(title: str, values: np.ndarray, bins: int = 30, width: int = 760, height: int = 220) -> str:
    """A log-spaced histogram of positive values (e.g. tokens per document)."""
    values = values[values > 0]
    if len(values) == 0:
        return ""
    lo, hi = float(values.min()), float(values.max())
    edges = np.geomspace(max(lo, 1), max(hi, lo + 1), bins + 1)
    counts, _ = np.histogram(values, bins=edges)
    left, bottom = 50, 40
    cmax = counts.max() or 1
    bw = (width - left - 10) / bins
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
           f'<text x="0" y="16" font-weight="bold" font-size="14">{html.escape(title)}</text>']
    for i, c in enumerate(counts):
        h = (height - bottom - 30) * c / cmax
        x = left + i * bw
        out.append(f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{bw - 1:.1f}" height="{h:.1f}" fill="{COLORS[0]}">'
                   f'<title>{edges[i]:,.0f}–{edges[i + 1]:,.0f}: {c:,}</title></rect>')
    for i in range(0, bins + 1, 5):
        x = left + i * bw
        out.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" font-size="11" text-anchor="middle">{edges[i]:,.0f}</text>')
    q = np.quantile(values, [0.1, 0.5, 0.9])
    out.append(f'<text x="{left}" y="{height - 6}" font-size="12">n={len(values):,}; p10 {q[0]:,.0f}, median {q[1]:,.0f}, '
               f'p90 {q[2]:,.0f}</text></svg>')
    return "".join(out)


def _token_lengths(run_dir: Path, summary: dict[str, Any]) -> dict[str, np.ndarray]:
    """Token (or word) counts per document from the last stage that has them, per mixture when present."""
    import pyarrow.dataset as pads

    for st in reversed(summary["stages"]):
        folder = run_dir / "stages" / st["folder"] / "data"
        files = sorted(str(f) for f in folder.glob("*.parquet")) if folder.exists() else []
        if not files:
            continue
        ds = pads.dataset(files, format="parquet")
        col = next((c for c in ("n_tokens", "n_words") if c in ds.schema.names), None)
        if col is None:
            continue
        cols = [col] + (["mixture"] if "mixture" in ds.schema.names else [])
        t = ds.to_table(columns=cols)
        if "mixture" in cols:
            out = {}
            mix = np.asarray(t.column("mixture").to_pylist(), dtype=object)
            vals = np.asarray(t.column(col).to_numpy(zero_copy_only=False), dtype=float)
            for m in sorted(set(mix.tolist())):
                out[f"{col} per document, mixture {m}"] = vals[mix == m]
            return out
        return {f"{col} per document ({st['stage']} output)": np.asarray(t.column(col).to_numpy(zero_copy_only=False), dtype=float)}
    return {}


def _status(d: dict[str, Any]) -> str:
    """A domain row's verdict cell: within tolerance, or off."""
    status = d.get("status")
    if status is None:
        return ""
    return "✓ within ±1 point" if status == "ok" else "<b style='color:#b35c00'>off target</b>"


def _verdict(name: str, m: dict[str, Any]) -> str:
    """One sentence per mixture: every share within tolerance, or which are not and why."""
    if "within_tolerance" not in m:
        return ""
    tol = m.get("tolerance", 0.01) * 100
    if m["within_tolerance"]:
        sentence = f"Mixture {name!r}: every domain's token share is within ±{tol:g} point of its target."
        return f"<p style='color:#2a7a2a'><b>{html.escape(sentence)}</b></p>"
    items = "".join(f"<li>{html.escape(n)}</li>" for n in m.get("notes", []))
    sentence = f"Mixture {name!r}: not every share is within ±{tol:g} point of its target:"
    return f"<p style='color:#b35c00'><b>{html.escape(sentence)}</b></p><ul>{items}</ul>"


def build_report(run_dir: Path) -> str:
    """The report's HTML for a finished run directory."""
    summary = json.loads((run_dir / "summary.json").read_text())
    parts = [f"<h1>{html.escape(summary['pipeline'])}</h1>",
             f"<p>run directory <code>{html.escape(str(run_dir))}</code> · {summary['shards']} shard(s) · "
             f"{summary['wall_seconds']:.1f} s · dataforge {html.escape(summary['dataforge'])}</p>"]
    t = summary["totals"]
    parts.append(f"<p><b>input {t['input']:,}</b> = kept {t['kept']:,} + dropped {t['dropped']:,} + quarantined "
                 f"{t['quarantined']:,}" + (f" − created {t['created']:,}" if t["created"] else "") +
                 f" — {'balanced' if t['balanced'] else '<b style=color:red>NOT balanced</b>'}</p>")
    stages = summary["stages"]
    parts.append(_bar_chart("Funnel: documents per stage", [f"{s['index']}. {s['stage']}" for s in stages], {
        "in": [s["rows_in"] for s in stages], "kept": [s["rows_out"] for s in stages],
        "dropped": [sum(s["dropped"].values()) for s in stages],
        "quarantined": [sum(s["quarantined"].values()) for s in stages]}))
    reasons = sorted({**summary["dropped"], **summary["quarantined"]}.items(), key=lambda kv: -kv[1])[:15]
    if reasons:
        parts.append(_bar_chart("Top drop and quarantine reasons", [r for r, _ in reasons], {"documents": [n for _, n in reasons]}))
    for s in stages:
        mixture = (s.get("report") or {}).get("mixture")
        if not mixture:
            continue
        for problem in mixture.get("problems", []):
            parts.append(f"<p style='color:#b35c00'>target not met: {html.escape(problem)}</p>")
        for name, m in mixture["mixtures"].items():
            doms = [d["domain"] for d in m["domains"]]
            parts.append(_bar_chart(f"Mixture {name!r}: token shares before and after mixing vs target", doms, {
                "before": [d["share_before"] for d in m["domains"]], "after": [d["share_after"] for d in m["domains"]],
                "target": [d["target_share"] for d in m["domains"]]}, percent=True))
            rows = "".join(f"<tr><td>{html.escape(d['domain'])}</td><td>{d['tokens_before']:,}</td><td>{d['tokens_after']:,}</td>"
                           f"<td>{d['share_after']:.2%}</td><td>{d['target_share']:.2%}</td>"
                           f"<td>{d.get('share_error', d['share_after'] - d['target_share']) * 100:+.2f}</td>"
                           f"<td>{d['repeat_factor']:.2f}×</td><td>{_status(d)}</td></tr>"
                           for d in m["domains"])
            parts.append("<table><tr><th>domain</th><th>tokens before</th><th>tokens after</th><th>share</th>"
                         f"<th>target</th><th>error (points)</th><th>repeat</th><th></th></tr>{rows}</table>")
            parts.append(_verdict(name, m))
    for label, values in _token_lengths(run_dir, summary).items():
        parts.append(_histogram(label, values))
    style = ("body{font-family:system-ui,sans-serif;max-width:820px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
             "svg{display:block;margin:1.5em 0}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>dataforge report: "
            f"{html.escape(summary['pipeline'])}</title><style>{style}</style></head><body>{''.join(parts)}</body></html>")

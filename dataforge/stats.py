"""Read and print run summaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load_summary(run_dir: Path) -> dict[str, Any]:
    """The run's summary.json."""
    path = run_dir / "summary.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a run directory of a finished run?")
    return json.loads(path.read_text())


def print_summary(summary: dict[str, Any], console: Any) -> None:
    """Per-stage funnel with drop and quarantine reasons, and the totals."""
    from rich.table import Table

    table = Table(title=f"{summary['pipeline']}: {summary['shards']} shard(s)")
    for col in ("#", "stage", "in", "out", "dropped", "quarantined", "reasons", "cpu s"):
        table.add_column(col, justify="right" if col in ("in", "out", "dropped", "quarantined", "cpu s") else "left",
                         no_wrap=col in ("stage", "in", "out"))
    for s in summary["stages"]:
        reasons = [f"{r}={n}" for r, n in sorted(s["dropped"].items(), key=lambda kv: -kv[1])]
        reasons += [f"[red]{r}={n}[/]" for r, n in sorted(s["quarantined"].items(), key=lambda kv: -kv[1])]
        table.add_row(str(s["index"]), s["stage"], f"{s['rows_in']:,}", f"{s['rows_out']:,}",
                      f"{sum(s['dropped'].values()):,}", f"{sum(s['quarantined'].values()):,}",
                      "\n".join(reasons[:8]) + (f"\n… {len(reasons) - 8} more" if len(reasons) > 8 else ""),
                      f"{s['seconds']:.1f}")
    console.print(table)
    t = summary["totals"]
    ok = "[green]balanced[/]" if t["balanced"] else "[red]NOT balanced[/]"
    console.print(f"input {t['input']:,} = kept {t['kept']:,} + dropped {t['dropped']:,} + quarantined "
                  f"{t['quarantined']:,}" + (f" - created {t['created']:,}" if t["created"] else "") + f": {ok}")


def print_reports(summary: dict[str, Any], console: Any) -> None:
    """Removal by source/domain per stage, and cluster reports of dedup stages."""
    from rich.table import Table

    for s in summary["stages"]:
        report = s.get("report") or {}
        for key in ("by_source", "by_domain"):
            rows = report.get(key)
            if not rows:
                continue
            col = key.split("_", 1)[1]
            t = Table(title=f"{s['stage']}: removal by {col}")
            for c in (col, "in", "removed", "rate"):
                t.add_column(c, justify="left" if c == col else "right")
            for r in rows:
                t.add_row(r[col], f"{r['in']:,}", f"{r['removed']:,}", f"{r['rate']:.1%}")
            console.print(t)
        contamination = report.get("contamination")
        if contamination:
            print_contamination(s["stage"], contamination, console)
        mixture = report.get("mixture")
        if mixture:
            print_mixture(mixture, console)
        shards = report.get("shards")
        if shards:
            for m, info in shards.items():
                console.print(f"[bold]shards[/] {m}: {info['shards']} file(s), {info['documents']:,} documents, "
                              f"{info['tokens']:,} tokens, {info['bytes'] / 1e6:,.1f} MB — {info['manifest']}")
        clusters = report.get("clusters")
        if clusters:
            console.print(f"[bold]{s['stage']}[/]: {clusters['clusters']:,} clusters holding "
                          f"{clusters['documents_in_clusters']:,} documents; sizes: "
                          + ", ".join(f"{k}: {v:,}" for k, v in clusters["size_histogram"].items() if v))
            t = Table("kept", "size", "removed (examples)", title="largest clusters")
            for c in clusters["largest"]:
                t.add_row(c["kept"], f"{c['size']:,}", ", ".join(c["removed_examples"]))
            console.print(t)


def print_contamination(stage: str, report: dict[str, Any], console: Any) -> None:
    """Per benchmark: items indexed and found, documents affected, top sources/domains, example excerpts."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"{stage}: contamination ({report['documents_affected']:,} document(s) affected)")
    for c in ("benchmark", "items indexed", "items found", "docs affected", "by source", "by domain", "skipped on load"):
        t.add_column(c, justify="left" if c in ("benchmark", "by source", "by domain", "skipped on load") else "right")
    for name, b in report.get("benchmarks", {}).items():
        top = {k: ", ".join(f"{v} {n}" for v, n in list(b[k].items())[:3]) for k in ("by_source", "by_domain")}
        t.add_row(name, f"{b['items_indexed']:,}", f"{b['items_found']:,}", f"{b['documents_affected']:,}",
                  top["by_source"], top["by_domain"], ", ".join(f"{r}={n}" for r, n in b.get("skipped", {}).items()))
    console.print(t)
    for name, b in report.get("benchmarks", {}).items():
        for ex in b.get("examples", [])[:2]:
            console.print(f"  {name} in {ex['id']} ({', '.join(ex['items'])}): "
                          + escape(repr(ex["excerpt"][:120])))


def print_mixture(mixture: dict[str, Any], console: Any) -> None:
    """Per mixture: domains with tokens and shares before/after against the target."""
    from rich.table import Table

    for problem in mixture.get("problems", []):
        console.print(f"[yellow]target not met:[/] {problem}")
    for name, m in mixture["mixtures"].items():
        t = Table(title=f"mixture {name!r}: {m['tokens_after']:,} tokens (target {m['total_tokens_target']:,.0f})")
        for c in ("domain", "docs before", "docs after", "tokens before", "tokens after", "share before",
                  "share after", "target", "repeat", "quality p10/p50/p90"):
            t.add_column(c, justify="left" if c == "domain" else "right")
        for d in m["domains"]:
            q = d.get("quality_quantiles")
            qs = f"{q['0.1']:.2f}/{q['0.5']:.2f}/{q['0.9']:.2f}" if q else ""
            off = d["share_after"] - d["target_share"]
            mark = "" if abs(off) <= 0.01 or not d["target_share"] else " [yellow]![/]"
            t.add_row(d["domain"], f"{d['documents_before']:,}", f"{d['documents_after']:,}", f"{d['tokens_before']:,}",
                      f"{d['tokens_after']:,}", f"{d['share_before']:.1%}", f"{d['share_after']:.1%}{mark}",
                      f"{d['target_share']:.1%}", f"{d['repeat_factor']:.2f}x", qs)
        console.print(t)
        if "within_tolerance" in m:
            tol = m.get("tolerance", 0.01)
            if m["within_tolerance"]:
                console.print(f"  [green]✓[/] every domain within ±{tol:.0%} of its target share")
            for note in m.get("notes", []):
                console.print(f"  [yellow]off target:[/] {note}")
        for key in ("by_language", "by_source"):
            rows = m.get(key)
            if rows:
                col = key.split("_", 1)[1]
                console.print(f"  by {col}: " + ", ".join(f"{r[col]} {r['share']:.1%}" for r in rows[:8]))

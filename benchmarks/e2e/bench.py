"""End to end against datatrove: the FineWeb pipeline on the same WARCs, wall time per stage, peak memory, kept sets.

Builds (once, deterministically) ``--gb`` GB of WARC from real pages repeated with perturbation
(build_warc.py), then for each scale in ``--scales`` runs

- dataforge: ``dataforge run pipelines/e2e-fineweb.yaml`` on embedded Ray with ``--workers`` CPUs;
- datatrove 0.10.1 (``.bench/datatrove-venv``): datatrove_fineweb.py, the same recipe, same workers;

each under benchmarks/memwatch.py (wall time, peak RSS of the whole process tree), and records the
documents kept and the agreement of the kept sets (Jaccard of kept URLs). Prints a table, writes
RESULTS.md beside this file and a scaling plot (scaling.svg).

    python benchmarks/e2e/bench.py --gb 2 --scales 0.25,0.5,1 --work /tmp/e2e-bench
    python benchmarks/e2e/bench.py --gb 0.02 --scales 0.5,1 --work /tmp/e2e-smoke --smoke   # smoke run
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from benchmarks.memwatch import run_measured  # noqa: E402

DT_PY = REPO / ".bench" / "datatrove-venv" / "bin" / "python"


def pipeline_file(work: Path, gate: bool) -> Path:
    """pipelines/e2e-fineweb.yaml, or a copy without its language gate (every page then goes through trafilatura)."""
    src = REPO / "pipelines/e2e-fineweb.yaml"
    if gate:
        return src
    import yaml

    spec = yaml.safe_load(src.read_text())
    spec["stages"] = [s for s in spec["stages"] if s["stage"] != "language_gate_v1"]
    work.mkdir(parents=True, exist_ok=True)
    out = work / "e2e-fineweb-nogate.yaml"
    out.write_text(yaml.safe_dump(spec, sort_keys=False))
    return out


def dataforge_run(data: Path, work: Path, workers: int, gate: bool = True) -> dict[str, Any]:
    """Run the dataforge pipeline (with or without its language gate); wall, peak memory, per-stage seconds, kept URLs."""
    tag = "df" if gate else "df-nogate"
    run_dir, out = work / f"{tag}-run", work / f"{tag}-out"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "dataforge", "run", str(pipeline_file(work, gate)), "--quiet",
           "--num-cpus", str(workers), "--run-dir", str(run_dir), "--set", f"DATA={data}/*.warc.gz",
           "--set", f"OUT={out}", "--set", f"workers={workers}"]
    m = run_measured(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, full_every=20)
    if m.returncode != 0:
        raise SystemExit(f"dataforge failed:\n{m.output[-3000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    stages = {}
    for st in summary["stages"]:
        man = json.loads((run_dir / "stages" / st["folder"] / "manifest.json").read_text())
        stages[st["stage"]] = {"task_s": st["seconds"], "wall_s": man["seconds_wall_last_run"]}
    import pyarrow.parquet as pq

    kept = pq.read_table(out / "e2e-fineweb", columns=["url"]).column("url").to_pylist()
    return {"wall_s": m.seconds, "peak_mib": m.peak_mib, "peak_pss_mib": m.peak_pss_mib, "stages": stages, "kept": set(kept),
            "input": summary["totals"]["input"]}


def datatrove_run(data: Path, work: Path, workers: int) -> dict[str, Any]:
    """Run the datatrove pipeline in its own venv; wall, peak memory, per-stage seconds and kept URLs."""
    out = work / "dt-out"
    shutil.rmtree(out, ignore_errors=True)
    tok = work / "qwen-tokenizer.json"
    if not tok.exists():
        from dataforge.stages.tokenize.convert import write_qwen_tokenizer_json

        write_qwen_tokenizer_json(tok)
    from dataforge.stages.language.langid import default_model_path

    cmd = [str(DT_PY), str(HERE / "datatrove_fineweb.py"), "--data", str(data), "--out", str(out),
           "--workers", str(workers), "--lid", default_model_path(), "--tokenizer", str(tok)]
    m = run_measured(cmd, full_every=20)
    line = next((x for x in m.output.splitlines() if x.startswith("DATATROVE_TIMES ")), None)
    if m.returncode != 0 or line is None:
        raise SystemExit(f"datatrove failed:\n{m.output[-3000:]}")
    times = json.loads(line.split(" ", 1)[1])
    kept = set()
    for f in glob.glob(str(out / "kept" / "*.jsonl.gz")):
        with gzip.open(f, "rt") as fh:
            kept.update(json.loads(x)["url"] for x in fh if x.strip())
    return {"wall_s": m.seconds, "peak_mib": m.peak_mib, "peak_pss_mib": m.peak_pss_mib,
            "stages": {k: {"wall_s": v} for k, v in times.items()},
            "kept": kept}


def pages_of(urls: set[str]) -> set[str]:
    """The source page of each kept URL (``.../r{pass}/p{page}`` -> ``p{page}``): copies of one page are one page."""
    return {u.rsplit("/", 1)[-1] for u in urls if u}


def fmt(x: float | None) -> str:
    """A ratio with three decimals, or empty."""
    return "" if x is None else f"{x:.3f}"


def svg_plot(points: dict[str, list[tuple[float, float, float]]], path: Path) -> None:
    """A small two-panel SVG (wall seconds and peak MiB against input GB), one line per engine."""
    colors = {"dataforge": "#1f77b4", "dataforge-nogate": "#2ca02c", "datatrove": "#d62728"}
    w, h, pad = 320, 220, 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w + 20}" height="{h + 36}" font-family="sans-serif" font-size="11">',
             f'<rect width="{2 * w + 20}" height="{h + 36}" fill="white"/>']
    for panel, (idx, label) in enumerate(((1, "wall time (s)"), (2, "peak memory, PSS (MiB)"))):
        x0 = panel * (w + 20)
        xs = [p[0] for pts in points.values() for p in pts] or [1]
        ys = [p[idx] for pts in points.values() for p in pts] or [1]
        xmax, ymax = max(xs) or 1, max(ys) * 1.1 or 1
        parts.append(f'<text x="{x0 + w / 2}" y="14" text-anchor="middle">{label} vs input (GB of HTML)</text>')
        parts.append(f'<text x="{x0 + w / 2}" y="{h + 28}" text-anchor="middle">GB</text>')
        parts.append(f'<line x1="{x0 + pad}" y1="{h}" x2="{x0 + w - 10}" y2="{h}" stroke="black"/>')
        parts.append(f'<line x1="{x0 + pad}" y1="{h}" x2="{x0 + pad}" y2="24" stroke="black"/>')
        for frac in (0.0, 0.5, 1.0):  # y ticks
            y = h - frac * (h - 30)
            parts.append(f'<text x="{x0 + pad - 4}" y="{y + 4:.1f}" text-anchor="end">{frac * ymax:.0f}</text>')
            parts.append(f'<line x1="{x0 + pad}" y1="{y:.1f}" x2="{x0 + w - 10}" y2="{y:.1f}" stroke="#ddd"/>')
        for xv in sorted(set(xs)):  # one x tick per measured input size
            x = x0 + pad + (xv / xmax) * (w - pad - 10)
            parts.append(f'<text x="{x:.1f}" y="{h + 14}" text-anchor="middle">{xv:g}</text>')
        for k, (engine, pts) in enumerate(points.items()):
            coords = " ".join(f"{x0 + pad + (p[0] / xmax) * (w - pad - 10):.1f},{h - (p[idx] / ymax) * (h - 30):.1f}"
                              for p in sorted(pts))
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{colors.get(engine, "gray")}" stroke-width="2"/>')
            parts.append(f'<text x="{x0 + pad + 8}" y="{40 + 14 * k}" fill="{colors.get(engine, "gray")}">{engine}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def main() -> None:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=2.0, help="size of the 1x input, GB of HTML")
    ap.add_argument("--scales", default="0.25,0.5,1")
    ap.add_argument("--work", type=Path, default=Path("/tmp/e2e-bench"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--engines", default="dataforge,dataforge-nogate,datatrove",
                    help="dataforge (pipelines/e2e-fineweb.yaml), dataforge-nogate (the same without language_gate_v1), datatrove")
    ap.add_argument("--file-mb", type=float, default=128.0)
    ap.add_argument("--smoke", action="store_true", help="label the figures as a smoke run")
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args()
    from build_warc import build

    engines = args.engines.split(",")
    rows: list[dict[str, Any]] = []
    points: dict[str, list[tuple[float, float, float]]] = {e: [] for e in engines}
    stage_tables: list[str] = []
    for scale in [float(s) for s in args.scales.split(",")]:
        gb = round(args.gb * scale, 4)
        data = args.work / f"warc-{gb:g}gb"
        if not data.exists():
            build(data, gb, min(args.file_mb, max(1.0, gb * 1000 / 8)))  # >= 8 files so 2 workers share work
        res = {}
        if "dataforge" in engines:
            res["dataforge"] = dataforge_run(data, args.work / f"s{gb:g}", args.workers)
        if "dataforge-nogate" in engines:
            res["dataforge-nogate"] = dataforge_run(data, args.work / f"s{gb:g}", args.workers, gate=False)
        if "datatrove" in engines:
            res["datatrove"] = datatrove_run(data, args.work / f"s{gb:g}", args.workers)
        ref = res.get("datatrove", {}).get("kept")
        for e, r in res.items():
            jac = pjac = None
            if ref is not None and e != "datatrove":  # agreement with datatrove's kept set
                a, b = r["kept"], ref
                jac = len(a & b) / max(1, len(a | b))
                pa, pb = pages_of(a), pages_of(b)
                pjac = len(pa & pb) / max(1, len(pa | pb))
            points[e].append((gb, r["wall_s"], r["peak_pss_mib"] or r["peak_mib"]))
            rows.append({"gb": gb, "engine": e, "wall_s": r["wall_s"], "peak_mib": r["peak_mib"],
                         "peak_pss_mib": r["peak_pss_mib"], "kept": len(r["kept"]), "pages": len(pages_of(r["kept"])),
                         "jaccard": jac, "page_jaccard": pjac, "stages": r["stages"]})
            lines = [f"\n**{e}, {gb:g} GB** (wall seconds per stage{'; task seconds summed over workers' if e.startswith('dataforge') else ''})\n",
                     "| stage | wall s | task s |", "| --- | ---: | ---: |"]
            lines += [f"| {k} | {v.get('wall_s', 0):.2f} | {v['task_s']:.2f} |" if "task_s" in v else
                      f"| {k} | {v['wall_s']:.2f} | |" for k, v in r["stages"].items()]
            stage_tables.append("\n".join(lines))
        if "dataforge" in res and "datatrove" in res:
            from agreement import report

            stage_tables.append(f"\n**Stage by stage, {gb:g} GB** (documents each step lets through)\n\n"
                                + report(args.work / f"s{gb:g}"))
        (args.work / "results.json").write_text(json.dumps(rows, indent=1))
    head = f"{'GB':>6} {'engine':<10} {'wall s':>9} {'PSS MiB':>9} {'kept':>7} {'pages':>7} {'URL J':>7} {'page J':>7}"
    print(head)
    for r in rows:
        print(f"{r['gb']:>6g} {r['engine']:<10} {r['wall_s']:>9.1f} {r['peak_pss_mib']:>9.0f} {r['kept']:>7} {r['pages']:>7} "
              f"{fmt(r['jaccard']):>7} {fmt(r['page_jaccard']):>7}")
    svg_plot(points, HERE / "scaling.svg")
    cmd = " ".join(["python", "benchmarks/e2e/bench.py"] + sys.argv[1:])
    label = "SMOKE RUN (small input, shared 2-core machine: not a measurement)" if args.smoke else "measured"
    md = [f"# End to end: dataforge vs datatrove 0.10.1 on the FineWeb pipeline ({label})", "",
          f"Reproduce: `{cmd}`", "",
          f"Workers: {args.workers}. Input: real pages (html_eval + Dolma WARC samples) repeated with perturbation "
          "(build_warc.py). Kept-set agreement: Jaccard of kept URLs, and of kept source pages (which copy of "
          "a duplicated page survives dedup is arbitrary in both engines, so the page-level figure is the one that "
          "compares what the two pipelines keep). Peak memory of the whole process tree: PSS (shared pages divided "
          "between the processes mapping them) and RSS.", "",
          "| input GB | engine | wall s | peak PSS MiB | peak RSS MiB | kept | distinct pages kept | URL Jaccard | page Jaccard |",
          "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    md += [f"| {r['gb']:g} | {r['engine']} | {r['wall_s']:.1f} | {r['peak_pss_mib']:.0f} | {r['peak_mib']:.0f} | {r['kept']} | "
           f"{r['pages']} | {fmt(r['jaccard'])} | {fmt(r['page_jaccard'])} |" for r in rows]
    md += ["", "Scaling plot: [scaling.svg](scaling.svg)", "", "## Where the time goes", *stage_tables, ""]
    args.results.write_text("\n".join(md))
    print(f"wrote {args.results} and {HERE / 'scaling.svg'}")


if __name__ == "__main__":
    main()

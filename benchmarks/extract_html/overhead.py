"""Where html_extract_v1's 1-worker overhead goes: CPU seconds of the shard path against the plain trafilatura loop.

Runs the same pages (the html_eval pages, as in ``throughput.py``) two ways, round after round:

* plain loop: ``trafilatura.extract(raw, include_tables=True, include_comments=False)`` in this process;
* shard path: the pipeline ``html -> html_extract_v1`` (``metadata: false``) on the in-process
  executor, i.e. exactly what one Ray worker does for its shards (HTML reader, re-batching, the
  stage with its time-limited child process, Parquet writing, manifests), without Ray itself.

It reports CPU seconds (this process, and the extraction child read from ``/proc``), which a
busy machine inflates far less than wall time, plus wall time and the child's start-up. The CPU
ratio isolates the work the engine adds; what it cannot show is Ray's own start-up (actor
creation, Ray Data), which ``throughput.py`` includes. ``--profile`` prints the parent's top
functions by CPU time (cProfile).

    python benchmarks/extract_html/overhead.py --pages 300 --rounds 3
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.extract_html.results import table, write_section  # noqa: E402
from benchmarks.extract_html.throughput import WORK, make_pages, median  # noqa: E402


def child_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def plain(pages: list[bytes]) -> tuple[float, float]:
    """(wall, CPU) seconds of the bare trafilatura loop."""
    import trafilatura

    t0, c0 = time.perf_counter(), time.process_time()
    for raw in pages:
        trafilatura.extract(raw, include_tables=True, include_comments=False, fast=False)
    return time.perf_counter() - t0, time.process_time() - c0


def shard_path(folder: Path, shards: int, profile: cProfile.Profile | None) -> dict[str, float]:
    """Run the pipeline in-process; wall, parent CPU, child CPU, child start wall and CPU seconds."""
    from dataforge import spec as spec_mod
    from dataforge.executor import LocalExecutor
    from dataforge.runner import make_plan, run

    n_files = len(list(folder.glob("*.html")))
    run_dir, out = WORK / "overhead-run", WORK / "overhead-out"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    doc = {"name": "html-overhead",
           "input": {"format": "html", "paths": [str(folder / "*.html")],
                     "options": {"files_per_unit": max(1, -(-n_files // shards))}},
           "output": {"path": str(out)},
           "stages": [{"stage": "html_extract_v1", "params": {"metadata": False}}]}
    plan = make_plan(spec_mod.from_dict(doc), run_dir)
    stage: Any = plan.stages[1].stage
    t0, c0 = time.perf_counter(), time.process_time()
    if profile is not None:
        profile.enable()
    stage.ensure_setup()  # the child starts here, as on a worker's first batch
    started = time.perf_counter() - t0
    start_cpu = child_cpu(stage._runner._proc.pid)
    summary = run(plan, LocalExecutor()).summary
    if profile is not None:
        profile.disable()
    wall, parent = time.perf_counter() - t0, time.process_time() - c0
    child = child_cpu(stage._runner._proc.pid)
    stage._runner.close()
    assert summary["totals"]["balanced"] and summary["totals"]["input"] == n_files, summary["totals"]
    return {"wall": wall, "parent": parent, "child": child, "start": started, "start_cpu": start_cpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--pages", type=int, default=300, help="first N eval pages")
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print the parent's top functions (cProfile, CPU time)")
    ap.add_argument("--write", action="store_true", help="record the table in RESULTS.md")
    args = ap.parse_args()
    src = Path(args.data) / "html_eval" / "pages"
    if not src.exists():
        sys.exit(f"needs {src} (the shared development data)")
    folder = make_pages(src, args.pages, args.copies)
    pages = [p.read_bytes() for p in sorted(folder.glob("*.html"))]
    plain(pages[:2])  # imports before timing
    prof = cProfile.Profile(time.process_time) if args.profile else None
    rows: list[dict[str, Any]] = []
    for r in range(args.rounds):
        pw, pc = plain(pages)
        s = shard_path(folder, args.shards, prof)
        rows.append({"round": r + 1, "pages": len(pages), "plain wall s": round(pw, 2), "plain CPU s": round(pc, 2),
                     "engine wall s": round(s["wall"], 2), "engine parent CPU s": round(s["parent"], 2),
                     "engine child CPU s": round(s["child"], 2), "child start s": round(s["start"], 2),
                     "child start CPU s": round(s["start_cpu"], 2),
                     "CPU engine / plain": round((s["parent"] + s["child"]) / pc, 3),
                     "same, start excluded": round((s["parent"] + s["child"] - s["start_cpu"]) / pc, 3),
                     "wall engine / plain": round(s["wall"] / pw, 3), "load avg": round(os.getloadavg()[0], 1)})
        print(json.dumps(rows[-1]), flush=True)
    cols = list(rows[0])
    summary = (f"median CPU engine / plain: {median([r['CPU engine / plain'] for r in rows]):.3f} "
               f"({median([r['same, start excluded'] for r in rows]):.3f} without the child's start); "
               f"median parent CPU per page: {1000 * median([r['engine parent CPU s'] for r in rows]) / len(pages):.2f} ms; "
               f"median wall engine / plain: {median([r['wall engine / plain'] for r in rows]):.3f}")
    print(table(rows, cols))
    print(summary)
    if prof is not None:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    if args.write:
        cmd = (f"python benchmarks/extract_html/overhead.py --pages {args.pages} --copies {args.copies} "
               f"--shards {args.shards} --rounds {args.rounds} --write")
        body = (f"Reproduce: `{cmd}`\n\nThe 1-worker shard path without Ray (HTML reader, re-batching, "
                "`html_extract_v1` with its time-limited child, Parquet and manifests, on the in-process executor) "
                "against the plain trafilatura loop, in CPU seconds (this process + the extraction child), which a "
                "shared machine inflates far less than wall time. Ray's own start-up (actor, Ray Data) is not in "
                "these figures; `throughput.py` has it. 1-minute load average in the last column (2 cores).\n\n"
                + table(rows, cols) + "\n\n" + summary + ".")
        write_section("Engine overhead in CPU time (1 worker, without Ray)", body)


if __name__ == "__main__":
    main()

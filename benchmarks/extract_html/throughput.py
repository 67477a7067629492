"""Pages/s of html_extract_v1 through the engine (1 and 2 workers) against a plain extractor loop, same pages, same run.

The pages are the real html_eval pages (copied ``--copies`` times under .bench/ so a run lasts
long enough to time). For each extractor (trafilatura, resiliparse):

* plain loop: the library called on every page's raw bytes in one process, nothing else
  (``trafilatura.extract(raw, include_tables=True, include_comments=False, fast=not fallbacks)``;
  resiliparse: charset detection, parse, ``extract_plain_text(main_content=True)``);
* engine: ``dataforge`` on embedded Ray reading the pages with ``input.format: html`` and running
  ``html_extract_v1`` with the same settings (``metadata: false``, so no title/date work the loop
  does not do), writing Parquet, with 1 then 2 workers. The time is the run's own wall time
  (``summary.json``), i.e. without starting Ray, but with actors, the extractor child process,
  reading and writing.

    python benchmarks/extract_html/throughput.py --copies 3            # the full benchmark, writes RESULTS.md
    python benchmarks/extract_html/throughput.py --pages 150 --smoke   # a smoke run (recorded as such)
    python benchmarks/extract_html/throughput.py --copies 2 --shards 16 --extractors trafilatura --workers 1 --repeats 3
        # the 1-worker overhead alone: plain loop and engine interleaved, median of the paired ratios
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.extract_html.results import table, write_section  # noqa: E402

WORK = ROOT / ".bench" / "extract_html" / "throughput"


def make_pages(src: Path, n: int | None, copies: int) -> Path:
    """Write ``copies`` copies of the first ``n`` eval pages as plain .html files; return the folder."""
    files = sorted(src.glob("*.html.gz"))[:n]
    folder = WORK / f"pages-{len(files)}x{copies}"
    if folder.exists() and len(list(folder.glob("*.html"))) == len(files) * copies:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for i, f in enumerate(files):
        raw = gzip.decompress(f.read_bytes())
        for c in range(copies):
            (folder / f"c{c}-p{i:04d}.html").write_bytes(raw)
    return folder


def plain_loop(pages: list[bytes], extractor: str, fallbacks: bool) -> float:
    """Seconds for the bare library over all pages (imports done before timing)."""
    if extractor == "trafilatura":
        import trafilatura

        t0 = time.perf_counter()
        for raw in pages:
            trafilatura.extract(raw, include_tables=True, include_comments=False, fast=not fallbacks)
        return time.perf_counter() - t0
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import detect_encoding
    from resiliparse.parse.html import HTMLTree

    t0 = time.perf_counter()
    for raw in pages:
        tree = HTMLTree.parse_from_bytes(raw, detect_encoding(raw, from_html_meta=True))
        extract_plain_text(tree, preserve_formatting=True, main_content=True, alt_texts=False, comments=False)
    return time.perf_counter() - t0


def engine_run(folder: Path, extractor: str, fallbacks: bool, workers: int, shards: int, executor: Any,
               metadata: bool = False) -> dict[str, Any]:
    """Run the html -> html_extract_v1 pipeline; return its summary."""
    from dataforge import spec as spec_mod
    from dataforge.runner import make_plan, run

    n_files = len(list(folder.glob("*.html")))
    tag = f"{extractor}-w{workers}-m{int(metadata)}"
    run_dir, out = WORK / f"run-{tag}", WORK / f"out-{tag}"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    doc = {
        "name": "html-throughput",
        "input": {"format": "html", "paths": [str(folder / "*.html")],
                  "options": {"files_per_unit": max(1, -(-n_files // shards))}},
        "output": {"path": str(out)},
        "stages": [{"stage": "html_extract_v1", "workers": workers,
                    "params": {"extractor": extractor, "fallbacks": fallbacks, "metadata": metadata}}],
    }
    spec = spec_mod.from_dict(doc)
    return run(make_plan(spec, run_dir), executor).summary


def median(values: list[float]) -> float:
    """The median of a non-empty list."""
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--pages", type=int, default=None, help="first N eval pages (default: all 1,032)")
    ap.add_argument("--copies", type=int, default=2, help="copies of the page set, to lengthen the runs")
    ap.add_argument("--shards", type=int, default=8, help="shards the pages are cut into")
    ap.add_argument("--extractors", nargs="*", default=["trafilatura", "resiliparse"])
    ap.add_argument("--workers", nargs="*", type=int, default=[1, 2], help="engine worker counts to run")
    ap.add_argument("--repeats", type=int, default=1,
                    help="rounds of (plain loop, engine runs), interleaved; the table shows medians")
    ap.add_argument("--fallbacks", action=argparse.BooleanOptionalAction, default=True,
                    help="trafilatura fallbacks (html_extract_v1's default)")
    ap.add_argument("--smoke", action="store_true", help="record the figures as a smoke run")
    args = ap.parse_args()
    src = Path(args.data) / "html_eval" / "pages"
    if not src.exists():
        sys.exit(f"needs {src} (the shared development data)")
    folder = make_pages(src, args.pages, args.copies)
    paths = sorted(folder.glob("*.html"))
    pages = [p.read_bytes() for p in paths]
    for ex in args.extractors:  # import the libraries before anything is timed
        plain_loop(pages[:2], ex, args.fallbacks)
    from dataforge.executor import RayExecutor

    load_start = os.getloadavg()
    executor = RayExecutor(num_cpus=2)
    # (extractor, "plain loop" | workers) -> seconds per round; outcomes per engine configuration
    secs: dict[tuple[str, Any], list[float]] = {}
    outcomes: dict[tuple[str, Any], str] = {}
    rounds: list[dict[str, Any]] = []
    try:
        for r in range(args.repeats):
            for ex in args.extractors:  # the plain loop and the engine alternate, round after round
                base = plain_loop(pages, ex, args.fallbacks)
                secs.setdefault((ex, "plain loop"), []).append(base)
                for w in args.workers:
                    s = engine_run(folder, ex, args.fallbacks, w, args.shards, executor)
                    assert s["totals"]["balanced"] and s["totals"]["input"] == len(pages), s["totals"]
                    secs.setdefault((ex, w), []).append(s["wall_seconds"])
                    outcomes[(ex, w)] = json.dumps({**s["dropped"], **s["quarantined"]})
                    row = {"round": r + 1, "extractor": ex, "workers": w, "plain loop s": round(base, 2),
                           "engine s": round(s["wall_seconds"], 2),
                           "engine / plain": f"{s['wall_seconds'] / base:.3f}", "load avg": f"{os.getloadavg()[0]:.1f}"}
                    rounds.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        executor.shutdown()
    load_end = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for ex in args.extractors:
        plain = secs[(ex, "plain loop")]
        rows.append({"extractor": ex, "how": "plain loop", "workers": 1, "pages": len(pages),
                     "seconds": round(median(plain), 2), "pages/s": round(len(pages) / median(plain), 1)})
        one = median(secs[(ex, args.workers[0])]) if args.workers else None
        for w in args.workers:
            eng = secs[(ex, w)]
            ratios = [e / b for e, b in zip(eng, plain)]  # paired: the plain loop of the same round
            rows.append({"extractor": ex, "how": "engine", "workers": w, "pages": len(pages),
                         "seconds": round(median(eng), 2), "pages/s": round(len(pages) / median(eng), 1),
                         "engine time / plain loop": f"{median(ratios):.3f} ({median(ratios) - 1:+.1%})",
                         "speed-up vs 1 worker": f"{one / median(eng):.2f}x" if one and args.workers[0] == 1 else "",
                         "outcomes": outcomes[(ex, w)]})
    cols = ["extractor", "how", "workers", "pages", "seconds", "pages/s", "engine time / plain loop",
            "speed-up vs 1 worker", "outcomes"]
    print(table(rows, cols))
    flags = f"--pages {args.pages} " if args.pages else ""
    extra = "" if args.extractors == ["trafilatura", "resiliparse"] else " --extractors " + " ".join(args.extractors)
    extra += "" if args.workers == [1, 2] else " --workers " + " ".join(map(str, args.workers))
    extra += f" --repeats {args.repeats}" if args.repeats != 1 else ""
    cmd = (f"python benchmarks/extract_html/throughput.py {flags}--copies {args.copies} --shards {args.shards}{extra}"
           + ("" if args.fallbacks else " --no-fallbacks") + (" --smoke" if args.smoke else ""))
    quiet = max(load_start[0], load_end[0]) < 1.5
    note = ("**Smoke run** on a 2-core machine shared with other jobs: the figures show the script works; they are "
            "not a measurement. " if args.smoke else "")
    if not quiet:
        note += (f"**Not quiet**: the machine was shared (1-minute load average {load_start[0]:.1f} at the start, "
                 f"{load_end[0]:.1f} at the end, on 2 cores), so seconds are inflated; the paired ratio of each "
                 "round is the figure to read, and a serial rerun should replace this section. ")
    body = (f"Reproduce: `{cmd}`\n\n{note}{len(pages)} pages ({len(paths) // args.copies} distinct real pages x "
            f"{args.copies}), {args.shards} shards, trafilatura fallbacks {'on' if args.fallbacks else 'off'}, "
            "metadata off on both sides. Engine seconds are the run's wall time without Ray start-up (with actor "
            "start, the extractor's child process, reading and writing). Each of the "
            f"{args.repeats} round(s) runs the plain loop and then the engine; the table shows medians, and "
            "'engine time / plain loop' is the median of the per-round ratios (1.000 = no overhead, above 1 = "
            "slower than the plain loop).\n\n" + table(rows, cols)
            + "\n\nPer round:\n\n" + table(rounds, ["round", "extractor", "workers", "plain loop s", "engine s",
                                                     "engine / plain", "load avg"]))
    write_section("Throughput" + (" (smoke run)" if args.smoke else "" if quiet else " (not quiet)"), body)


if __name__ == "__main__":
    main()

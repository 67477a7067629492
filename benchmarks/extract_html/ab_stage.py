"""A/B of html_extract_v1 at two commits against the plain trafilatura loop, interleaved on the same pages.

Timing the engine against the plain loop on a shared machine mixes in whatever else runs; this
script compares two versions of the stage directly. It loads ``stages/extract/{html,isolated,
html_engines}.py`` as they were at ``--before`` (``git show``, read-only) under a private package
name in ``.bench/`` and sets up both (``metadata: false``, default ``timeout_s``, so each has its
child process). Each trial then extracts the same chunk of in-memory pages three ways in
rotating order: the plain ``trafilatura.extract`` loop, the stage at ``--before``, the stage in
the working tree. Many short paired trials make the median ratio robust to a machine that
other jobs share; the child's start-up is timed separately.

    python benchmarks/extract_html/ab_stage.py --before eaa2344 --chunk 64 --rounds 30
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.extract_html.overhead import plain  # noqa: E402
from benchmarks.extract_html.results import table, write_section  # noqa: E402
from benchmarks.extract_html.throughput import WORK, make_pages, median  # noqa: E402

FILES = ("html.py", "isolated.py", "html_engines.py")


def load_version(rev: str) -> Any:
    """The HtmlExtract class as it was at ``rev``, imported under a private package name."""
    tag = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    pkg = f"legacy_extract_{tag}"
    base = WORK / "legacy"
    folder = base / pkg
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(f'"""stages/extract at {tag}, for benchmarks/extract_html/ab_stage.py."""\n')
    for name in FILES:
        src = subprocess.run(["git", "show", f"{rev}:stages/extract/{name}"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
        (folder / name).write_text(src.replace("dataforge.stages.extract.", f"{pkg}."))
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))  # the old child is started with ``-m``: it inherits sys.path
    return importlib.import_module(f"{pkg}.html").HtmlExtract


def start_seconds(cls: Any, times: int) -> float:
    """Median wall seconds to set up a stage, i.e. to start its child until it is ready to extract."""
    out = []
    for _ in range(times):
        stage = cls({"metadata": False})
        t0 = time.perf_counter()
        stage.ensure_setup()
        out.append(time.perf_counter() - t0)
        stage._runner.close()
    return median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--before", default="HEAD", help="the commit to compare the working tree with")
    ap.add_argument("--pages", type=int, default=1032, help="first N eval pages, cut into chunks")
    ap.add_argument("--chunk", type=int, default=64, help="pages per timed trial")
    ap.add_argument("--rounds", type=int, default=30, help="trials of each contender (chunks are reused cyclically)")
    ap.add_argument("--starts", type=int, default=5, help="child start-ups timed per version")
    ap.add_argument("--write", action="store_true", help="record the table in RESULTS.md")
    args = ap.parse_args()
    src = Path(args.data) / "html_eval" / "pages"
    if not src.exists():
        sys.exit(f"needs {src} (the shared development data)")
    pages = [p.read_bytes() for p in sorted(make_pages(src, args.pages, 1).glob("*.html"))]
    chunks = [pages[s:s + args.chunk] for s in range(0, len(pages), args.chunk)]
    from dataforge.stages.extract.html import HtmlExtract as After

    before_cls = load_version(args.before)
    plain(pages[:2])
    stages = {"before": before_cls({"metadata": False}), "after": After({"metadata": False})}
    for st in stages.values():
        st.ensure_setup()

    def timed(name: str, chunk: list[bytes]) -> float:
        if name == "plain":
            return plain(chunk)[0]
        batch = pa.table({"id": [f"p{i}" for i in range(len(chunk))], "html": pa.array(chunk, pa.binary())})
        t0 = time.perf_counter()
        stages[name](batch)
        return time.perf_counter() - t0

    secs: dict[str, list[float]] = {"plain": [], "before": [], "after": []}
    order = ["plain", "before", "after"]
    loads = []
    try:
        for r in range(args.rounds):
            chunk = chunks[r % len(chunks)]
            for name in order[r % 3:] + order[:r % 3]:  # rotate who goes first
                secs[name].append(timed(name, chunk))
            loads.append(os.getloadavg()[0])
            print(json.dumps({"round": r + 1, **{k: round(v[-1], 3) for k, v in secs.items()}}), flush=True)
    finally:
        for st in stages.values():
            st._runner.close()
    starts = {"before": start_seconds(before_cls, args.starts), "after": start_seconds(After, args.starts)}
    n_pages = sum(len(chunks[r % len(chunks)]) for r in range(args.rounds))
    rows = []
    for name in ("before", "after"):
        ratios = [a / b for a, b in zip(secs[name], secs["plain"])]
        rows.append({"stage": f"{name} ({args.before})" if name == "before" else "after (this tree)",
                     "trials": args.rounds, "pages": n_pages,
                     "median time / plain loop, per trial": f"{median(ratios):.3f} ({median(ratios) - 1:+.1%})",
                     "total time / plain loop": f"{sum(secs[name]) / sum(secs['plain']):.3f}",
                     "ms per page over the loop": f"{1000 * (sum(secs[name]) - sum(secs['plain'])) / n_pages:.2f}",
                     "child start s (median)": f"{starts[name]:.2f}"})
    paired = [a / b for a, b in zip(secs["after"], secs["before"])]
    rows.append({"stage": "after / before", "trials": args.rounds, "pages": n_pages,
                 "median time / plain loop, per trial": f"after / before: {median(paired):.3f} ({median(paired) - 1:+.1%})",
                 "total time / plain loop": f"{sum(secs['after']) / sum(secs['before']):.3f}",
                 "ms per page over the loop": f"{1000 * (sum(secs['after']) - sum(secs['before'])) / n_pages:.2f}",
                 "child start s (median)": f"{starts['after'] - starts['before']:+.2f}"})
    cols = list(rows[0])
    print(table(rows, cols))
    load = f"1-minute load average {min(loads):.1f}-{max(loads):.1f} on 2 cores"
    print(load)
    if args.write:
        cmd = (f"python benchmarks/extract_html/ab_stage.py --before {args.before} --pages {args.pages} "
               f"--chunk {args.chunk} --rounds {args.rounds} --starts {args.starts} --write")
        body = (f"Reproduce: `{cmd}`\n\n`html_extract_v1` at `{args.before}` (before) and in this tree (after), each "
                "set up once with its time-limited child, against the plain trafilatura loop: each trial extracts the "
                f"same {args.chunk} in-memory pages three ways, one after another in rotating order, so a busy "
                "machine slows all three alike; the per-trial ratios' median is the robust figure. On a busy machine the "
                "plain loop, which never sleeps, gets less CPU from the Linux scheduler than the children, which "
                "wait between pages, so there the last row (after against before, both children) is the "
                "comparison to read. No reader, "
                "Parquet or Ray here (`throughput.py` has those); the child's start-up is timed apart. "
                f"{load}" + (" (not quiet: inflated hand-offs between processes)" if max(loads) >= 1.5 else "")
                + ".\n\n" + table(rows, cols))
        write_section("Stage before and after the batched child protocol", body)


if __name__ == "__main__":
    main()

"""Documents per CPU-second (per core) of dataforge's heuristic rule stages vs datatrove's filters.

Both sides see the same documents (the first ``--docs`` of the benchmark corpus) in one process
each, and are timed with ``time.process_time()`` (CPU time of all threads, so the figure is per
core whatever a library parallelises):

- per family, every document through that family's filter alone;
- the suite, as a pipeline runs it: Gopher quality, Gopher repetition, FineWeb, then C4, each
  seeing only the documents the previous ones kept (datatrove: document by document, stopping
  at the first drop, spaCy tokenisations shared through its cache; dataforge: batch by batch
  through the four ``*_filter_v1`` stages called directly, no Ray).

Each dataforge measurement runs in a fresh subprocess, so its word cache starts cold, as a new
worker's would. datatrove runs through ``reference.py --suite`` in the benchmark venv.

``.venv/bin/python benchmarks/quality_rules/speed.py --docs 1000``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / ".bench" / "quality_rules"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import write_section  # noqa: E402

FAMILIES = {
    "gopher_quality": ("gopher_quality_filter_v1", {}),
    "gopher_repetition": ("gopher_repetition_filter_v1", {}),
    "fineweb": ("fineweb_filter_v1", {}),
    "c4": ("c4_filter_v1", {}),
}


def measure(corpus: Path, docs: int, what: str) -> float:
    """CPU seconds of one dataforge measurement (a family name or ``suite``), in this process."""
    from dataforge import registry

    table = pq.read_table(corpus).slice(0, docs)
    names = list(FAMILIES) if what == "suite" else [what]
    stages = [registry.get(FAMILIES[f][0])(FAMILIES[f][1]) for f in names]
    for s in stages:
        s.ensure_setup()
    t0 = time.process_time()
    for start in range(0, table.num_rows, 1000):
        batch = table.slice(start, 1000)
        for s in stages:
            batch = s(batch).kept
            if batch.num_rows == 0:
                break
    return time.process_time() - t0


def main() -> None:
    """Time both sides and write the speed section of RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=BENCH / "corpus.parquet")
    ap.add_argument("--docs", type=int, default=1000, help="first N documents of the corpus")
    ap.add_argument("--datatrove-python", default=str(ROOT / ".bench" / "datatrove-venv" / "bin" / "python"))
    ap.add_argument("--smoke", action="store_true", help="mark the figures as a smoke run in RESULTS.md")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps({"seconds": measure(args.corpus, args.docs, args.worker)}))
        return
    ours: dict[str, float] = {}
    for what in [*FAMILIES, "suite"]:
        out = subprocess.run([sys.executable, __file__, "--worker", what, "--docs", str(args.docs),
                              "--corpus", str(args.corpus)], check=True, capture_output=True, text=True)
        ours[what] = json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
        print(f"dataforge {what:18s} {ours[what]:8.2f} cpu s  {args.docs / ours[what]:8.1f} docs/s", flush=True)
    ref_out = BENCH / f"speed_reference_{args.docs}.parquet"
    subprocess.run([args.datatrove_python, str(Path(__file__).with_name("reference.py")), "--suite",
                    "--families", ",".join(FAMILIES), "--limit", str(args.docs), "--corpus", str(args.corpus),
                    "--out", str(ref_out)], check=True)
    theirs = json.loads(ref_out.with_suffix(".seconds.json").read_text())["cpu_seconds"]
    rows = ["| what | documents | datatrove docs/s per core | dataforge docs/s per core | speed-up |",
            "| --- | ---: | ---: | ---: | ---: |"]
    for what in [*FAMILIES, "suite"]:
        a, b = args.docs / theirs[what], args.docs / ours[what]
        rows.append(f"| {what} | {args.docs:,} | {a:,.0f} | {b:,.0f} | {b / a:.1f}x |")
    label = " (smoke run: small subset on a shared 2-core machine; to be rerun serially)" if args.smoke else ""
    body = "\n".join([
        f"## Speed{label}",
        "",
        f"`.venv/bin/python benchmarks/quality_rules/speed.py --docs {args.docs}{' --smoke' if args.smoke else ''}`",
        "",
        *rows,
        "",
        "CPU seconds (`time.process_time`, all threads) in one process per side; dataforge stages are "
        "called directly on Arrow batches of 1,000 documents with a cold word cache; the suite is Gopher "
        "quality -> Gopher repetition -> FineWeb -> C4, each seeing what the previous kept.",
    ])
    print(body)
    if not args.no_write:
        write_section("speed", body)


if __name__ == "__main__":
    main()

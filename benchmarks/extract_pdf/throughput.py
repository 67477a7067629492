"""Pages per second: a plain pymupdf loop vs pdf_extract_v1 in a plain loop vs the engine on 1 and 2 workers.

The corpus is the docling test PDFs (``pdf/docling/pdfs``) copied ``--copies`` times into
``.bench/extract_pdf/corpus`` (git-ignored). Every side reads the same files from disk:

* ``pymupdf get_text()``: open each file, ``page.get_text()`` on every page (the reference loop);
* ``pdf_extract_v1, plain loop``: the stage called on one file at a time, no engine (the
  stage's own cost: layout, reading order, cleanup);
* ``engine, N worker(s)``: ``dataforge`` running PDF reader -> pdf_extract_v1 on Ray Data with
  N workers, timed from the start of the run to the published output (Ray already started).

Engine overhead is engine time / plain-loop stage time - 1 on one worker; scaling is the
1-worker time / 2-worker time. Results go to RESULTS.md beside this script (section
"throughput"); pass ``--smoke`` to label them as a smoke run on a small subset.

    python benchmarks/extract_pdf/throughput.py --data ../shared/data --copies 4 --repeat 1 --smoke
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WORK = ROOT / ".bench" / "extract_pdf"


def build_corpus(data: Path, copies: int) -> tuple[Path, int, int]:
    """Copy the docling PDFs ``copies`` times; return the folder, file count and page count."""
    import pymupdf

    src = sorted((data / "pdf" / "docling" / "pdfs").glob("*.pdf"))
    if not src:
        raise SystemExit(f"no PDFs under {data / 'pdf' / 'docling' / 'pdfs'}")
    corpus = WORK / f"corpus-x{copies}"
    if corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True)
    pages = 0
    for c in range(copies):
        for f in src:
            shutil.copyfile(f, corpus / f"{c:03d}-{f.name}")
            with pymupdf.open(f) as doc:
                pages += doc.page_count
    return corpus, copies * len(src), pages


def plain_pymupdf(files: list[Path]) -> float:
    """Seconds for open + page.get_text() over every page of every file."""
    import pymupdf

    t0 = time.perf_counter()
    for f in files:
        with pymupdf.open(f) as doc:
            for page in doc:
                page.get_text()
    return time.perf_counter() - t0


def plain_stage(files: list[Path]) -> float:
    """Seconds for pdf_extract_v1 called on one file at a time (bytes read from disk), no engine."""
    import pyarrow as pa

    from dataforge.stages.extract.pdf import PdfExtract

    stage = PdfExtract()
    stage.ensure_setup()
    t0 = time.perf_counter()
    for f in files:
        stage(pa.table({"id": [f.name], "text": pa.array([None], pa.string()), "pdf": [f.read_bytes()]}))
    return time.perf_counter() - t0


def engine(corpus: Path, workers: int, files_per_unit: int, executor) -> tuple[float, dict]:
    """Seconds for a run of PDF reader -> pdf_extract_v1 with ``workers`` workers, and its summary."""
    from dataforge import spec as spec_mod
    from dataforge.runner import make_plan, run

    out = WORK / f"out-w{workers}"
    run_dir = WORK / f"run-w{workers}"
    for d in (out, run_dir):
        shutil.rmtree(d, ignore_errors=True)
    spec = spec_mod.from_dict({
        "name": "pdf-throughput",
        "workers": workers,
        "input": {"format": "pdf", "paths": [str(corpus)], "options": {"files_per_unit": files_per_unit}},
        "output": {"path": str(out)},
        "stages": [{"stage": "pdf_extract_v1"}],
    })
    plan = make_plan(spec, run_dir)
    t0 = time.perf_counter()
    res = run(plan, executor)
    return time.perf_counter() - t0, res.summary


def main() -> int:
    """Run each side ``--repeat`` times (best time kept), print and record the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="the shared data folder")
    ap.add_argument("--copies", type=int, default=4, help="copies of the 13 docling PDFs in the corpus")
    ap.add_argument("--repeat", type=int, default=1, help="runs per side; the best is reported")
    ap.add_argument("--files-per-unit", type=int, default=4, help="input.options.files_per_unit (shard size)")
    ap.add_argument("--smoke", action="store_true", help="label the figures as a smoke run")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    corpus, n_files, n_pages = build_corpus(Path(args.data), args.copies)
    files = sorted(corpus.glob("*.pdf"))
    rows: list[tuple[str, float]] = []
    plain_pymupdf(files[:3])  # warm-up: imports, font caches, page cache for the first files
    plain_stage(files[:3])
    base, stage = [], []
    for _ in range(args.repeat):  # interleaved, so machine noise hits both sides alike
        base.append(plain_pymupdf(files))
        stage.append(plain_stage(files))
    rows.append(("pymupdf get_text(), plain loop", min(base)))
    rows.append(("pdf_extract_v1, plain loop", min(stage)))
    from dataforge.executor import RayExecutor

    executor = RayExecutor(num_cpus=2)
    try:
        engine(corpus, 1, args.files_per_unit, executor)  # warm-up: workers import pymupdf once
        for w in (1, 2):
            best, summary = min((engine(corpus, w, args.files_per_unit, executor) for _ in range(args.repeat)),
                                key=lambda r: r[0])
            assert summary["totals"]["balanced"], summary["totals"]
            rows.append((f"engine, {w} worker{'s' if w > 1 else ''}", best))
    finally:
        executor.shutdown()
    base_stage = rows[1][1]
    one, two = rows[2][1], rows[3][1]
    lines = ["| side | seconds | pages/s |", "|---|---|---|"]
    lines += [f"| {name} | {sec:.2f} | {n_pages / sec:.1f} |" for name, sec in rows]
    lines.append("")
    lines.append(f"Engine overhead on 1 worker vs the stage's plain loop: {100 * (one / base_stage - 1):+.1f}%; "
                 f"2 workers vs 1: {one / two:.2f}x; cleanup cost vs raw get_text(): "
                 f"{rows[1][1] / rows[0][1]:.2f}x the time.")
    table = "\n".join(lines)
    print(f"{n_files} PDFs, {n_pages} pages\n{table}")
    if not args.no_write:
        from results import write_section

        cmd = (f"python benchmarks/extract_pdf/throughput.py --data ../shared/data --copies {args.copies} "
               f"--repeat {args.repeat} --files-per-unit {args.files_per_unit}" + (" --smoke" if args.smoke else ""))
        label = ("**Smoke run** on a small subset on a shared 2-core machine; not a timing to quote. "
                 if args.smoke else "")
        write_section("throughput", f"{label}{n_files} PDFs ({args.copies} copies of the docling test PDFs), "
                                    f"{n_pages} pages; best of {args.repeat}.\n\nReproduce: `{cmd}`\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

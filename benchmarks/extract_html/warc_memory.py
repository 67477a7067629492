"""Peak memory of the WARC reader on big WARCs built from the shared pages: it must not grow with file size.

Builds ``.bench/extract_html/crawl-<G>g.warc.gz`` (one gzip member per record, as Common Crawl
writes them: a request and a response per page, the real html_eval pages with distinct URLs)
for each size given, then reads every unit of it with ``WarcReader`` (plan: cut points at
``split_bytes``; read: all units one after another in one process) and records the peak RSS of
that process, the number of units and documents, and MB/s. Comparing a small and a large file
shows whether memory grows with size. ``--pipeline`` also runs the whole ``web-extract``
pipeline (resiliparse, 2 workers on embedded Ray) over the file and records the peak RSS of the
whole process tree.

    python benchmarks/extract_html/warc_memory.py --gb 0.1 1.0 [--pipeline]
    python benchmarks/extract_html/warc_memory.py --gb 0.02 0.1 --smoke
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.extract_html.results import table, write_section  # noqa: E402
from benchmarks.memwatch import run_measured  # noqa: E402

WORK = ROOT / ".bench" / "extract_html"

READ_ALL = textwrap.dedent('''
    import json, sys, time
    from dataforge.readers.files import expand
    from dataforge.readers.warc import WarcReader
    from dataforge.spec import InputSpec
    path, split = sys.argv[1], int(sys.argv[2])
    t0 = time.perf_counter()
    spec = InputSpec(format="warc", paths=[path], split_bytes=split)
    reader = WarcReader(spec)
    units = reader.plan(expand([path], WarcReader.extensions))
    plan_s = time.perf_counter() - t0
    docs = bad = html = 0
    for unit in units:
        for batch in reader.read(unit):
            docs += batch.documents.num_rows
            bad += 0 if batch.quarantined is None else batch.quarantined.num_rows
            html += batch.documents.column("html").nbytes
    print(json.dumps({"units": len(units), "docs": docs, "quarantined": bad, "html_bytes": html,
                      "plan_s": plan_s, "seconds": time.perf_counter() - t0}))
''')


def build_warc(path: Path, gb: float, pages_dir: Path) -> Path:
    """Write a gzip WARC of at least ``gb`` GiB from the eval pages (reused if already there)."""
    target = int(gb * 2**30)
    if path.exists() and path.stat().st_size >= target:
        return path
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    pages = [gzip.decompress(p.read_bytes()) for p in sorted(pages_dir.glob("*.html.gz"))]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        i = 0
        while fh.tell() < target:
            url = f"https://site{i % 997}.example/page/{i}"
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(url, "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")))
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(pages[i % len(pages)]),
                                                http_headers=http))
            i += 1
    tmp.rename(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--gb", type=float, nargs="+", default=[0.1, 1.0], help="WARC sizes in GiB")
    ap.add_argument("--split-mb", type=int, default=128, help="input.split_bytes in MiB (the engine default)")
    ap.add_argument("--pipeline", action="store_true", help="also run web-extract (resiliparse) end to end")
    ap.add_argument("--smoke", action="store_true", help="record the figures as a smoke run")
    args = ap.parse_args()
    pages_dir = Path(args.data) / "html_eval" / "pages"
    if not pages_dir.exists():
        sys.exit(f"needs {pages_dir} (the shared development data)")
    WORK.mkdir(parents=True, exist_ok=True)
    script = WORK / "read_all.py"
    script.write_text(READ_ALL)
    rows: list[dict[str, Any]] = []
    for gb in args.gb:
        warc = build_warc(WORK / f"crawl-{gb:g}g.warc.gz", gb, pages_dir)
        size = warc.stat().st_size
        m = run_measured([sys.executable, str(script), str(warc), str(args.split_mb * 2**20)])
        assert m.returncode == 0, m.output
        res = json.loads(m.output.strip().splitlines()[-1])
        rows.append({"what": "WarcReader, all units", "file GiB": round(size / 2**30, 3), "units": res["units"],
                     "documents": res["docs"], "quarantined": res["quarantined"],
                     "seconds": round(res["seconds"], 1), "MB/s (compressed)": round(size / 1e6 / res["seconds"], 1),
                     "plan s": round(res["plan_s"], 2), "peak RSS MiB": round(m.peak_mib)})
        print(json.dumps(rows[-1]), flush=True)
        if args.pipeline:
            run_dir, out = WORK / f"run-warc-{gb:g}g", WORK / f"out-warc-{gb:g}g"
            shutil.rmtree(run_dir, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
            cmd = [sys.executable, "-m", "dataforge", "run", str(ROOT / "pipelines" / "web-extract.yaml"),
                   "--set", f"DATA={warc}", "--set", f"OUT={out}", "--set", "stages.0.params.extractor=resiliparse",
                   "--set", f"input.split_bytes={args.split_mb * 2**20}", "--run-dir", str(run_dir), "--quiet",
                   "--num-cpus", "2"]
            m = run_measured(cmd)
            assert m.returncode == 0, m.output[-3000:]
            s = json.loads((run_dir / "summary.json").read_text())
            rows.append({"what": "web-extract pipeline (resiliparse, Ray, 2 CPUs)", "file GiB": round(size / 2**30, 3),
                         "units": s["shards"], "documents": s["totals"]["kept"],
                         "quarantined": s["totals"]["quarantined"], "seconds": round(m.seconds, 1),
                         "MB/s (compressed)": round(size / 1e6 / m.seconds, 1), "peak RSS MiB": round(m.peak_mib)})
            print(json.dumps(rows[-1]), flush=True)
    cols = ["what", "file GiB", "units", "documents", "quarantined", "seconds", "MB/s (compressed)", "plan s",
            "peak RSS MiB"]
    print(table(rows, cols))
    cmd = (f"python benchmarks/extract_html/warc_memory.py --gb {' '.join(f'{g:g}' for g in args.gb)} "
           f"--split-mb {args.split_mb}" + (" --pipeline" if args.pipeline else "") + (" --smoke" if args.smoke else ""))
    note = ("**Smoke run** on smaller files (2-core machine shared with other jobs); the 1 GiB figure is for the "
            "serial rerun. " if args.smoke else
            "Peak RSS is the measurement here; seconds and MB/s were taken on a 2-core machine shared with other jobs "
            "and are indicative only. ")
    body = (f"Reproduce: `{cmd}` (the WARCs are written under `.bench/extract_html/`).\n\n{note}"
            "Peak RSS is the reading process alone (or, for the pipeline row, the whole process tree: driver, Ray and "
            "its workers). Memory bounded means the peak stays flat as the file grows.\n\n" + table(rows, cols))
    write_section("WARC reader memory" + (" (smoke run)" if args.smoke else ""), body)


if __name__ == "__main__":
    main()

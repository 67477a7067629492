"""Engine overhead: identity pipeline (JSONL -> passthrough_v1 -> Parquet) vs plain pyarrow.

Both sides read the same JSONL and write zstd Parquet. Each side runs as its own process so
its peak memory (whole process tree, Ray workers included) is measured alone; the two run
back to back in the same command, alternating, so machine noise hits both.

    python benchmarks/engine_overhead/bench.py --gb 0.25 1 4 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.memwatch import run_measured  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".bench" / "engine_overhead"

BASELINE = textwrap.dedent('''
    import sys, pyarrow as pa, pyarrow.json as pj, pyarrow.parquet as pq
    src, dst = sys.argv[1], sys.argv[2]
    reader = pj.open_json(src, read_options=pj.ReadOptions(block_size=16 << 20))
    with pq.ParquetWriter(dst, reader.schema, compression="zstd") as w:
        for batch in reader:
            w.write_batch(batch)
''')


def make_corpus(path: Path, gb: float) -> Path:
    """Write >= gb GiB of JSONL built from the sample corpus (real prose from installed docs)."""
    target = int(gb * 2**30)
    if path.exists() and path.stat().st_size >= target:
        return path
    import gzip

    sample = WORK / "sample.jsonl.gz"
    if not sample.exists():
        from dataforge.samples import build_sample_corpus

        build_sample_corpus(sample, docs=3000)
    texts = []
    with gzip.open(sample, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec.get("text"), str):
                texts.append(rec["text"])
    path.parent.mkdir(parents=True, exist_ok=True)
    written, i = 0, 0
    with open(path, "w", encoding="utf-8") as out:
        while written < target:
            t = texts[i % len(texts)]
            line = json.dumps({"id": f"doc-{i:09d}", "text": f"[{i}] {t}", "url": f"https://docs.local/{i}"}) + "\n"
            out.write(line)
            written += len(line.encode())
            i += 1
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, nargs="+", default=[1.0], help="input sizes in GiB")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    rows = []
    for gb in args.gb:
        rows += measure(gb, args.repeat, args.workers)
    out = WORK / "results.json"
    out.write_text(json.dumps(rows, indent=2))
    lines = ["| input | docs | plain pyarrow s (MB/s, peak MiB) | dataforge s end to end (MB/s) | dataforge s in run "
             "| ratio end to end | ratio in run | dataforge peak MiB (whole Ray tree) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['input_mb']:,} MB | {r['docs']:,} | {r['pyarrow_s']} ({r['pyarrow_mb_s']}, {r['pyarrow_peak_mib']}) | "
                     f"{r['dataforge_s']} ({r['dataforge_mb_s']}) | {r['dataforge_in_run_s']} | {r['ratio']}x | "
                     f"{r['ratio_in_run']}x | {r['dataforge_peak_mib']} |")
    (Path(__file__).parent / "RESULTS.md").write_text(
        "# Engine overhead: identity pipeline vs plain pyarrow\n\n"
        f"Reproduce: `python benchmarks/engine_overhead/bench.py --gb {' '.join(f'{g:g}' for g in args.gb)} "
        f"--repeat {args.repeat}`\n\n" + "\n".join(lines) + "\n")
    print(f"results in {out}")


def measure(gb: float, repeat: int, workers: int) -> list[dict]:
    """Baseline and dataforge, alternating, ``repeat`` times on a corpus of ``gb`` GiB."""
    import shutil

    corpus = make_corpus(WORK / f"corpus-{gb:g}g.jsonl", gb)
    size_mb = corpus.stat().st_size / 1e6
    pipeline = WORK / "identity.yaml"
    pipeline.write_text(textwrap.dedent(f"""
        name: identity
        input: {{format: jsonl, paths: ["{corpus}"], id_field: id}}
        output: {{path: "{WORK / 'out-dataforge'}"}}
        stages:
          - stage: passthrough_v1
    """))
    base_script = WORK / "baseline.py"
    base_script.write_text(BASELINE)
    rows = []
    for r in range(repeat):
        shutil.rmtree(WORK / "run", ignore_errors=True)
        shutil.rmtree(WORK / "out-dataforge", ignore_errors=True)
        base = run_measured([sys.executable, str(base_script), str(corpus), str(WORK / "baseline.parquet")])
        assert base.returncode == 0, base.output
        df = run_measured([sys.executable, "-m", "dataforge", "run", str(pipeline), "--run-dir", str(WORK / "run"),
                           "--quiet", "--num-cpus", str(workers)])
        assert df.returncode == 0, df.output
        summary = json.loads((WORK / "run" / "summary.json").read_text())
        rows.append({
            "repeat": r, "input_mb": round(size_mb), "docs": summary["totals"]["input"],
            "pyarrow_s": round(base.seconds, 2), "pyarrow_mb_s": round(size_mb / base.seconds, 1),
            "pyarrow_peak_mib": round(base.peak_mib),
            "dataforge_s": round(df.seconds, 2), "dataforge_mb_s": round(size_mb / df.seconds, 1),
            "dataforge_in_run_s": summary["wall_seconds"],
            "dataforge_peak_mib": round(df.peak_mib),
            "ratio": round(df.seconds / base.seconds, 2),
            "ratio_in_run": round(summary["wall_seconds"] / base.seconds, 2),
            "shards": summary["shards"],
        })
        print(json.dumps(rows[-1]), flush=True)
        (WORK / "baseline.parquet").unlink(missing_ok=True)
    return rows


if __name__ == "__main__":
    main()

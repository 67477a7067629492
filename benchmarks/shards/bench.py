"""End-to-end shard writing: cleaned JSONL -> Qwen tokens -> mixture -> globally shuffled Parquet shards.

    python benchmarks/shards/bench.py --gb 0.25 0.5 1 2 --workers 2          # the figures (run serially)
    python benchmarks/shards/bench.py --gb 0.02 0.05 --shard-mb 8 --smoke    # a smoke run

Input ("cleaned documents"): JSONL of real text, built once per size under .bench/shards/ by
:func:`make_corpus`: the base documents of the MinHash benchmark corpus (1,061 real web pages of
../shared/data/html_eval extracted with trafilatura, and 30 CCNet documents; see
benchmarks/minhash/corpus.py) plus the demo corpus (Python standard-library docstrings and
package descriptions, dataforge.samples), written over and over with a unique id and a
``[copy k]`` prefix until the file reaches the size; each copy's ``source`` is ``web`` or
``docs``, which a URL/source rule turns into a mixture domain.
Pipeline (the ``PIPELINE`` string below): domain_rules_v1 (by source) -> qwen_tokenize_v1 ->
mix_v1 (one mixture, web 70% / docs 30%, budget = 90% of the tokens, so one domain is
down-sampled and the other up-sampled) -> write_shards_v1 (``--shard-mb`` shards, zstd,
global shuffle). Each size runs ``dataforge run`` in a fresh process on an embedded Ray
(``--num-cpus``) with peak RSS of the whole process tree (driver, raylet, workers) sampled
every 0.1 s, and PSS/USS per process, per process role and per segment (benchmarks/memwatch.py). MB/s = input JSONL bytes / wall time of the whole
command (Ray start-up included). Peak memory should stay flat as the input grows: the global
shuffle routes rows to output shards by hash (one input shard in memory at a time), then sorts
and writes one output shard at a time. Appends to benchmarks/shards/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.memwatch import run_measured, stage_peaks  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORK = ROOT / ".bench" / "shards"
PIPELINE = """name: shards-bench
input:
  format: jsonl
  paths: ["${DATA}"]
  split_bytes: "${SPLIT}"
output:
  path: "${OUT}/shards"
stages:
  - stage: domain_rules_v1
    params:
      rules: [{domain: docs, sources: [docs]}]
      fallback: web
  - stage: qwen_tokenize_v1
  - stage: mix_v1
    params:
      mixtures:
        main:
          weights: {web: 0.7, docs: 0.3}
          total_tokens: "${BUDGET}"
          max_repeats: 4
  - stage: write_shards_v1
    params:
      target_shard_mb: "${SHARD_MB}"
"""


def base_texts() -> list[tuple[str, str]]:
    """(source, text) of the real base documents: MinHash base set (web) and the demo corpus (docs)."""
    from benchmarks.minhash.corpus import base_documents

    out = [("web", t) for t in base_documents().column("text").to_pylist()]
    sample = WORK / "sample.jsonl.gz"
    if not sample.exists():
        from dataforge.samples import build_sample_corpus

        build_sample_corpus(sample, docs=3000)
    with gzip.open(sample, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("text"), str) and len(rec["text"]) > 200:
                out.append(("docs", rec["text"]))
    return out


def make_corpus(gb: float) -> Path:
    """At least ``gb`` GiB of JSONL: the base documents repeated with unique ids and a copy prefix."""
    path = WORK / f"corpus_{gb:g}gb.jsonl"
    target = int(gb * 2**30)
    if path.exists() and path.stat().st_size >= target:
        return path
    texts = base_texts()
    tmp = path.with_suffix(".tmp")
    written, i = 0, 0
    with open(tmp, "w", encoding="utf-8") as out:
        while written < target:
            source, text = texts[i % len(texts)]
            line = json.dumps({"id": f"doc-{i:010d}", "text": f"[copy {i // len(texts)}] {text}", "source": source},
                              ensure_ascii=False) + "\n"
            out.write(line)
            written += len(line.encode("utf-8"))
            i += 1
    os.replace(tmp, path)
    return path


def measure(gb: float, workers: int, cpus: int, shard_mb: float, split_mb: float, full: bool = True) -> dict:
    """One end-to-end run at one size: wall, peak RSS, shards written."""
    data = make_corpus(gb)
    size = data.stat().st_size
    budget = int(0.9 * size / 4.0)  # ~4 bytes per token: 90% of the corpus' tokens
    run_dir, out = WORK / f"run-{gb:g}", WORK / f"out-{gb:g}"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    pipe = WORK / "pipeline.yaml"
    pipe.write_text(PIPELINE)
    cmd = [str(ROOT / ".venv" / "bin" / "dataforge"), "run", str(pipe), "--set", f"DATA={data}", "--set", f"OUT={out}",
           "--set", f"SPLIT={int(split_mb * 2**20)}", "--set", f"BUDGET={budget}", "--set", f"SHARD_MB={shard_mb:g}",
           "--set", f"workers={workers}", "--run-dir", str(run_dir), "--num-cpus", str(cpus), "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1")
    m = run_measured(cmd, env=env, full_every=5 if full else 0)
    if m.returncode != 0:
        raise SystemExit(f"run at {gb} GiB failed:\n{m.output[-3000:]}")
    man = json.loads((out / "shards" / "main" / "manifest.json").read_text())
    stages = stage_peaks(m, run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)  # the run directory holds the corpus several times over
    return {"gb": gb, "mb_in": size / 1e6, "seconds": m.seconds, "mb_s": size / 1e6 / m.seconds, "peak_mib": m.peak_mib,
            "peak_pss_mib": m.peak_pss_mib, "peak_uss_mib": m.peak_uss_mib, "per_role": m.per_role, "stages": stages,
            "timeline": m.timeline,
            "shards": len(man["shards"]), "documents": man["documents"], "tokens": man["tokens"],
            "tokens_by_domain": man["tokens_by_domain"]}


def _mib(r: dict, key: str) -> str:
    """A PSS/USS figure, or n/a when the run sampled RSS only."""
    return f"{r[key]:,.0f}" if r["per_role"] else "n/a"


def main() -> None:
    """Measure each size; print the table and append it to RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0], help="input sizes in GiB")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--shard-mb", type=float, default=256.0, help="target shard size")
    ap.add_argument("--split-mb", type=float, default=128.0, help="input shard size (input.split_bytes)")
    ap.add_argument("--rss-only", action="store_true",
                    help="sample RSS only (no PSS/USS per process: reading smaps costs some CPU in timed runs)")
    ap.add_argument("--smoke", action="store_true", help="mark the figures as a smoke run")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    rows = [measure(gb, args.workers, args.num_cpus, args.shard_mb, args.split_mb, not args.rss_only) for gb in args.gb]
    table = ("| input GiB | input MB | wall s | MB/s | peak RSS MiB (process tree) | peak PSS MiB | peak USS MiB | shards | documents | tokens |\n"
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
             + "\n".join(f"| {r['gb']:g} | {r['mb_in']:,.0f} | {r['seconds']:.1f} | {r['mb_s']:.2f} | {r['peak_mib']:,.0f} | "
                         f"{_mib(r, 'peak_pss_mib')} | {_mib(r, 'peak_uss_mib')} | "
                         f"{r['shards']} | {r['documents']:,} | {r['tokens']:,} |" for r in rows))
    for r in (r for r in rows if r["per_role"]):
        table += (f"\n\nPeak per process role at {r['gb']:g} GiB (MiB; the largest single process of each role):\n\n"
                  "| role | RSS | PSS | USS |\n| --- | ---: | ---: | ---: |\n"
                  + "\n".join(f"| {k} | {v['rss']:,.0f} | {v['pss']:,.0f} | {v['uss']:,.0f} |"
                               for k, v in sorted(r["per_role"].items(), key=lambda kv: -kv[1]["pss"])))
        table += (f"\n\nPeak per segment at {r['gb']:g} GiB (MiB, process-tree totals while it ran):\n\n"
                  "| segment | wall s | RSS | PSS | USS | largest role (PSS) |\n| --- | ---: | ---: | ---: | ---: | --- |\n"
                  + "\n".join(f"| {s['stage']} | {s['seconds']:.1f} | {s['peak_rss_mib']:,.0f} | {s['peak_pss_mib']:,.0f} | "
                               f"{s['peak_uss_mib']:,.0f} | {s['largest_role']} ({s['largest_role_pss_mib']:,.0f}) |"
                               for s in r["stages"]))
    print(table)
    command = (f"python benchmarks/shards/bench.py --gb {' '.join(f'{g:g}' for g in args.gb)} --workers {args.workers} "
               f"--num-cpus {args.num_cpus} --shard-mb {args.shard_mb:g} --split-mb {args.split_mb:g}"
               + (" --rss-only" if args.rss_only else "") + (" --smoke" if args.smoke else ""))
    with open(args.out, "a", encoding="utf-8") as fh:
        fh.write(f"\n### {'Smoke run' if args.smoke else 'Run'}\n\n`{command}`\n\n{table}\n")
    (WORK / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

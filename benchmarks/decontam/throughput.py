"""Decontamination speed: documents/s per core against a >= 50,000-item index, index memory, and regeneration time.

1. Index: GSM8K and HumanEval items from ../shared/data, perturbed (numbers changed, names
   swapped, sentences rotated) until there are ``--items`` of them; built once, saved, then
   memory-mapped as a worker does. Reported: build time, array bytes, RSS of a fresh worker
   process after loading it and matching one batch.
2. Matching: extracted html_eval pages and CCNet documents, repeated to ``--docs``, matched in
   batches of 2,048 on one core (decontaminate_v1's apply path: match + drop).
3. Regeneration: a run of the mixture-style pipeline (tokenize -> mix -> write_shards) with
   ``--shards`` token shards, then ``dataforge decontaminate`` with one new benchmark (planted in
   a few documents) against re-running the whole pipeline from scratch.

    python benchmarks/decontam/throughput.py --items 50000 --docs 20000 --shards 1000
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks" / "decontam"))

from dataforge.stages.decontam.benchmarks import BenchmarkSpec  # noqa: E402
from dataforge.stages.decontam.index import IndexConfig, NgramIndex  # noqa: E402
from dataforge.stages.decontam.matching import match_texts  # noqa: E402

NAMES = ["Ava", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jun", "Kofi", "Lena", "Mateo", "Nia"]


def synth_items(n: int, out: Path) -> None:
    """``n`` GSM8K/HumanEval-like records: real items with numbers, names and sentence order perturbed."""
    bench = DATA / "benchmarks"
    gsm = [json.loads(line) for line in (bench / "gsm8k_test.jsonl").read_text().splitlines()]
    he = [json.loads(line) for line in gzip.decompress((bench / "HumanEval.jsonl.gz").read_bytes()).decode().splitlines()]
    base = [r["question"] + "\n" + r["answer"] for r in gsm] + [r["prompt"] + r["canonical_solution"] for r in he]
    rng = random.Random(7)
    with open(out, "w") as fh:
        for i in range(n):
            t = base[i % len(base)]
            t = re.sub(r"\d+", lambda m: str(int(m.group()) * (i % 17 + 2) + i), t)
            t = re.sub(r"\b[A-Z][a-z]+\b", lambda m: rng.choice(NAMES) if rng.random() < 0.3 else m.group(), t)
            parts = t.split(". ")
            k = i % max(1, len(parts))
            fh.write(json.dumps({"text": ". ".join(parts[k:] + parts[:k]), "id": i}) + "\n")


def worker_rss(index_dir: Path, docs_file: Path) -> float:
    """Peak RSS (MB) of a fresh process that memory-maps the index and matches one batch."""
    code = (
        "import sys, json, pyarrow as pa\n"
        "def hwm():\n"
        "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "from dataforge.stages.decontam.index import NgramIndex\n"
        "from dataforge.stages.decontam.matching import match_texts\n"
        "base = hwm()\n"
        f"idx = NgramIndex.load({str(index_dir)!r})\n"
        f"texts = json.load(open({str(docs_file)!r}))\n"
        "match_texts(pa.array(texts, pa.large_string()), idx)\n"
        "print(base / 1024, hwm() / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout.split()
    return float(out[0]), float(out[1])


def regeneration(shards: int, docs_per_shard: int, tmp: Path) -> dict[str, float]:
    """Full pipeline run vs `dataforge decontaminate` with one new benchmark on a run of ``shards`` shards."""
    from accuracy import clean_documents

    from dataforge import spec as spec_mod
    from dataforge.executor import LocalExecutor
    from dataforge.runner import make_plan, run

    clean = clean_documents()
    bench = DATA / "benchmarks"
    he = [json.loads(line) for line in gzip.decompress((bench / "HumanEval.jsonl.gz").read_bytes()).decode().splitlines()]
    n_docs = shards * docs_per_shard
    rows = []
    for i in range(n_docs):
        text = clean[i % len(clean)][1][:3000] + f"\n\n(copy {i})"
        if i % 997 == 0:
            text += "\n\n" + he[i % len(he)]["prompt"]  # a few contaminated documents
        rows.append(json.dumps({"id": f"doc{i}", "text": text}))
    tmp.mkdir(parents=True, exist_ok=True)
    data = tmp / "docs.jsonl"
    data.write_text("\n".join(rows) + "\n")
    avg_bytes = data.stat().st_size / n_docs
    pipe = tmp / "p.yaml"
    pipe.write_text(
        "name: regen\ninput: {format: jsonl, paths: ['${DATA}']}\noutput: {path: '${OUT}/regen'}\nstages:\n"
        "  - stage: domain_rules_v1\n  - stage: qwen_tokenize_v1\n"
        "  - stage: mix_v1\n    params: {mixtures: {general: {weights: {web: 1.0}, total_tokens: 1.0e12, max_repeats: 1}}}\n"
        f"  - stage: write_shards_v1\n    params: {{target_shard_mb: {avg_bytes * docs_per_shard / 3.2 / 1024 / 1024:.6f}}}\n")
    p = spec_mod.load(pipe, sets=[f"DATA={data}", f"OUT={tmp / 'out'}"])
    t0 = time.perf_counter()
    run(make_plan(p, tmp / "run"), LocalExecutor())
    t_full = time.perf_counter() - t0
    from dataforge.stages.decontam.regenerate import regenerate

    t0 = time.perf_counter()
    res = regenerate(tmp / "run", [BenchmarkSpec(name="humaneval", layout="humaneval", path=str(bench / "HumanEval.jsonl.gz"))])
    t_regen = time.perf_counter() - t0
    return {"documents": n_docs, "shards": res.shards_total, "shards_rewritten": len(res.shards_rewritten),
            "full_run_s": t_full, "regeneration_s": t_regen, "ratio": t_regen / t_full}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--shards", type=int, default=1000)
    ap.add_argument("--docs-per-shard", type=int, default=20)
    ap.add_argument("--smoke", action="store_true", help="label the figures as a smoke run")
    ap.add_argument("--write", action="store_true", help="append the results to benchmarks/decontam/RESULTS.md")
    args = ap.parse_args()
    if not DATA.exists():
        print(f"development data {DATA} is absent", file=sys.stderr)
        return 2
    from accuracy import clean_documents

    tmp = Path(tempfile.mkdtemp(prefix="decontam-bench-"))
    try:
        items = tmp / "items.jsonl"
        synth_items(args.items, items)
        t0 = time.perf_counter()
        index = NgramIndex.build([BenchmarkSpec(name="synthetic", path=str(items), fields=["text"], id_field="id")], IndexConfig())
        t_build = time.perf_counter() - t0
        index.save(tmp / "index")
        index = NgramIndex.load(tmp / "index")
        clean = [t for _, t in clean_documents()]
        docs = [clean[i % len(clean)] for i in range(args.docs)]
        sample = tmp / "sample.json"
        sample.write_text(json.dumps(docs[:2048]))
        base_rss, rss = worker_rss(tmp / "index", sample)
        t0 = time.perf_counter()
        found = 0
        for s in range(0, len(docs), 2048):
            found += len(match_texts(pa.array(docs[s:s + 2048], pa.large_string()), index).docs)
        t_match = time.perf_counter() - t0
        chars = sum(len(d) for d in docs)
        reg = regeneration(args.shards, args.docs_per_shard, tmp / "regen")
        label = " (smoke run)" if args.smoke else ""
        lines = [
            f"| index: items | {index.meta['items']:,} |",
            f"| index: n-gram entries | {sum(int(v) for v in index.meta['ngrams'].values()):,} |",
            f"| index: build time (driver, once) | {t_build:.1f} s |",
            f"| index: array bytes (memory-mapped, shared by a node's workers) | {index.nbytes / 1e6:.1f} MB |",
            f"| worker: peak RSS after load + one 2,048-doc batch (Python + pyarrow baseline) | {rss:.0f} MB ({base_rss:.0f} MB) |",
            f"| matching: documents/s on one core (avg {chars / len(docs):,.0f} chars) | {len(docs) / t_match:,.0f} |",
            f"| matching: MB/s on one core | {chars / t_match / 1e6:.2f} |",
            f"| regeneration: documents / shards / shards rewritten | {reg['documents']:,} / {reg['shards']:,} / {reg['shards_rewritten']} |",
            f"| regeneration: full pipeline run | {reg['full_run_s']:.1f} s |",
            f"| regeneration: `dataforge decontaminate` with one new benchmark | {reg['regeneration_s']:.1f} s ({reg['ratio']:.2f}x of the run) |",
        ]
        table = "\n".join(["| measure | value |", "| --- | ---: |", *lines])
        print(table)
        if args.write:
            cmd = (f"python benchmarks/decontam/throughput.py --items {args.items} --docs {args.docs} --shards {args.shards} "
                   f"--docs-per-shard {args.docs_per_shard}" + (" --smoke" if args.smoke else ""))
            with open(Path(__file__).parent / "RESULTS.md", "a") as fh:
                fh.write(f"\n### Throughput{label}\n\n`{cmd}`\n\n{table}\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

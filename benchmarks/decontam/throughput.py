"""Decontamination speed: documents/s per core against a >= 50,000-item index, index memory, and regeneration time.

1. Index: GSM8K and HumanEval items from ../shared/data, perturbed (numbers changed, names
   swapped, sentences rotated) until there are ``--items`` of them; built once, saved, then
   memory-mapped as a worker does. Reported: build time, array bytes, RSS of a fresh worker
   process after loading it and matching one batch.
2. Matching: extracted html_eval pages and CCNet documents, repeated to ``--docs`` (every 97th
   with an index item appended, so ~1% are contaminated), matched in
   batches of 2,048 on one core (decontaminate_v1's apply path: match + drop); the best of
   ``--rounds`` rounds. With ``--baseline-ref REF`` the stages/decontam code of that git commit
   (read with ``git show``, imported under another name, with its own index) is timed in the
   same process, rounds interleaved with the current code's, and its contaminated documents are
   checked to be the same: the ratio is what a shared machine can measure fairly.
3. Regeneration: a run of the mixture-style pipeline (tokenize -> mix -> write_shards) of
   ``--shards`` x ``--docs-per-shard`` documents sized into ~``--shards`` token shards (defaults:
   20,000 documents, ~1,000 shards; every 997th document holds a HumanEval prompt), then
   ``dataforge decontaminate`` with HumanEval as the new benchmark: its time against the time of
   the whole pipeline run, and how many shards it rewrote. ``--shards 0`` skips this part.

    python benchmarks/decontam/throughput.py --items 50000 --docs 20000 --shards 1000 --baseline-ref 4306b3c
    python benchmarks/decontam/throughput.py --items 50000 --docs 2048 --shards 100 --docs-per-shard 5 --smoke  # a smoke run

4306b3c is the commit before matching was vectorised (regex tokeniser, binary search of every n-gram).
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import os
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

SHARD_BYTES_PER_JSONL_BYTE = 1.0
PLANT_EVERY = 97  # every 97th matched document gets an index item appended (the hit path is timed too)
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


def baseline_package(ref: str, tmp: Path) -> str:
    """Import stages/decontam as of git commit ``ref`` under the name ``decontam_<ref>``; returns that name."""
    name = "decontam_" + re.sub(r"\W", "_", ref)
    pkg = tmp / "baseline" / name
    pkg.mkdir(parents=True, exist_ok=True)
    files = subprocess.run(["git", "ls-tree", "--name-only", ref, "stages/decontam/"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split()
    for f in files:
        if f.endswith(".py"):
            src = subprocess.run(["git", "show", f"{ref}:{f}"], cwd=REPO, check=True, capture_output=True, text=True).stdout
            (pkg / Path(f).name).write_text(src.replace("dataforge.stages.decontam.", name + "."))
    sys.path.insert(0, str(pkg.parent))
    return name


def time_matching(impls: dict[str, tuple], docs: list[str], rounds: int
                  ) -> tuple[dict[str, float], dict[str, float], dict[str, set[int]]]:
    """Best-of-``rounds`` wall and CPU seconds to match ``docs`` in batches of 2,048 per implementation, rounds interleaved."""
    wall = {k: float("inf") for k in impls}
    cpu = {k: float("inf") for k in impls}
    found: dict[str, set[int]] = {}
    batches = [pa.array(docs[s:s + 2048], pa.large_string()) for s in range(0, len(docs), 2048)]
    for _ in range(rounds):
        for key, (match, index) in impls.items():
            hit: set[int] = set()
            t0, c0 = time.perf_counter(), time.process_time()
            for b, arr in enumerate(batches):
                hit.update(b * 2048 + r for r in match(arr, index).docs)
            wall[key] = min(wall[key], time.perf_counter() - t0)
            cpu[key] = min(cpu[key], time.process_time() - c0)
            found[key] = hit
    return wall, cpu, found


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
    # write_shards_v1 sizes shards by its own estimate (4 bytes per token plus row overhead), which
    # comes to ~1.0x the JSONL bytes of this text: aim at `shards` partitions of `docs_per_shard` rows
    target_mb = SHARD_BYTES_PER_JSONL_BYTE * data.stat().st_size / shards / 1024 / 1024
    pipe = tmp / "p.yaml"
    pipe.write_text(
        "name: regen\ninput: {format: jsonl, paths: ['${DATA}']}\noutput: {path: '${OUT}/regen'}\nstages:\n"
        "  - stage: domain_rules_v1\n  - stage: qwen_tokenize_v1\n"
        "  - stage: mix_v1\n    params: {mixtures: {general: {weights: {web: 1.0}, total_tokens: 1.0e12, max_repeats: 1}}}\n"
        f"  - stage: write_shards_v1\n    params: {{target_shard_mb: {target_mb:.6f}}}\n")
    p = spec_mod.load(pipe, sets=[f"DATA={data}", f"OUT={tmp / 'out'}"])
    t0 = time.perf_counter()
    run(make_plan(p, tmp / "run"), LocalExecutor())
    t_full = time.perf_counter() - t0
    from dataforge.stages.decontam.regenerate import regenerate

    t0 = time.perf_counter()
    res = regenerate(tmp / "run", [BenchmarkSpec(name="humaneval", layout="humaneval", path=str(bench / "HumanEval.jsonl.gz"))])
    t_regen = time.perf_counter() - t0
    return {"documents": n_docs, "shards": res.shards_total, "shards_rewritten": len(res.shards_rewritten),
            "shards_deleted": len(res.shards_deleted), "documents_matched": res.documents_matched,
            "full_run_s": t_full, "regeneration_s": t_regen, "ratio": t_regen / t_full}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--shards", type=int, default=1000, help="shards of the regeneration run (0: skip it)")
    ap.add_argument("--docs-per-shard", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3, help="matching rounds (the best is reported)")
    ap.add_argument("--baseline-ref", default=None, help="git commit whose stages/decontam is timed beside this one")
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
        item_texts = [json.loads(line)["text"] for line in items.read_text().splitlines()]
        docs = [clean[i % len(clean)] + (f"\n\n{item_texts[i % len(item_texts)]}" if i % PLANT_EVERY == 0 else "")
                for i in range(args.docs)]
        sample = tmp / "sample.json"
        sample.write_text(json.dumps(docs[:2048]))
        base_rss, rss = worker_rss(tmp / "index", sample)
        impls = {"current": (match_texts, index)}
        t_build_old = None
        if args.baseline_ref:
            old = baseline_package(args.baseline_ref, tmp)
            old_bench = importlib.import_module(old + ".benchmarks")
            old_index = importlib.import_module(old + ".index")
            t0 = time.perf_counter()
            oidx = old_index.NgramIndex.build([old_bench.BenchmarkSpec(name="synthetic", path=str(items), fields=["text"],
                                                                       id_field="id")], old_index.IndexConfig())
            t_build_old = time.perf_counter() - t0
            oidx.save(tmp / "index-baseline")
            impls["baseline"] = (importlib.import_module(old + ".matching").match_texts,
                                 old_index.NgramIndex.load(tmp / "index-baseline"))
        load_before = os.getloadavg()[0]
        t_match, c_match, found_by = time_matching(impls, docs, args.rounds)
        load_after = os.getloadavg()[0]
        if "baseline" in found_by and found_by["baseline"] != found_by["current"]:
            print(f"DIFFERENT RESULTS: baseline found {len(found_by['baseline'])} documents, current {len(found_by['current'])}",
                  file=sys.stderr)
            return 1
        chars = sum(len(d) for d in docs)
        mbytes = sum(len(d.encode("utf-8")) for d in docs) / 1e6
        reg = regeneration(args.shards, args.docs_per_shard, tmp / "regen") if args.shards else None
        label = " (smoke run)" if args.smoke else ""
        cur = t_match["current"]
        lines = [
            f"| index: items | {index.meta['items']:,} |",
            f"| index: n-gram entries | {sum(int(v) for v in index.meta['ngrams'].values()):,} |",
            f"| index: build time (driver, once) | {t_build:.1f} s"
            + (f" (baseline {t_build_old:.1f} s)" if t_build_old is not None else "") + " |",
            f"| index: array bytes incl. bit filter (memory-mapped, shared by a node's workers) | {index.nbytes / 1e6:.1f} MB |",
            f"| worker: peak RSS after load + one 2,048-doc batch (Python + pyarrow baseline) | {rss:.0f} MB ({base_rss:.0f} MB) |",
            f"| matching: documents/s on one core (avg {chars / len(docs):,.0f} chars), wall / CPU time | "
            f"{len(docs) / cur:,.0f} / {len(docs) / c_match['current']:,.0f} |",
            f"| matching: MB/s (UTF-8) on one core, wall / CPU time | {mbytes / cur:.2f} / {mbytes / c_match['current']:.2f} |",
        ]
        if "baseline" in t_match:
            base = t_match["baseline"]
            lines += [
                f"| matching, baseline {args.baseline_ref}: documents/s on one core, wall / CPU time | "
                f"{len(docs) / base:,.0f} / {len(docs) / c_match['baseline']:,.0f} |",
                f"| matching, baseline {args.baseline_ref}: MB/s on one core, wall / CPU time | "
                f"{mbytes / base:.2f} / {mbytes / c_match['baseline']:.2f} |",
                f"| matching: speed-up over the baseline, wall / CPU time (same process, interleaved rounds, same "
                f"documents found) | {base / cur:.1f}x / {c_match['baseline'] / c_match['current']:.1f}x |",
            ]
        lines += [
            f"| matching: contaminated documents found | {len(found_by['current'])} |",
            f"| load average (1 min) before / after matching, on {os.cpu_count()} cores | {load_before:.1f} / {load_after:.1f} |",
        ]
        if reg is not None:
            lines += [
                f"| regeneration: documents / shards / contaminated documents / shards rewritten + deleted (emptied) | "
                f"{reg['documents']:,} / {reg['shards']:,} / {reg['documents_matched']} / "
                f"{reg['shards_rewritten']} + {reg['shards_deleted']} |",
                f"| regeneration: full pipeline run | {reg['full_run_s']:.1f} s |",
                f"| regeneration: `dataforge decontaminate` with one new benchmark | {reg['regeneration_s']:.1f} s ({reg['ratio']:.2f}x of the run) |",
            ]
        table = "\n".join(["| measure | value |", "| --- | ---: |", *lines])
        print(table)
        if args.write:
            cmd = (f"python benchmarks/decontam/throughput.py --items {args.items} --docs {args.docs} --shards {args.shards} "
                   f"--docs-per-shard {args.docs_per_shard} --rounds {args.rounds}"
                   + (f" --baseline-ref {args.baseline_ref}" if args.baseline_ref else "") + (" --smoke" if args.smoke else ""))
            with open(Path(__file__).parent / "RESULTS.md", "a") as fh:
                fh.write(f"\n### Throughput{label}\n\n`{cmd}`\n\n{table}\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

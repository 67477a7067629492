"""Fuzzy dedup at scale: wall time and peak memory of minhash_v1 -> minhash_dedup_v1 from 100k to 1M documents.

The corpus is built from real prose (the sample corpus: documentation installed on this
machine), cut into ~2 KB documents with a per-document random word order so documents are
distinct, and with 20% near-duplicates (a copy with ~1% of words replaced). Each size runs
`dataforge run` as its own process on embedded Ray; peak memory is the whole process tree, CPU
seconds are summed over the whole process tree (robust to a shared machine, unlike wall time).
Per-round figures of minhash_dedup_v1 come from the stage's ``rounds.json``.

    python benchmarks/dedup_scale/bench.py --sizes 100000 1000000 --verify exact signature
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.memwatch import run_measured  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".bench" / "dedup_scale"


def vocabulary() -> list[str]:
    """Words of the sample corpus (real prose found on this machine)."""
    sample = WORK / "sample.jsonl.gz"
    if not sample.exists():
        from dataforge.samples import build_sample_corpus

        build_sample_corpus(sample, docs=3000)
    words: list[str] = []
    with gzip.open(sample, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                t = json.loads(line).get("text")
            except json.JSONDecodeError:
                continue
            if isinstance(t, str):
                words += t.split()
    return words


def make_corpus(n: int) -> Path:
    """n documents of ~300 words; 20% of them near-copies of an earlier one."""
    path = WORK / f"docs-{n}.jsonl"
    if path.exists():
        return path
    words = vocabulary()
    rnd = random.Random(n)
    originals: list[str] = []
    with open(path, "w", encoding="utf-8") as out:
        for i in range(n):
            if originals and rnd.random() < 0.2:
                base = rnd.choice(originals).split()
                for _ in range(max(1, len(base) // 100)):
                    base[rnd.randrange(len(base))] = rnd.choice(words)
                text = " ".join(base)
            else:
                start = rnd.randrange(len(words) - 400)
                chunk = words[start:start + 300]
                rnd.shuffle(chunk)
                text = " ".join(chunk)
                if len(originals) < 50_000:
                    originals.append(text)
            out.write(json.dumps({"id": f"d{i:08d}", "text": text}) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 250_000, 1_000_000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--verify", nargs="+", default=["exact"], choices=["exact", "signature", "none"],
                    help="minhash_dedup_v1 verification modes to run at every size")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    rows, rounds = [], {}
    for n in args.sizes:
        corpus = make_corpus(n)
        for verify in args.verify:
            tag = f"{n}-{verify}"
            pipeline = WORK / f"fuzzy-{tag}.yaml"
            pipeline.write_text(textwrap.dedent(f"""
                name: fuzzy-{tag}
                input: {{format: jsonl, paths: ["{corpus}"], id_field: id, split_bytes: 67108864}}
                output: {{path: "{WORK / f'out-{tag}'}"}}
                stages:
                  - stage: minhash_v1
                  - stage: minhash_dedup_v1
                    params: {{threshold: 0.8, verify: {verify}}}
            """))
            run_dir = WORK / f"run-{tag}"
            shutil.rmtree(run_dir, ignore_errors=True)
            shutil.rmtree(WORK / f"out-{tag}", ignore_errors=True)
            m = run_measured([sys.executable, "-m", "dataforge", "run", str(pipeline), "--run-dir", str(run_dir),
                              "--quiet", "--num-cpus", str(args.workers)], interval=0.2)
            assert m.returncode == 0, m.output[-3000:]
            s = json.loads((run_dir / "summary.json").read_text())
            stage_s = {st["stage"]: st["seconds"] for st in s["stages"]}
            rj = next(iter(sorted((run_dir / "stages").glob("*-minhash_dedup_v1/rounds.json"))), None)
            r = json.loads(rj.read_text()) if rj else {"rounds": [], "partitions": None}
            rounds[tag] = r
            cc = [x for x in r["rounds"] if x["method"].endswith("_star")]
            rows.append({"docs": n, "verify": verify, "mb": round(corpus.stat().st_size / 1e6), "shards": s["shards"],
                         "partitions": r["partitions"], "wall_s": round(m.seconds, 1), "in_run_s": s["wall_seconds"],
                         "tree_cpu_s": round(sum(m.cpu_by_role.values()), 1), "peak_mib": round(m.peak_mib),
                         "removed": s["dropped"].get("minhash_dedup_v1.near_duplicate", 0),
                         "read_s": stage_s.get("read"), "signature_s": stage_s.get("minhash_v1"),
                         "dedup_s": stage_s.get("minhash_dedup_v1"), "cc_rounds": len(cc),
                         "round_wall": {x["method"].replace("partition_", "").replace("shard_", "s:") + (
                             f"@{x['output']}" if x["method"].endswith("_star") else ""): x["wall_s"] for x in r["rounds"]},
                         "round_cpu": {x["method"].replace("partition_", "").replace("shard_", "s:") + (
                             f"@{x['output']}" if x["method"].endswith("_star") else ""): x["task_cpu_s"] for x in r["rounds"]}})
            print(json.dumps(rows[-1]), flush=True)
    (WORK / "results.json").write_text(json.dumps({"rows": rows, "rounds": rounds}, indent=2))
    lines = [
        "| docs | verify | MB | shards | partitions | wall s | in run s | tree CPU s | CPU s / 100k docs | peak MiB "
        "| read s | signatures s | dedup s | CC rounds | removed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['docs']:,} | {r['verify']} | {r['mb']} | {r['shards']} | {r['partitions']} | {r['wall_s']} | "
                     f"{r['in_run_s']} | {r['tree_cpu_s']} | {r['tree_cpu_s'] / r['docs'] * 1e5:.1f} | {r['peak_mib']} | "
                     f"{r['read_s']} | {r['signature_s']} | {r['dedup_s']} | {r['cc_rounds']} | {r['removed']:,} |")
    lines += ["", "minhash_dedup_v1 rounds (wall s / summed task CPU s, inputs read before the CPU clock starts):", ""]
    for r in rows:
        lines.append(f"- {r['docs']:,} {r['verify']}: " + ", ".join(f"{k} {v}/{r['round_cpu'][k]}" for k, v in r["round_wall"].items()))
    print("\n" + "\n".join(lines))
    cmd = "python benchmarks/dedup_scale/bench.py " + " ".join(sys.argv[1:])
    results = Path(__file__).parent / "RESULTS.md"
    old = results.read_text() if results.exists() else ""
    notes = old[old.index("\n## Notes"):] if "\n## Notes" in old else ""  # hand-written notes survive reruns
    results.write_text(
        "# Fuzzy dedup at scale\n\nReproduce: `" + cmd + "` (writes this file; corpora and runs under .bench/dedup_scale)."
        "\n\nminhash_v1 -> minhash_dedup_v1 (threshold 0.8) through `dataforge run` on embedded Ray. Wall and in-run "
        "seconds depend on what else the machine runs; tree CPU seconds (all processes of the run, Ray workers included) "
        "are the figure to compare across sizes.\n\n" + "\n".join(lines) + "\n" + notes)


if __name__ == "__main__":
    main()

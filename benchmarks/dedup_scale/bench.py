"""Fuzzy dedup at scale: wall time and peak memory of minhash_v1 -> minhash_dedup_v1 from 100k to 1M documents.

The corpus is built from real prose (the sample corpus: documentation installed on this
machine), cut into ~2 KB documents with a per-document random word order so documents are
distinct, and with 20% near-duplicates (a copy with ~1% of words replaced). Each size runs
`dataforge run` as its own process on embedded Ray; peak memory is the whole process tree.

    python benchmarks/dedup_scale/bench.py --sizes 100000 250000 1000000
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
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.sizes:
        corpus = make_corpus(n)
        pipeline = WORK / f"fuzzy-{n}.yaml"
        pipeline.write_text(textwrap.dedent(f"""
            name: fuzzy-{n}
            input: {{format: jsonl, paths: ["{corpus}"], id_field: id, split_bytes: 67108864}}
            output: {{path: "{WORK / f'out-{n}'}"}}
            stages:
              - stage: minhash_v1
              - stage: minhash_dedup_v1
                params: {{threshold: 0.8}}
        """))
        run_dir = WORK / f"run-{n}"
        shutil.rmtree(run_dir, ignore_errors=True)
        m = run_measured([sys.executable, "-m", "dataforge", "run", str(pipeline), "--run-dir", str(run_dir),
                          "--quiet", "--num-cpus", str(args.workers)])
        assert m.returncode == 0, m.output[-3000:]
        s = json.loads((run_dir / "summary.json").read_text())
        stage_s = {st["stage"]: st["seconds"] for st in s["stages"]}
        rows.append({"docs": n, "mb": round(corpus.stat().st_size / 1e6), "wall_s": round(m.seconds, 1),
                     "in_run_s": s["wall_seconds"], "peak_mib": round(m.peak_mib),
                     "removed": s["dropped"].get("minhash_dedup_v1.near_duplicate", 0),
                     "signature_cpu_s": stage_s.get("minhash_v1"), "shards": s["shards"]})
        print(json.dumps(rows[-1]), flush=True)
    (WORK / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

"""MinHash signatures per core: dataforge's minhash_v1 against datasketch, rensa and datatrove.

    python benchmarks/minhash/bench.py --docs 20000 --repeat 3            # the full figure (run serially)
    python benchmarks/minhash/bench.py --docs 2500 --repeat 2 --smoke     # a smoke run on a subset

The corpus (benchmarks/minhash/corpus.py) is real web text: the 1,031 html_eval pages that
trafilatura extracts plus the 30 CCNet documents of ../shared/data, then perturbed copies of
them up to ``--docs`` documents. Each engine runs alone in its own process (its own venv:
datasketch and dataforge in the project venv, rensa in .bench/rensa-venv, datatrove in
.bench/datatrove-venv), one after the other, single-threaded; the figures are documents/s and
MB/s of UTF-8 text over the signature computation only, best of ``--repeat`` interleaved
rounds (CPU seconds are the per-core figure on a shared machine). Accuracy: mean absolute error of each
engine's Jaccard estimate against the exact Jaccard of its own shingle sets, over the pairs
(original, perturbed copy). Writes benchmarks/minhash/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.minhash.corpus import WORK, base_documents, corpus  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PYTHONS = {
    "dataforge": ROOT / ".venv" / "bin" / "python",
    "dataforge-sha1": ROOT / ".venv" / "bin" / "python",
    "datasketch": ROOT / ".venv" / "bin" / "python",
    "rensa": ROOT / ".bench" / "rensa-venv" / "bin" / "python",
    "datatrove": ROOT / ".bench" / "datatrove-venv" / "bin" / "python",
}


def corpus_jsonl(docs: int) -> Path:
    """The corpus as JSONL (what every engine process reads)."""
    path = WORK / f"corpus_{docs}_0.jsonl"
    if not path.exists():
        t = corpus(docs)
        with open(path, "w", encoding="utf-8") as fh:
            for i, text in zip(t.column("id").to_pylist(), t.column("text").to_pylist()):
                fh.write(json.dumps({"id": i, "text": text}) + "\n")
    return path


def run_engine(engine: str, path: Path, docs: int, stride: int, batch: int) -> dict:
    """One engine in its own process, single-threaded."""
    python = PYTHONS[engine]
    if not python.exists():
        return {"engine": engine, "error": f"{python} is missing (see RESULTS.md for how to create it)"}
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               RAYON_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [str(python), str(HERE / "engines.py"), engine, str(path), "--docs", str(docs),
           "--pairs-stride", str(stride), "--batch", str(batch)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"engine": engine, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run the engines and print/write the results table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--engines", default="dataforge,dataforge-sha1,datasketch,rensa,datatrove")
    ap.add_argument("--repeat", type=int, default=1, help="rounds over all engines; the best time of each is kept")
    ap.add_argument("--smoke", action="store_true", help="mark the figures as a smoke run")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args()
    path = corpus_jsonl(args.docs)
    stride = base_documents().num_rows  # document i and i + stride are an original and its copy
    engines = args.engines.split(",")
    rows = [run_engine(e, path, args.docs, stride, args.batch) for e in engines]
    for _ in range(args.repeat - 1):  # interleaved rounds, so that machine noise hits every engine alike
        for row, e in zip(rows, engines):
            again = run_engine(e, path, args.docs, 0, args.batch)
            for key in ("wall_s", "cpu_s"):
                if key in row and key in again:
                    row[key] = min(row[key], again[key])
    ref = next((r for r in rows if r.get("engine") == "datasketch" and "cpu_s" in r), None)
    lines = ["| engine | docs | MB | wall s | CPU s | docs/s (CPU) | MB/s (CPU) | vs datasketch | Jaccard MAE | max err | pairs |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['engine']} | error: {r['error']} |||||||||")
            continue
        speed = f"{ref['cpu_s'] / r['cpu_s']:.1f}x" if ref else "-"
        lines.append(
            f"| {r['engine']} | {r['docs']} | {r['mb']:.1f} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
            f"{r['docs'] / r['cpu_s']:.0f} | {r['mb'] / r['cpu_s']:.2f} | {speed} | "
            f"{r.get('mae', float('nan')):.4f} | {r.get('max_err', float('nan')):.3f} | {r.get('pairs', 0)} |")
    table = "\n".join(lines)
    print(table)
    command = f"python benchmarks/minhash/bench.py --docs {args.docs} --batch {args.batch} --repeat {args.repeat}" + (
        " --smoke" if args.smoke else "")
    with open(args.out, "a", encoding="utf-8") as fh:
        fh.write(f"\n### {'Smoke run' if args.smoke else 'Run'}: {args.docs} documents\n\n`{command}`\n\n{table}\n")


if __name__ == "__main__":
    main()

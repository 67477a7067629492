"""Qwen tokenization MB/s per core: qwen_tokenize_v1 against a plain tiktoken loop, bpe-qwen and tokenizers.

    python benchmarks/tokenize/bench.py --docs 20000 --repeat 3 --rounds 2 --workers 2   # the full figure (run serially)
    python benchmarks/tokenize/bench.py --docs 2500 --repeat 3 --rounds 2 --smoke          # a smoke run on a subset

Same text for every backend in the same run: the MinHash benchmark corpus (real web pages
from ../shared/data/html_eval extracted with trafilatura, the CCNet documents, and perturbed
copies; see benchmarks/minhash/corpus.py). Each backend runs single-threaded in its own
process (bpe-qwen in .bench/bpe-qwen-venv); the figure is the best of ``--repeat`` passes
in each of ``--rounds`` interleaved rounds.
Engine overhead = dataforge CPU time / tiktoken CPU time - 1 (goal <= 15%). Id-exactness:
documents whose ids differ from tiktoken's (the 46 Qwen2 reference cases pass with tiktoken;
tests/stages/tokenize proves it). ``--workers 2`` also times qwen_tokenize_v1 in two processes
over the two halves at once (scaling). Writes benchmarks/tokenize/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.minhash.bench import corpus_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
VOCAB = ROOT / ".bench" / "tokenize" / "qwen"
PYTHONS = {
    "tiktoken": ROOT / ".venv" / "bin" / "python",
    "dataforge": ROOT / ".venv" / "bin" / "python",
    "tokenizers": ROOT / ".venv" / "bin" / "python",
    "bpe-qwen": ROOT / ".bench" / "bpe-qwen-venv" / "bin" / "python",
}
ENV = dict(os.environ, RAYON_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1",
           PYTHONPATH=str(ROOT))


def vocab_files() -> Path:
    """tokenizer.json, vocab.json and merges.txt converted offline from dashscope's ranks."""
    if not (VOCAB / "merges.txt").exists():
        from dataforge.stages.tokenize.convert import write_qwen_tokenizer_json

        path = write_qwen_tokenizer_json(VOCAB / "tokenizer.json")
        doc = json.loads(path.read_text(encoding="utf-8"))
        (VOCAB / "vocab.json").write_text(json.dumps(doc["model"]["vocab"], ensure_ascii=False), encoding="utf-8")
        (VOCAB / "merges.txt").write_text("#version: 0.2\n" + "\n".join(doc["model"]["merges"]) + "\n", encoding="utf-8")
    return VOCAB


def run(engine: str, path: Path, docs: int, repeat: int) -> dict:
    """One backend in its own process."""
    python = PYTHONS[engine]
    if not python.exists():
        return {"engine": engine, "error": f"{python} is missing"}
    cmd = [str(python), str(HERE / "engines.py"), engine, str(path), "--docs", str(docs),
           "--vocab-dir", str(VOCAB), "--repeat", str(repeat)]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"engine": engine, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def two_workers(path: Path, docs: int, backend: str = "dataforge") -> tuple[float, float]:
    """Encoding wall seconds of a backend (qwen_tokenize_v1, or the plain tiktoken loop) over all documents in one
    process, and over the two halves in two processes started together (set-up excluded: every process waits for
    a common start time)."""
    def launch(lo: int, hi: int, start_at: float) -> subprocess.Popen:
        code = ("import json, time; from benchmarks.tokenize.engines import load, engine;"
                f"t=load('{path}', {hi})[{lo}:{hi}]; p, r=engine('{backend}', None); d=p(t); r(p(t[:8]));"
                f"time.sleep(max(0.0, {start_at} - time.time())); t0=time.perf_counter(); r(d);"
                "print(json.dumps(time.perf_counter() - t0))")
        return subprocess.Popen([str(PYTHONS[backend]), "-c", code], env=ENV, stdout=subprocess.PIPE, text=True)

    results = []
    for parts in ([(0, docs)], [(0, docs // 2), (docs // 2, docs)]):
        start_at = time.time() + 15.0  # room for the processes to load the vocabulary
        procs = [launch(lo, hi, start_at) for lo, hi in parts]
        results.append(max(json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs))
    return results[0], results[1]


def main() -> None:
    """Run the backends and print/write the results table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3, help="passes inside each backend process (best kept)")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds of backend processes (best kept)")
    ap.add_argument("--engines", default="tiktoken,dataforge,tokenizers,bpe-qwen")
    ap.add_argument("--workers", type=int, default=0, help="2: also time two worker processes against one")
    ap.add_argument("--smoke", action="store_true", help="mark the figures as a smoke run")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args()
    path = corpus_jsonl(args.docs)
    vocab_files()
    engines = args.engines.split(",")
    rows = [run(e, path, args.docs, args.repeat) for e in engines]
    for _ in range(args.rounds - 1):  # interleaved rounds, so that machine noise hits every backend alike
        for row, e in zip(rows, engines):
            again = run(e, path, args.docs, args.repeat)
            for key in ("wall_s", "cpu_s"):
                if key in row and key in again:
                    row[key] = min(row[key], again[key])
    ref = next((r for r in rows if r.get("engine") == "tiktoken" and "cpu_s" in r), None)
    lines = ["| backend | docs | MB | tokens | best wall s | best CPU s | MB/s (CPU) | vs tiktoken CPU | docs with ids != tiktoken | 46 reference cases exact |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['engine']} | error: {r['error']} |||||||||")
            continue
        diff = sum(a != b for a, b in zip(r["fingerprints"], ref["fingerprints"])) if ref else "-"
        rel = f"{r['cpu_s'] / ref['cpu_s'] - 1:+.1%}" if ref else "-"
        lines.append(f"| {r['engine']} | {r['docs']} | {r['mb']:.1f} | {r['tokens']} | {r['wall_s']:.2f} | "
                     f"{r['cpu_s']:.2f} | {r['mb'] / r['cpu_s']:.2f} | {rel} | {diff} | {r.get('reference_cases', '-')} |")
    table = "\n".join(lines)
    if args.workers == 2:
        one, two = two_workers(path, args.docs)
        table += (f"\n\nqwen_tokenize_v1 encoding wall time, 1 process: {one:.2f} s; 2 processes on the halves at once: "
                  f"{two:.2f} s (the slower one); speed-up {one / two:.2f}x")
    print(table)
    command = f"python benchmarks/tokenize/bench.py --docs {args.docs} --repeat {args.repeat} --rounds {args.rounds}" + (
        f" --workers {args.workers}" if args.workers else "") + (" --smoke" if args.smoke else "")
    with open(args.out, "a", encoding="utf-8") as fh:
        fh.write(f"\n### {'Smoke run' if args.smoke else 'Run'}: {args.docs} documents\n\n`{command}`\n\n{table}\n")


if __name__ == "__main__":
    main()

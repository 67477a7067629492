"""qwen_tokenize_v1 through the engine on Ray: 2 workers against 1 (goal: >= 1.8x), same shards, same output.

    python benchmarks/tokenize/engine_workers.py --docs 20000 --shards 8 --repeat 2          # the figure (run serially)
    python benchmarks/tokenize/engine_workers.py --docs 2000 --shards 4 --repeat 1 --smoke   # a smoke run

Input: the tokenization benchmark's corpus (the MinHash corpus of real web documents,
``benchmarks/minhash/corpus.py``) as JSONL, cut into ``--shards`` shards by ``input.split_bytes``.
Pipeline: jsonl -> qwen_tokenize_v1 (an actor per worker, vocabulary loaded once per actor) ->
Parquet. Each run is ``dataforge run`` in a fresh process on an embedded Ray with ``--num-cpus 2``
and ``workers`` 1 or 2; the figure is the tokenize segment's wall time from the stage manifest
(reading, tokenizing and writing every shard, actor start-up included; Ray's own start-up
excluded), best of ``--repeat``. Runs alternate 1, 2, 1, 2 so machine noise hits both. The two
outputs are checked byte-identical. Appends to benchmarks/tokenize/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.memwatch import run_measured  # noqa: E402
from benchmarks.minhash.bench import corpus_jsonl  # noqa: E402
from benchmarks.tokenize.bench import two_workers  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORK = ROOT / ".bench" / "tokenize" / "engine"
PIPELINE = """name: tokenize-workers
input: {format: jsonl, paths: ["${DATA}"]}
output: {path: "${OUT}/tokens"}
stages:
  - stage: qwen_tokenize_v1
"""


def run_once(data: Path, workers: int, split_bytes: int, tag: str) -> tuple[float, str, dict[str, float]]:
    """One `dataforge run` with `workers`; (segment wall seconds, digest of the outputs, CPU seconds per process role)."""
    run_dir, out = WORK / f"run-{tag}", WORK / f"out-{tag}"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    pipe = WORK / "pipeline.yaml"
    pipe.write_text(PIPELINE)
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1")
    cmd = [str(ROOT / ".venv" / "bin" / "dataforge"), "run", str(pipe), "--set", f"DATA={data}", "--set", f"OUT={out}",
           "--set", f"input.split_bytes={split_bytes}", "--set", f"workers={workers}", "--run-dir", str(run_dir),
           "--num-cpus", "2", "--quiet"]
    m = run_measured(cmd, env=env)
    if m.returncode != 0:
        raise SystemExit(f"run failed: {m.output[-2000:]}")
    manifest = json.loads(next((run_dir / "stages").glob("01-*/manifest.json")).read_text())
    h = hashlib.sha256()
    for f in sorted((out / "tokens").glob("*.parquet")):
        h.update(f.read_bytes())
    return float(manifest["seconds_wall_last_run"]), h.hexdigest(), m.cpu_by_role


def main() -> None:
    """Time 1 and 2 workers, alternating; print the table and append it to RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--shards", type=int, default=8, help="input shards (split_bytes = file size / shards)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--smoke", action="store_true", help="mark the figures as a smoke run")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    data = corpus_jsonl(args.docs)
    size = data.stat().st_size
    split = max(1 << 16, -(-size // args.shards))
    best: dict[int, float] = {}
    digests: dict[int, str] = {}
    cpu: dict[int, dict[str, float]] = {}
    for _ in range(args.repeat):
        for w in (1, 2):
            secs, digest, roles = run_once(data, w, split, f"w{w}")
            if secs < best.get(w, float("inf")):
                best[w], cpu[w] = secs, roles
            digests[w] = digest
    mb = size / 1e6
    table = ("| workers | shards | input MB | best segment wall s | MB/s | speed-up |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n"
             + "\n".join(f"| {w} | {args.shards} | {mb:.1f} | {best[w]:.2f} | {mb / best[w]:.2f} | {best[1] / best[w]:.2f}x |"
                         for w in (1, 2)))
    names = sorted({r for w in cpu for r in cpu[w]}, key=lambda r: -max(cpu[w].get(r, 0) for w in cpu))
    table += ("\n\nCPU seconds per process role over the whole command (best run of each; Ray start-up included):\n\n"
              "| role | 1 worker | 2 workers |\n| --- | ---: | ---: |\n"
              + "\n".join(f"| {r} | {cpu[1].get(r, 0):.2f} | {cpu[2].get(r, 0):.2f} |" for r in names
                           if max(cpu[1].get(r, 0), cpu[2].get(r, 0)) >= 0.05)
              + f"\n| total | {sum(cpu[1].values()):.2f} | {sum(cpu[2].values()):.2f} |")
    ceil = [two_workers(data, args.docs, "tiktoken") for _ in range(args.repeat)]
    one_t, two_t = min(c[0] for c in ceil), min(c[1] for c in ceil)
    table += (f"\n\nThe machine's ceiling in the same command: a plain tiktoken `encode_ordinary` loop over the same "
              f"texts in memory, 1 process {one_t:.2f} s, the two halves in 2 processes at once {two_t:.2f} s "
              f"(the slower one): **{one_t / two_t:.2f}x**. The engine reaches "
              f"{(best[1] / best[2]) / (one_t / two_t):.0%} of that ceiling.")
    same = digests[1] == digests[2]
    table += f"\n\nOutputs of 1 and 2 workers byte-identical: {'yes' if same else 'NO'}."
    print(table)
    command = (f"python benchmarks/tokenize/engine_workers.py --docs {args.docs} --shards {args.shards} "
               f"--repeat {args.repeat}" + (" --smoke" if args.smoke else ""))
    with open(args.out, "a", encoding="utf-8") as fh:
        fh.write(f"\n### {'Smoke run' if args.smoke else 'Run'}: engine, 2 workers vs 1, {args.docs} documents\n\n"
                 f"`{command}`\n\n{table}\n")
    if not same:
        raise SystemExit("outputs differ between 1 and 2 workers")


if __name__ == "__main__":
    main()

"""Documents per CPU-second of fastText quality scoring: the stage, plain fastText loops, and datatrove.

Four ways to score the same documents with the same model, each in one process on one core:

- ``predict_loop``: DCLM's way, one ``model.predict(" ".join(text.strip().splitlines()), k=-1)`` per document;
- ``predict_batched``: the same strings in one ``model.predict(list, k=-1)`` call (no Arrow, no columns);
- ``fasttext_classify_v1``: the stage on Arrow batches (preprocessing in pyarrow, one batched predict,
  probability columns written), i.e. what a pipeline worker does;
- ``datatrove``: ``FastTextClassifierFilter`` (datatrove 0.10, ``remove_labels=("cc", 2.0)`` so it only annotates,
  ``newline_replacement=" "``)
  over ``Document`` objects, in the benchmark venv ``.bench/datatrove-venv`` with the project's
  fastText module on PYTHONPATH (the venv itself is not modified).

Each method also returns its hq probabilities, and the script checks they agree with the stage's.
Timings are process CPU seconds (``time.process_time``) of the scoring loop only (model loading
excluded), so "docs per CPU-second" is per core. Inputs: a JSONL/Parquet file with ``text``
(default: the sample corpus, written by ``dataforge sample-corpus``).

    .venv/bin/python benchmarks/fasttext_scoring/speed.py --docs 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from results import write_section  # noqa: E402

DATATROVE_PY = REPO / ".bench" / "datatrove-venv" / "bin" / "python"

#: Runs inside the datatrove venv: reads texts (JSON list) and the model path, prints JSON timings.
DATATROVE_SCRIPT = r"""
import json, sys, time
from datatrove.data import Document
from datatrove.pipeline.filters import FastTextClassifierFilter
texts = json.load(open(sys.argv[1]))
f = FastTextClassifierFilter(sys.argv[2], remove_labels=("cc", 2.0), save_labels_in_metadata=True, newline_replacement=" ")  # 2.0: never removes
f.model  # load outside the timed loop
best, scores = None, None
for _ in range(int(sys.argv[3])):
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    t0 = time.process_time()
    for d in docs:
        f.filter(d)
    cpu = time.process_time() - t0
    best = cpu if best is None else min(best, cpu)
    scores = [d.metadata.get("__label__hq") for d in docs]
print(json.dumps({"cpu": best, "hq": scores}))
"""


def load_texts(path: str | None, n: int) -> list[str]:
    """Up to ``n`` non-empty texts from a JSONL/Parquet source (default: a fresh sample corpus)."""
    from dataforge.quality_models.sources import read_source

    if path is None:
        from dataforge.samples import build_sample_corpus

        path = str(Path(tempfile.mkdtemp(prefix="ftbench-")) / "sample.jsonl.gz")
        build_sample_corpus(Path(path))
    table, _ = read_source(path)
    texts = [t for t in table.column("text").to_pylist() if t and t.strip()]
    return texts[:n]


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    """The best process-CPU time of ``repeat`` runs and the last result."""
    best, out = None, None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        cpu = time.process_time() - t0
        best = cpu if best is None else min(best, cpu)
    return float(best), out


def bench(texts: list[str], model_ref: str, repeat: int, batch_size: int, datatrove: bool) -> dict[str, Any]:
    """Time every method; return docs per CPU-second and agreement with the stage."""
    from dataforge.quality_models.manifest import resolve
    from dataforge.quality_models.predict import load_fasttext
    from dataforge.stages.quality.fasttext_classifier import FastTextClassify

    path = model_ref if os.path.exists(model_ref) else str(resolve(model_ref).path)
    model = load_fasttext(path)
    stage = FastTextClassify({"model_path": path})
    stage.ensure_setup()
    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
    batches = [table.slice(i, batch_size) for i in range(0, table.num_rows, batch_size)]

    def loop() -> list[float]:
        """DCLM's way: one predict per document."""
        out = []
        for t in texts:
            labels, probs = model.predict(" ".join(t.strip().splitlines()), k=-1)
            out.append(float(dict(zip(labels, probs))["__label__hq"]))
        return out

    def batched() -> list[float]:
        """One predict over the list of prepared strings."""
        labels, probs = model.predict([" ".join(t.strip().splitlines()) for t in texts], k=-1)
        return [float(dict(zip(a, b))["__label__hq"]) for a, b in zip(labels, probs)]

    def staged() -> list[float]:
        """The stage over Arrow batches."""
        out: list[float] = []
        for b in batches:
            out += stage(b).kept.column("quality_hq").to_pylist()
        return out

    rows: dict[str, Any] = {}
    ref: np.ndarray | None = None
    for name, fn in (("fasttext_classify_v1", staged), ("predict_loop", loop), ("predict_batched", batched)):
        cpu, scores = timed(fn, repeat)
        arr = np.array(scores, dtype=np.float64)
        if ref is None:
            ref = arr
        rows[name] = {"cpu_s": cpu, "docs_per_cpu_s": len(texts) / cpu, "max_abs_diff_vs_stage": float(np.max(np.abs(arr - ref)))}
    if datatrove:
        rows["datatrove"] = run_datatrove(texts, path, repeat, ref)
    return rows


def run_datatrove(texts: list[str], model_path: str, repeat: int, ref: np.ndarray | None) -> dict[str, Any]:
    """datatrove's FastTextClassifierFilter in the benchmark venv, with this project's fastText module."""
    if not DATATROVE_PY.exists():
        return {"skipped": f"{DATATROVE_PY} not found"}
    import fasttext

    site = Path(fasttext.__file__).resolve().parents[1]
    shim = Path(tempfile.mkdtemp(prefix="ftshim-"))
    (shim / "fasttext").symlink_to(site / "fasttext")
    for extra in [*site.glob("fasttext_pybind*.so"), *site.glob("fasttext_numpy2_wheel-*.dist-info")]:
        (shim / extra.name).symlink_to(extra)  # the module, its extension and the metadata datatrove checks
    data = shim / "texts.json"
    data.write_text(json.dumps(texts), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(shim), HF_HOME=str(shim / "hf"), HF_HUB_OFFLINE="1")
    proc = subprocess.run([str(DATATROVE_PY), "-c", DATATROVE_SCRIPT, str(data), model_path, str(repeat)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"skipped": f"datatrove run failed: {proc.stderr.strip().splitlines()[-1:]}"}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    arr = np.array(res["hq"], dtype=np.float64)
    return {"cpu_s": res["cpu"], "docs_per_cpu_s": len(texts) / res["cpu"],
            "max_abs_diff_vs_stage": float(np.max(np.abs(arr - ref))) if ref is not None else None}


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the RESULTS.md section."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", help="JSONL/Parquet documents (default: a fresh `dataforge sample-corpus`)")
    ap.add_argument("--model", default="web-content@1", help="name@version or a model file")
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs")
    ap.add_argument("--batch-size", type=int, default=2048, help="Arrow batch size for the stage (its default)")
    ap.add_argument("--no-datatrove", action="store_true")
    ap.add_argument("--label", default="smoke run", help="how to mark the figures in RESULTS.md")
    ap.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = ap.parse_args(argv)
    texts = load_texts(args.input, args.docs)
    chars = sum(len(t) for t in texts)
    rows = bench(texts, args.model, args.repeat, args.batch_size, not args.no_datatrove)
    cmd = "    .venv/bin/python benchmarks/fasttext_scoring/speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"## Scoring speed ({args.label})", "",
             f"{len(texts):,} documents ({chars / len(texts):,.0f} characters on average), model `{args.model}`, "
             f"best of {args.repeat}, one process; CPU seconds of the scoring loop only.", "",
             "| method | CPU s | docs / CPU-second | vs predict_loop | max abs diff of quality_hq vs the stage |",
             "| --- | ---: | ---: | ---: | ---: |"]
    base = rows["predict_loop"]["docs_per_cpu_s"]
    for name, r in rows.items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} | | | |")
            continue
        lines.append(f"| {name} | {r['cpu_s']:.3f} | {r['docs_per_cpu_s']:,.0f} | {r['docs_per_cpu_s'] / base:.2f}x | "
                     f"{r['max_abs_diff_vs_stage']:.2e} |")
    lines += ["", "Reproduce:", "", cmd]
    print("\n".join(lines))
    if not args.no_write:
        write_section("speed", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Synthetic output goes through the same dedup and decontamination as everything else (issue 8).

A synthetic row that copies a benchmark item is removed: generate_problems_v1 with a model
that regurgitates a GSM8K item, and a `dataforge run --local` of rephrase_v1 (echo engine: its
output repeats the source text, which quotes the item) -> exact_dedup_v1 -> decontaminate_v1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads

from conftest import REPO, make_text, write_jsonl
from dataforge.inference.base import Completion
from dataforge.stages.decontam.stage import Decontaminate
from dataforge.stages.synth.problems import GenerateProblems

FIX = REPO / "tests" / "fixtures" / "decontam"
GSM = [json.loads(line) for line in (FIX / "gsm8k_mini.jsonl").read_text().splitlines()]
BENCH = [{"name": "gsm8k", "layout": "gsm8k", "path": str(FIX / "gsm8k_mini.jsonl")}]


class Regurgitating:
    """A backend double: the answer for each seed id is fixed (one of them a memorised benchmark item)."""

    model_id = "scripted"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def generate(self, prompts: list[Any], params: Any, keys: list[str] | None = None) -> list[list[Completion]]:
        return [[Completion(self.answers[k])] * params.n for k in keys or []]


def seeds() -> pa.Table:
    n = 3
    return pa.table({"id": [f"s{i}" for i in range(n)], "text": [f"Seed problem {i}: add {i} and {i + 1}." for i in range(n)],
                     "source": ["seed"] * n, "url": [None] * n, "domain": [None] * n, "language": ["en"] * n,
                     "metadata": [None] * n})


def test_generated_problem_copying_a_benchmark_item_is_removed() -> None:
    copied = GSM[0]  # the "model" returns GSM8K item 0 word for word as its new problem
    gen = GenerateProblems({"backend": {"engine": "echo"}, "kind": "math", "seed_kind": "problem"})
    gen.ensure_setup()
    gen.backend = Regurgitating({
        "s0": "Problem: A baker fills 12 boxes with 8 rolls each and sells all but 3 boxes. How many rolls are sold?\n"
              "Solution: 12 - 3 = 9 boxes are sold, 9 * 8 = 72 rolls.\nAnswer: 72",
        "s1": f"Problem: {copied['question']}\nSolution: {copied['answer'].split('####')[0].strip()}\nAnswer: 19",
        "s2": "Problem: A train travels 60 km per hour for 3 hours, then 40 km per hour for 2 hours. How far does it go?\n"
              "Solution: 60 * 3 + 40 * 2 = 260.\nAnswer: 260",
    })
    synth = gen(seeds()).kept
    assert synth.column("id").to_pylist() == ["s0/problem/0", "s1/problem/0", "s2/problem/0"]
    assert copied["question"] in synth.column("text")[1].as_py()

    res = Decontaminate({"benchmarks": BENCH, "mode": "drop"})(synth)
    assert res.kept.column("id").to_pylist() == ["s0/problem/0", "s2/problem/0"]
    assert res.dropped.column("id").to_pylist() == ["s1/problem/0"]
    assert res.dropped.column("reason").to_pylist() == ["contaminated"]
    detail = json.loads(res.dropped.column("detail")[0].as_py())
    assert detail["items"] == ["gsm8k/0"] and detail["benchmark"] == "gsm8k"
    # provenance columns pass through decontamination untouched
    assert res.kept.column("source_id").to_pylist() == ["s0", "s2"]
    assert set(res.kept.column("synth_model").to_pylist()) == {"scripted"}

    # cut mode (the default): the copied problem goes, and nothing of 200 characters is left around it
    cut = Decontaminate({"benchmarks": BENCH})(synth)
    assert cut.kept.column("id").to_pylist() == ["s0/problem/0", "s2/problem/0"]
    assert all(copied["question"][:40] not in t for t in cut.kept.column("text").to_pylist())


PIPELINE = """
name: synth-decontam
input: {format: jsonl, paths: ["${DATA}"]}
output: {path: "${OUT}/synth"}
stages:
  - stage: rephrase_v1
    params:
      backend: {engine: echo}
      sampling: {n: 1, max_tokens: 4000, seed: 7}
  - stage: exact_dedup_v1
  - stage: decontaminate_v1
    params:
      mode: drop
      benchmarks:
        - {name: gsm8k, layout: gsm8k, path: "${BENCH}"}
"""


def _rows(folder: Path) -> list[dict[str, Any]]:
    files = sorted(folder.rglob("*.parquet")) if folder.exists() else []
    return [r for f in files for r in pads.dataset(str(f)).to_table().to_pylist()]


def test_synthetic_pipeline_dedups_and_decontaminates(tmp_path: Path) -> None:
    from dataforge.cli import main

    item = GSM[1]
    rows = [
        {"id": "web-clean", "text": make_text(0, 2)},
        # a forum page quoting a GSM8K test problem: its rephrasing repeats the problem
        {"id": "web-quotes-gsm8k", "text": "Can someone help with my homework?\n\n" + item["question"]
         + "\n\nI got 300 but the book says otherwise."},
        {"id": "web-a", "text": make_text(1, 2)},
        {"id": "web-a-copy", "text": make_text(1, 2)},  # identical text: identical rephrasing, one is a duplicate
    ]
    data = write_jsonl(tmp_path / "docs.jsonl", rows)
    pipe = tmp_path / "synth-decontam.yaml"
    pipe.write_text(PIPELINE)
    run_dir = tmp_path / "run"
    rc = main(["run", str(pipe), "--set", f"DATA={data}", "--set", f"OUT={tmp_path / 'out'}",
               "--set", f"BENCH={FIX / 'gsm8k_mini.jsonl'}", "--run-dir", str(run_dir), "--local", "--quiet"])
    assert rc == 0

    stages = {p.name.split("-", 1)[1]: p for p in (run_dir / "stages").iterdir() if p.is_dir()}
    synth = _rows(stages["rephrase_v1"] / "data")
    assert len(synth) == 4 and all(r["id"] == f"{r['source_id']}/rephrase/0" for r in synth)
    # the reader names documents file:record; tell the synthetic rows apart by the source text they repeat
    def made_from(i: int) -> list[str]:
        return sorted(r["id"] for r in synth if " ".join(rows[i]["text"].split()) in r["text"])

    ((clean_id,), (quoting_id,), pair) = made_from(0), made_from(1), made_from(2)
    assert len(pair) == 2 and made_from(3) == pair
    a_id, a_copy_id = pair
    assert item["question"] in next(r["text"] for r in synth if r["id"] == quoting_id)  # the synthetic text repeats it

    dups = _rows(stages["exact_dedup_v1"] / "rejects")
    assert [r["reason"] for r in dups] == ["exact_duplicate"]
    (dup_id,) = [r["id"] for r in dups]
    assert dup_id in {a_id, a_copy_id}
    survivor = ({a_id, a_copy_id} - {dup_id}).pop()

    rejected = _rows(stages["decontaminate_v1"] / "rejects")
    assert [(r["id"], r["reason"]) for r in rejected] == [(quoting_id, "contaminated")]
    assert json.loads(rejected[0]["detail"])["items"] == ["gsm8k/1"]
    kept = _rows(stages["decontaminate_v1"] / "data")
    assert sorted(r["id"] for r in kept) == sorted([clean_id, survivor])
    assert all(r["source"] == "synth" and item["question"] not in r["text"] for r in kept)

"""`dataforge decontaminate`: only shards holding contaminated documents change, manifests record why, reruns are no-ops."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import REPO, docs, write_jsonl
from dataforge import spec as spec_mod
from dataforge.cli import main
from dataforge.executor import LocalExecutor
from dataforge.runner import make_plan, run

FIX = REPO / "tests" / "fixtures" / "decontam"

PIPELINE = """
name: mini-mix
input: {format: jsonl, paths: ["${DATA}"]}
output: {path: "${OUT}/mini"}
stages:
  - stage: domain_rules_v1
  - stage: qwen_tokenize_v1
  - stage: mix_v1
    params:
      mixtures:
        general: {weights: {web: 1.0}, total_tokens: 16000, max_repeats: 1}
  - stage: write_shards_v1
    params: {target_shard_mb: 0.004}
"""


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.parquet"))}


@pytest.fixture()
def finished_run(tmp_path: Path) -> tuple[Path, Path]:
    rows = docs(120)
    question = json.loads((FIX / "gsm8k_mini.jsonl").read_text().splitlines()[1])["question"]
    prompt = json.loads((FIX / "humaneval_mini.jsonl").read_text().splitlines()[0])["prompt"]
    rows[7]["text"] += "\n\nHomework help: " + question
    rows[55]["text"] = prompt.replace("    ", "\t") + "\n" + rows[55]["text"]
    data = write_jsonl(tmp_path / "docs.jsonl", rows)
    (tmp_path / "p.yaml").write_text(PIPELINE)
    p = spec_mod.load(tmp_path / "p.yaml", sets=[f"DATA={data}", f"OUT={tmp_path / 'out'}"])
    run(make_plan(p, tmp_path / "run"), LocalExecutor())
    return tmp_path / "run", tmp_path / "out" / "mini"


def planted_ids(run_dir: Path) -> tuple[str, str]:
    """Ids the reader gave the two planted documents (file:offset)."""
    import pyarrow.dataset as pads

    folder = next((run_dir / "stages").glob("*-write_shards_v1")) / "data"
    rows = pads.dataset(str(folder)).to_table(columns=["id", "text"]).to_pylist()
    gsm = next(r["id"] for r in rows if "Homework help" in r["text"])
    he = next(r["id"] for r in rows if "count_rising_pairs" in r["text"])
    return gsm, he


def test_regeneration_rewrites_only_affected_shards_and_is_idempotent(finished_run: tuple[Path, Path], capsys) -> None:
    run_dir, out = finished_run
    gsm_id, he_id = planted_ids(run_dir)
    before = digest(out)
    assert len(before) >= 8  # many small shards
    man0 = json.loads((out / "general" / "manifest.json").read_text())
    holders = {s["file"] for s in man0["shards"]
               if {gsm_id, he_id} & set(pq.read_table(out / s["file"], columns=["id"]).column("id").to_pylist())}
    assert len(holders) in (1, 2)

    rc = main(["decontaminate", str(run_dir), "--benchmarks", f"gsm8k:{FIX / 'gsm8k_mini.jsonl'}",
               f"humaneval:{FIX / 'humaneval_mini.jsonl'}", "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["changed"] and sorted(res["applied"]) == ["gsm8k", "humaneval"]
    assert res["documents_matched"] == 2 and res["rows_removed"] == 2
    after = digest(out)
    changed = {f for f in before if before[f] != after.get(f)}
    assert changed == holders  # only the shards holding the planted documents
    assert all(before[f] == after[f] for f in before if f not in holders)  # clean shards byte-identical

    man = json.loads((out / "general" / "manifest.json").read_text())
    assert man["documents"] == man0["documents"] - 2
    ids = {i for s in man["shards"] for i in pq.read_table(out / s["file"], columns=["id"]).column("id").to_pylist()}
    assert gsm_id not in ids and he_id not in ids and len(ids) == man0["documents"] - 2
    removed = {r["id"]: r for s in man["shards"] for r in s.get("removed", [])}
    assert removed[gsm_id]["benchmarks"] == ["gsm8k"] and removed[gsm_id]["items"] == ["gsm8k/1"]
    assert removed[he_id]["items"] == ["humaneval/Mini/0"]
    for s in man["shards"]:  # manifest hashes match the files a trainer reads
        assert hashlib.sha256((out / s["file"]).read_bytes()).hexdigest() == s["sha256"]
    assert sum(s["tokens"] for s in man["shards"]) == man["tokens"] == sum(man["tokens_by_domain"].values())
    assert {a["benchmark"] for a in man["decontamination"]["applied"]} == {"gsm8k", "humaneval"}

    summary = json.loads((run_dir / "summary.json").read_text())
    shards_stage = next(s for s in summary["stages"] if s["stage"] == "write_shards_v1")
    assert shards_stage["report"]["shards"]["general"]["documents"] == man["documents"]
    cont = shards_stage["report"]["contamination"]["benchmarks"]
    assert cont["gsm8k"]["documents_affected"] == 1 and cont["humaneval"]["items_found"] == 1
    mix = next(s for s in summary["stages"] if s["stage"] == "mix_v1")["report"]["mixture"]["mixtures"]["general"]
    assert mix["tokens_after"] == man["tokens"]

    # the same benchmarks again: nothing changes, not even the manifest
    snap = {**digest(out), "manifest": (out / "general" / "manifest.json").read_bytes(),
            "summary": (run_dir / "summary.json").read_bytes()}
    rc = main(["decontaminate", str(run_dir), "--benchmarks", f"gsm8k:{FIX / 'gsm8k_mini.jsonl'}",
               f"humaneval:{FIX / 'humaneval_mini.jsonl'}", "--json"])
    res2 = json.loads(capsys.readouterr().out)
    assert rc == 0 and not res2["changed"] and sorted(res2["already_applied"]) == ["gsm8k", "humaneval"]
    assert snap == {**digest(out), "manifest": (out / "general" / "manifest.json").read_bytes(),
                    "summary": (run_dir / "summary.json").read_bytes()}


def test_dry_run_writes_nothing_and_bad_arguments_explain(finished_run: tuple[Path, Path], capsys) -> None:
    run_dir, out = finished_run
    before = digest(out)
    manifest = (out / "general" / "manifest.json").read_bytes()
    assert main(["decontaminate", str(run_dir), "--benchmarks", f"gsm8k:{FIX / 'gsm8k_mini.jsonl'}", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "would rewrite 1 of" in text
    assert digest(out) == before and (out / "general" / "manifest.json").read_bytes() == manifest
    assert main(["decontaminate", str(run_dir), "--benchmarks", "nosuch:x.jsonl"]) == 2
    assert "LAYOUT:PATH" in capsys.readouterr().err
    assert main(["decontaminate", str(run_dir), "--benchmarks", f"gsm8k:{FIX / 'missing.jsonl'}"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["decontaminate", str(run_dir.parent / "nothing"), "--benchmarks", f"gsm8k:{FIX / 'gsm8k_mini.jsonl'}"]) == 2
    assert "summary.json not found" in capsys.readouterr().err


def test_benchmarks_yaml_file(finished_run: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    run_dir, _ = finished_run
    bench = tmp_path / "bench.yaml"
    bench.write_text(f"ngram: auto\nbenchmarks:\n  - {{name: he, layout: humaneval, path: {FIX / 'humaneval_mini.jsonl'}}}\n")
    assert main(["decontaminate", str(run_dir), "--benchmarks", str(bench), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["applied"] == ["he"] and res["documents_matched"] == 1

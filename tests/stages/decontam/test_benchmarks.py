"""Benchmark loaders: layouts, file formats, bad input counted or explained, the index and its n."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO
from dataforge.stages.decontam.benchmarks import BenchmarkError, BenchmarkSpec, load_items
from dataforge.stages.decontam.index import IndexConfig, NgramIndex
from dataforge.stages.decontam.tokens import tokenize

FIX = REPO / "tests" / "fixtures" / "decontam"


def test_gsm8k_answers_lose_calculator_annotations() -> None:
    items, stats = load_items(BenchmarkSpec(name="g", layout="gsm8k", path=str(FIX / "gsm8k_mini.jsonl")))
    assert [i.item_id for i in items] == ["0", "1", "2"] and stats.skipped == {}
    assert "<<" not in items[0].text and "####" not in items[0].text and items[0].text.endswith("\n19")


def test_bad_records_are_skipped_and_counted() -> None:
    items, stats = load_items(BenchmarkSpec(name="b", layout="gsm8k", path=str(FIX / "bad_mini.jsonl")), max_item_chars=1000)
    assert stats.records == 6 and len(items) == 3
    assert stats.skipped == {"bad_utf8": 1, "bad_json": 1, "empty_item": 1, "missing_field": 1, "clipped_long": 1}
    assert max(len(i.text) for i in items) == 1000


def test_errors_name_the_file_and_field(tmp_path) -> None:
    with pytest.raises(BenchmarkError, match="does not exist"):
        load_items(BenchmarkSpec(name="x", layout="gsm8k", path=str(tmp_path / "none.jsonl")))
    with pytest.raises(BenchmarkError, match="field 'canonical_solution' is in no record"):
        load_items(BenchmarkSpec(name="x", layout="humaneval", path=str(FIX / "gsm8k_mini.jsonl"),
                                 fields=["question", "canonical_solution"]))
    with pytest.raises(BenchmarkError, match="none of the fields"):
        load_items(BenchmarkSpec(name="x", layout="humaneval", path=str(FIX / "gsm8k_mini.jsonl")))
    with pytest.raises(ValueError, match="needs 'fields"):
        BenchmarkSpec(name="x", path="a.jsonl")


def test_parquet_mmlu_arc_and_hf_folder(tmp_path) -> None:
    mmlu = pa.table({"question": ["Which gas do plants take in from the air to make sugar in photosynthesis?"],
                     "choices": [["Oxygen", "Carbon dioxide", "Nitrogen", "Helium"]], "answer": [1]})
    pq.write_table(mmlu, tmp_path / "mmlu.parquet")
    items, _ = load_items(BenchmarkSpec(name="m", layout="mmlu", path=str(tmp_path / "mmlu.parquet")))
    assert items[0].text.endswith("Oxygen\nCarbon dioxide\nNitrogen\nHelium")
    arc = pa.table({"id": ["Mercury_1"], "question": ["What causes the seasons on Earth?"],
                    "choices": [{"text": ["The tilt of its axis", "Its distance"], "label": ["A", "B"]}], "answerKey": ["A"]})
    folder = tmp_path / "arc_hf"
    (folder / "test").mkdir(parents=True)
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": ["test"]}))
    with pa.OSFile(str(folder / "test" / "data-00000-of-00001.arrow"), "wb") as sink:  # save_to_disk's stream format
        with pa.ipc.new_stream(sink, arc.schema) as w:
            w.write_table(arc)
    items, stats = load_items(BenchmarkSpec(name="a", layout="arc", path=str(folder), split="test"))
    assert items[0].item_id == "Mercury_1" and items[0].text == "What causes the seasons on Earth?\nThe tilt of its axis\nIts distance"
    with pytest.raises(BenchmarkError, match="splits"):
        load_items(BenchmarkSpec(name="a", layout="arc", path=str(folder), split="train"))


def test_tokens_ignore_layout_and_case() -> None:
    a = tokenize(pa.array(["def f(x):\n    return x + 1", "DEF f( x ):\treturn x+1"]))
    assert np.array_equal(a.hashes[a.offsets[0]:a.offsets[1]], a.hashes[a.offsets[1]:a.offsets[2]])
    text = "Héllo, wörld! 中文"
    t = tokenize(pa.array([text]))
    assert [text[s:e] for s, e in zip(t.starts, t.ends)] == ["Héllo", "wörld", "中", "文"]


def test_auto_ngram_and_short_items() -> None:
    spec = BenchmarkSpec(name="s", fields=["q"], items=[{"q": " ".join(f"word{i}x{k}" for k in range(9))} for i in range(20)])  # 9 tokens each
    idx = NgramIndex.build([spec], IndexConfig(ngram="auto"))
    assert idx.meta["benchmarks"]["s"]["ngram"] == 9  # 5th-percentile length, within 8..13
    idx13 = NgramIndex.build([spec], IndexConfig())
    meta = idx13.meta["benchmarks"]["s"]
    assert meta["ngram"] == 13 and meta["items_whole_item_ngram"] == 20  # shorter than 13: matched as a whole
    assert set(idx13.tables) == {13, 9}

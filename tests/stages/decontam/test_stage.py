"""decontaminate_v1 called directly: drop/cut/annotate, reformatted code, CJK, counts and report."""

from __future__ import annotations

import json

import pyarrow as pa

from conftest import REPO, make_text, table
from dataforge.stages.decontam.stage import Decontaminate

FIX = REPO / "tests" / "fixtures" / "decontam"
GSM = [json.loads(line) for line in (FIX / "gsm8k_mini.jsonl").read_text().splitlines()]
HE = [json.loads(line) for line in (FIX / "humaneval_mini.jsonl").read_text().splitlines()]
BENCH = [{"name": "gsm8k", "layout": "gsm8k", "path": str(FIX / "gsm8k_mini.jsonl")},
         {"name": "humaneval", "layout": "humaneval", "path": str(FIX / "humaneval_mini.jsonl")}]


def batch() -> pa.Table:
    long_a, long_b = make_text(1, 4), make_text(2, 4)
    rows = [
        {"id": "clean", "text": make_text(0), "source": "web"},
        {"id": "gsm_whole", "text": long_a + "\n\n" + GSM[0]["question"] + "\n" + GSM[0]["answer"] + "\n\n" + long_b, "source": "web"},
        {"id": "gsm_question", "text": "Q: " + GSM[1]["question"], "source": "forum"},
        # one number changed: the other 13-grams still match
        {"id": "gsm_changed", "text": GSM[2]["question"].replace("84", "91") + "\n\n" + long_a, "source": "forum"},
        # reformatted code: two-space indents, tabs, other quotes, joined lines
        {"id": "code_reformatted", "text": HE[1]["prompt"].replace("    ", "  ").replace('"""', "'''")
         + HE[1]["canonical_solution"].replace("    ", "\t"), "source": "github"},
        {"id": "near_miss", "text": "Mara bakes lemon tarts for the school fair every year, and her neighbours love them.", "source": "web"},
    ]
    return table(rows).append_column("zz_extra", pa.array([str(i) for i in range(len(rows))]))


def test_drop_mode_rejects_every_planted_copy_with_details() -> None:
    res = Decontaminate({"benchmarks": BENCH, "mode": "drop"})(batch())
    assert res.kept.column("id").to_pylist() == ["clean", "near_miss"]
    assert res.dropped.column("reason").to_pylist() == ["contaminated"] * 4
    details = {i: json.loads(d) for i, d in zip(res.dropped.column("id").to_pylist(), res.dropped.column("detail").to_pylist())}
    assert details["gsm_whole"]["items"] == ["gsm8k/0"] and details["gsm_whole"]["benchmark"] == "gsm8k"
    assert details["gsm_changed"]["items"] == ["gsm8k/2"]
    assert details["code_reformatted"]["items"] == ["humaneval/Mini/1"]
    assert all(d["matched_ngrams"] > 0 and d["longest_span"] > 50 and d["spans"] for d in details.values())
    assert res.kept.column("zz_extra").to_pylist() == ["0", "5"]
    assert res.kept.column("decontam_ngrams").to_pylist() == [0, 0]


def test_cut_mode_keeps_long_documents_without_the_item() -> None:
    res = Decontaminate({"benchmarks": BENCH})(batch())  # cut is the default (GPT-3)
    kept = dict(zip(res.kept.column("id").to_pylist(), res.kept.column("text").to_pylist()))
    assert set(kept) == {"clean", "gsm_whole", "gsm_changed", "near_miss"}
    # copies with no 200 characters of other text around them leave nothing: dropped
    assert sorted(res.dropped.column("id").to_pylist()) == ["code_reformatted", "gsm_question"]
    assert "Theo" not in kept["gsm_changed"] and kept["gsm_changed"].endswith(make_text(1, 4)[-100:])
    assert "lemon tarts" not in kept["gsm_whole"] and "Mara sells" not in kept["gsm_whole"]
    assert kept["gsm_whole"].startswith("Document 1.") and len(kept["gsm_whole"]) > 400
    info = json.loads(res.kept.filter(pa.compute.equal(res.kept.column("id"), "gsm_whole")).column("decontam")[0].as_py())
    assert info["action"] == "cut" and info["pieces"] == 2 and info["removed"]
    assert kept["clean"] == batch().column("text")[0].as_py()


def test_cut_mode_drops_documents_cut_into_too_many_pieces() -> None:
    q = GSM[0]["question"]
    text = ("x " * 300).join([q] * 12)  # 12 copies, 600 chars apart: 13 pieces
    res = Decontaminate({"benchmarks": BENCH, "margin_chars": 10, "min_fragment_chars": 10})(table([{"id": "many", "text": text}]))
    assert res.kept.num_rows == 0
    assert "pieces (more than 10)" in json.loads(res.dropped.column("detail")[0].as_py())["why"]


def test_annotate_mode_keeps_everything() -> None:
    res = Decontaminate({"benchmarks": BENCH, "mode": "annotate"})(batch())
    assert res.kept.num_rows == 6 and res.dropped is None
    flagged = [i for i, d in zip(res.kept.column("id").to_pylist(), res.kept.column("decontam").to_pylist()) if d]
    assert flagged == ["gsm_whole", "gsm_question", "gsm_changed", "code_reformatted"]


def test_cjk_items_match_by_characters() -> None:
    item = "小明有三十六个苹果，他把三分之一送给了同学，又吃了五个。请问小明还剩下多少个苹果？"
    bench = [{"name": "zh", "fields": ["q"], "items": [{"q": item}]}]
    rows = [{"id": "copy", "text": "今天的作业：" + item.replace("，", " , ")}, {"id": "other", "text": "小明今天去公园散步，天气很好，他很开心。"}]
    res = Decontaminate({"benchmarks": bench, "mode": "drop"})(table(rows))
    assert res.kept.column("id").to_pylist() == ["other"] and res.dropped.column("id").to_pylist() == ["copy"]


def test_common_ngrams_shared_by_many_items_are_ignored() -> None:
    shared = "return the number of elements in the given list that satisfy the condition"
    items = [{"q": f"{shared} item {i} " + " ".join(f"w{i}x{k}" for k in range(3))} for i in range(12)]
    bench = [{"name": "many", "fields": ["q"], "items": items}]
    res = Decontaminate({"benchmarks": bench, "mode": "drop"})(table([{"id": "doc", "text": "Docs: " + shared + "."}]))
    assert res.kept.num_rows == 1  # the 13-grams of the shared phrase are in 12 > 10 items


def test_report_counts_per_benchmark(tmp_path) -> None:
    from dataforge.shuffle import InMemoryContext
    from dataforge.stages.decontam.report import stage_report

    st = Decontaminate({"benchmarks": BENCH, "mode": "drop"})
    b = batch()
    ctx = InMemoryContext(st, b, folder=tmp_path)
    st.run_dataset(ctx)
    res = st.apply_batch(b, pa.table({"id": pa.array([], pa.string())}), None, tmp_path)
    import pyarrow.parquet as pq

    (tmp_path / "rejects").mkdir()
    pq.write_table(res.dropped, tmp_path / "rejects" / "part-00000.parquet")
    rep = stage_report(tmp_path)["contamination"]
    assert rep["documents_affected"] == 4
    g, h = rep["benchmarks"]["gsm8k"], rep["benchmarks"]["humaneval"]
    assert (g["items_indexed"], g["items_found"], g["documents_affected"]) == (3, 3, 3)
    assert (h["items_indexed"], h["items_found"], h["documents_affected"]) == (2, 1, 1)
    assert g["by_source"] == {"forum": 2, "web": 1} and h["by_source"] == {"github": 1}
    assert g["examples"][0]["excerpt"]

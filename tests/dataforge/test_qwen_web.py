"""The shipped Qwen-style web pipeline end to end: WARC + PDF inputs to token shards, every document accounted for."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import PARAGRAPHS, REPO

sys.path.append(str(Path(__file__).resolve().parents[1] / "fixtures" / "pdf"))

EXTRA = [
    "Rain fell on the town for three days, and the streets near the harbour filled with water. The fishermen "
    "pulled their boats higher on the sand and waited in the tavern, telling stories about older storms.",
    "The library keeps maps of the region that go back four hundred years. Scholars come from far away to "
    "study how the coastline moved and how the villages grew along the roads that joined them.",
    "Good soup starts with a slow stock. Roast the bones, cover them with cold water, add onions, carrots and "
    "celery, and let the pot simmer for hours before you strain it and season it with care.",
]
QUESTION = ("Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her "
            "friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck "
            "egg. How much in dollars does she make every day at the farmers' market?")


def article(i: int) -> str:
    """A distinct page body of English prose (six different paragraphs drawn from a pool, rotated by i)."""
    pool = PARAGRAPHS + EXTRA
    paras = [pool[(i + k) % len(pool)] for k in range(6)]
    return f"Notes from week {i} of the survey. " + "\n".join(f"<p>{p}</p>" for p in paras)


def build_inputs(root: Path) -> dict[str, int]:
    """WARC pages (with exact and near copies and one page quoting a GSM8K question), PDFs and tiny benchmarks."""
    warcio = pytest.importorskip("warcio")
    pytest.importorskip("pymupdf")
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from make_pdfs import text_pdf

    (root / "warc").mkdir(parents=True)
    (root / "pdf").mkdir()
    (root / "bench").mkdir()
    bodies = [article(i) for i in range(24)]
    bodies += [bodies[0], bodies[1]]  # exact copies
    bodies += [bodies[2].replace("week 2 ", "week two "), bodies[3] + "<p>Updated.</p>"]  # near copies
    pool = PARAGRAPHS + EXTRA
    quoting = "".join(f"<p>{pool[k]}</p>" for k in (0, 2, 4, 6, 8))  # a paragraph mix no other page has
    bodies += [f"Puzzles for the weekend. {quoting}<p>{QUESTION} Work it out step by step, as a teacher would.</p>"]
    with open(root / "warc/crawl.warc.gz", "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for i, body in enumerate(bodies):
            html = f"<!doctype html><html lang='en'><head><title>Survey {i}</title></head><body><article>{body}</article></body></html>"
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            host = "github.com" if i == 5 else f"site{i % 4}.example"
            w.write_record(w.create_warc_record(f"https://{host}/page/{i}", "response",
                                                payload=io.BytesIO(html.encode()), http_headers=http))
    (root / "warc/broken.warc").write_bytes(b"not a web archive at all\n" * 10)
    for i in range(3):
        (root / f"pdf/report{i}.pdf").write_bytes(text_pdf([[pool[(i + k) % len(pool)] for k in range(4)]] * 2,
                                                            title=f"Report {i}"))
    (root / "pdf/damaged.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    (root / "bench/gsm8k_test.jsonl").write_text(json.dumps({"question": QUESTION, "answer": "#### 18"}) + "\n")
    with gzip.open(root / "bench/HumanEval.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"task_id": "HumanEval/0", "prompt": "def add(a, b):\n    \"\"\"Add two numbers a and b and "
                            "return their sum as a new number.\"\"\"\n", "canonical_solution": "    return a + b\n",
                            "test": "assert add(1, 2) == 3", "entry_point": "add"}) + "\n")
    return {"records": len(bodies) + 1 + 4}  # HTML responses + the broken WARC + PDFs


def test_qwen_web_pipeline_end_to_end(tmp_path: Path) -> None:
    """WARC + PDF through extraction, rules, scores, dedup, decontamination, mixing and shards on embedded Ray."""
    pytest.importorskip("trafilatura")
    pytest.importorskip("tiktoken")
    counts = build_inputs(tmp_path / "data")
    r = subprocess.run(
        [sys.executable, "-m", "dataforge", "run", "qwen-web", "--quiet", "--num-cpus", "2",
         "--run-dir", str(tmp_path / "run"), "--set", f"DATA={tmp_path / 'data'}", "--set", f"OUT={tmp_path / 'out'}",
         "--set", f"BENCH={tmp_path / 'data/bench'}",
         "--set", "inputs.0.stages.7.params.threshold=0.0"],  # a toy crawl: keep every page the rules keep
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    s = json.loads((tmp_path / "run/summary.json").read_text())
    t = s["totals"]
    assert t["input"] == counts["records"]
    assert t["balanced"] and all(st["balanced"] for st in s["stages"])
    assert s["quarantined"]["read.not_a_warc_file"] == 1 and s["quarantined"]["pdf_extract_v1.damaged_pdf"] == 1
    assert s["dropped"]["exact_dedup_v1.exact_duplicate"] >= 2  # the two verbatim copies (at least)
    assert s["dropped"]["minhash_dedup_v1.near_duplicate"] >= 2  # the edited copies (and rotated paragraph mixes)
    by_stage = {st["folder"]: st for st in s["stages"]}
    assert by_stage["09-pdf_extract_v1"]["rows_in"] == 4 and by_stage["01-html_extract_v1"]["rows_in"] == 29
    contamination = by_stage["15-decontaminate_v1"]["report"]["contamination"]["benchmarks"]
    assert contamination["gsm8k"]["documents_cut"] == 1 and contamination["humaneval"]["documents_affected"] == 0
    decontaminated = pq.read_table(tmp_path / "run/stages/15-decontaminate_v1/data").column("text").to_pylist()
    assert any("Puzzles for the weekend" in x for x in decontaminated)  # the page was kept, the question cut out
    assert not any("Janet's ducks lay 16 eggs" in x for x in decontaminated)
    # Token shards: readable, every kept document in exactly one row, both inputs present, domains labelled.
    shards = sorted((tmp_path / "out/qwen-web/general").glob("*.parquet"))
    assert shards and (tmp_path / "out/qwen-web/general/manifest.json").exists()
    rows = [r_ for f in shards for r_ in pq.read_table(f).to_pylist()]
    assert len(rows) == t["kept"] and len({r_["id"] for r_ in rows}) == len(rows)
    assert all(r_["tokens"] and len(r_["tokens"]) == r_["n_tokens"] for r_ in rows)
    assert {r_["source"] for r_ in rows} == {"web", "pdf"}
    assert {r_["mix_domain"] for r_ in rows if r_["source"] == "pdf"} == {"knowledge"}
    assert {r_["mix_domain"] for r_ in rows if r_["source"] == "web"} <= {"web", "code"}

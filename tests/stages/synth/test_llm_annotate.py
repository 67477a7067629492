"""llm_annotate_v1 (grading, parsing, sampling, templates) and train_classifier_v1 (train on grades, agreement, scores)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from llm_helpers import ChatServer, FakeBackend, tiny_causal_lm, with_backend  # noqa: F401 - tiny_causal_lm is a fixture

from dataforge.inference.base import Completion
from dataforge.stages.synth.llm_annotate import LlmAnnotate, load_template, parse_score
from dataforge.stages.synth.train_classifier import TrainClassifier, spearman

REPO = Path(__file__).resolve().parents[3]
HTTP = {"engine": "http", "base_url": "http://127.0.0.1:9/v1", "model": "m", "max_retries": 0}
PATTERN = re.compile(LlmAnnotate.Params.model_fields["score_pattern"].default)


@pytest.mark.parametrize("answer,score,reason", [
    ("The extract is a tutorial.\nEducational score: 4", 4.0, None),
    ("Justification...\n**Educational score: 3**", 3.0, None),
    ("Educational score: [2]", 2.0, None),
    ("Educational score: 1 ... wait, re-reading: Educational score: 2", 2.0, None),
    ("Educational score: 4.5", 4.5, None),
    ("Educational score: 7", None, "out_of_range"),
    ("I would give it three points.", None, "unparseable"),
    ("   ", None, "empty_response"),
    (None, None, "empty_response"),
])
def test_parse_score(answer: str | None, score: float | None, reason: str | None) -> None:
    assert parse_score(answer, PATTERN, 0, 5) == (score, reason)


def test_shipped_prompt_is_fineweb_edu_and_checked() -> None:
    tpl = load_template("edu_grade")
    assert tpl.variables == ["text"] and "Educational score: <total points>" in tpl.text
    assert tpl.path == (REPO / "pipelines" / "prompts" / "edu_grade.txt").resolve()


def test_templates_are_checked_at_validation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("Grade {{ body }}")
    with pytest.raises(ValueError, match=r"body"):
        LlmAnnotate(backend=HTTP, template=str(bad))
    none = tmp_path / "none.txt"
    none.write_text("Grade this page {{ url }}")
    with pytest.raises(ValueError, match=r"must contain \{\{ text \}\}"):
        LlmAnnotate(backend=HTTP, template=str(none))
    with pytest.raises(ValueError, match="no such file"):
        LlmAnnotate(backend=HTTP, template="/nonexistent/prompt.txt")
    with pytest.raises(ValueError, match="model path"):
        LlmAnnotate(backend={"engine": "transformers", "model": "/nonexistent/model"})
    ok = tmp_path / "ok.txt"
    ok.write_text("### system\nYou grade pages.\n### user\n{{ url }}: {{ text }} {not a var}")
    fake = FakeBackend(lambda t: "Educational score: 2")
    out = with_backend(LlmAnnotate(backend=HTTP, template=str(ok)), fake)(
        pa.table({"id": ["a"], "text": ["hello"], "url": ["https://u"]})).kept
    assert out.column("edu_score").to_pylist() == [2.0]
    assert fake.prompts[0] == ("<|im_start|>system\nYou grade pages.<|im_end|>\n"
                               "<|im_start|>user\nhttps://u: hello {not a var}<|im_end|>\n<|im_start|>assistant\n")


def _docs(n: int = 40) -> pa.Table:
    edu = "Photosynthesis is how plants turn light, water and carbon dioxide into sugar. Exercise: explain why leaves are green."
    junk = "BUY NOW!!! cheap watches best price click here free shipping limited offer"
    texts = [edu + f" Lesson {i}." if i % 2 == 0 else junk + f" {i}" for i in range(n)]
    if n > 5:
        texts[5] = "   "
    return pa.table({"id": [f"d{i:03d}" for i in range(n)], "text": texts, "url": [f"https://x.org/{i}" for i in range(n)],
                     "extra": list(range(n))})


def _grader(text: str) -> str | Completion:
    if "Lesson 4." in text:
        return Completion.failed("no response within timeout_s=1", "timeout")
    if "Lesson 8." in text:
        return "This is nice. I give it a four."
    if "Photosynthesis" in text:
        return "Clear and on a school topic.\nEducational score: 4"
    return "Advertising only. Educational score: 0"


def test_annotate_with_fake_backend_scores_reasons_and_prompt() -> None:
    fake = FakeBackend(_grader)
    stage = with_backend(LlmAnnotate(backend=HTTP, template=str(REPO / "pipelines/prompts/edu_grade.txt")), fake)
    batch = _docs()
    out = stage(batch).kept
    assert out.num_rows == batch.num_rows and out.column("extra").to_pylist() == list(range(40))
    reasons = Counter(out.column("edu_score_reason").to_pylist())
    assert reasons == {None: 37, "empty_text": 1, "timeout": 1, "unparseable": 1}
    scores = dict(zip(out.column("id").to_pylist(), out.column("edu_score").to_pylist()))
    assert scores["d000"] == 4.0 and scores["d001"] == 0.0 and scores["d004"] is None and scores["d008"] is None
    assert out.column("edu_score_response").to_pylist()[4].startswith("no response")
    # the prompt is the FineWeb-Edu template with the document in it, rendered as a Qwen chat
    assert len(fake.prompts) == 39  # the whitespace-only document was not sent
    assert fake.prompts[0].startswith("<|im_start|>user\nBelow is an extract from a web page.")
    assert "Photosynthesis is how plants" in fake.prompts[0] and fake.keys[0] == "d000"
    assert fake.params[0].temperature == 0.0


def test_sample_is_deterministic_by_seed_and_id() -> None:
    batch = _docs(200)
    a = with_backend(LlmAnnotate(backend=HTTP, fraction=0.25, seed=7), FakeBackend(_grader))(batch).kept
    shuffled = pa.concat_tables([batch.slice(100), batch.slice(0, 100)])
    b = with_backend(LlmAnnotate(backend=HTTP, fraction=0.25, seed=7), FakeBackend(_grader))(shuffled).kept
    sa = {i for i, r in zip(a.column("id").to_pylist(), a.column("edu_score_reason").to_pylist()) if r != "not_sampled"}
    sb = {i for i, r in zip(b.column("id").to_pylist(), b.column("edu_score_reason").to_pylist()) if r != "not_sampled"}
    assert sa == sb and 25 <= len(sa) <= 75  # same rows in any order / batching; about a quarter
    c = with_backend(LlmAnnotate(backend=HTTP, fraction=0.25, seed=8), FakeBackend(_grader))(batch).kept
    sc = {i for i, r in zip(c.column("id").to_pylist(), c.column("edu_score_reason").to_pylist()) if r != "not_sampled"}
    assert sc != sa


def test_unreachable_server_gives_null_scores_not_a_crash() -> None:
    out = LlmAnnotate(backend=HTTP, sampling={"timeout_s": 5})(_docs(3)).kept
    assert out.column("edu_score").null_count == 3
    assert out.column("edu_score_reason").to_pylist() == ["generation_error"] * 3
    assert "127.0.0.1:9" in out.column("edu_score_response").to_pylist()[0]


def test_real_transformers_backend_with_tiny_model(tiny_causal_lm: Path) -> None:
    stage = LlmAnnotate(backend={"engine": "transformers", "model": str(tiny_causal_lm), "device": "cpu"},
                        sampling={"temperature": 0.0, "max_tokens": 8, "seed": 0}, max_chars=200)
    batch = _docs(4)
    out = stage(batch).kept
    assert out.num_rows == 4
    reasons = out.column("edu_score_reason").to_pylist()
    # a random model writes noise: every graded row is recorded as unparseable / empty, none is scored by accident
    assert set(reasons) <= {"unparseable", "empty_response", "out_of_range", None}
    for r, s in zip(reasons, out.column("edu_score").to_pylist()):
        assert (s is None) == (r is not None)
    assert all(isinstance(x, str) for x in out.column("edu_score_response").to_pylist())
    again = LlmAnnotate(stage.params)(batch).kept  # greedy + seeded: the same answers
    assert again.column("edu_score_response").to_pylist() == out.column("edu_score_response").to_pylist()
    assert stage.versions()["model"] == str(tiny_causal_lm)


# -- train_classifier_v1 ---------------------------------------------------------------------------------
EDU_WORDS = "photosynthesis plants light energy cells chlorophyll lesson exercise explain students learn".split()
ADS_WORDS = "buy cheap price offer discount click shipping sale deal watches free".split()


def _graded(n: int = 400, graded_share: float = 0.5) -> pa.Table:
    rng = np.random.default_rng(0)
    ids, texts, grades = [], [], []
    for i in range(n):
        edu = i % 2 == 0
        words = rng.choice(EDU_WORDS if edu else ADS_WORDS, size=30)
        noise = rng.choice(EDU_WORDS + ADS_WORDS, size=5)
        ids.append(f"g{i:04d}")
        texts.append(" ".join([*words, *noise]))
        g = float(rng.integers(3, 6) if edu else rng.integers(0, 3))
        grades.append(g if (i // 2) % int(1 / graded_share) == 0 else None)
    return pa.table({"id": ids, "text": texts, "edu_score": pa.array(grades, pa.float64()), "k": list(range(n))})


def test_train_classifier_learns_the_grades_reports_agreement_and_scores_all_rows(tmp_path: Path) -> None:
    pytest.importorskip("fasttext")
    from dataforge.shuffle import InMemoryContext

    batch = _graded()
    stage = TrainClassifier(min_per_class=10, heldout=0.3, epoch=25, lr=0.5)
    ctx = InMemoryContext(stage, batch, folder=tmp_path)
    stage.run_dataset(ctx)
    report = stage.report(tmp_path)
    assert report["trained"] and report["graded"] == 200 and report["positive"] == 100
    ho = report["heldout"]
    assert ho["documents"] > 30 and ho["accuracy"] >= 0.9 and ho["spearman"] > 0.6 and ho["auc"] > 0.95
    assert Path(report["model"]).is_file() and (tmp_path / "manifest.json").is_file()
    res = stage.apply_batch(batch, None, None, tmp_path)
    kept = res.kept
    assert kept.num_rows == 400 and kept.column("k").to_pylist() == list(range(400))
    hq = np.asarray(kept.column("edu_classifier_hq").to_numpy(zero_copy_only=False))
    edu = np.arange(400) % 2 == 0
    assert hq[edu].mean() > 0.8 and hq[~edu].mean() < 0.2  # ungraded rows are scored too
    # deterministic: the same grades train the same model
    again = TrainClassifier(min_per_class=10, heldout=0.3, epoch=25, lr=0.5)
    again.run_dataset(InMemoryContext(again, batch, folder=tmp_path / "again"))
    assert again.report(tmp_path / "again")["sha256"] == report["sha256"]


def test_train_classifier_too_few_grades() -> None:
    batch = _graded(40, graded_share=0.5).slice(0, 6)
    with pytest.raises(Exception, match="min_per_class"):
        TrainClassifier()(batch)
    out = TrainClassifier(on_too_few="skip")(batch).kept
    assert out.num_rows == 6 and out.column("edu_classifier_hq").null_count == 6


def test_spearman() -> None:
    assert spearman(np.array([1, 2, 3, 4.0]), np.array([10, 20, 30, 40.0])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3, 4.0]), np.array([4, 3, 2, 1.0])) == pytest.approx(-1.0)
    assert spearman(np.array([1, 1, 1.0]), np.array([1, 2, 3.0])) is None


# -- the shipped pipeline end to end: real HTTP backend against a local OpenAI-style grader ---------------
def _grade(messages: list[dict]) -> str:
    """Grades by vocabulary (deterministic): pages about photosynthesis are educational."""
    grade = 4 if "photosynthesis" in messages[-1]["content"] else 1
    return f"Reasoning.\nEducational score: {grade}"


def test_llm_quality_pipeline_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("fasttext")
    import json

    from dataforge.cli import main

    data = tmp_path / "docs.jsonl"
    t = _graded(300)
    with open(data, "w") as fh:
        for i, text in zip(t.column("id").to_pylist(), t.column("text").to_pylist()):
            fh.write(json.dumps({"id": i, "text": text}) + "\n")
    with ChatServer(_grade) as grader:
        rc = main(["run", str(REPO / "pipelines" / "llm-quality.yaml"), "--set", f"DATA={data}",
                   "--set", f"OUT={tmp_path / 'out'}", "--set", f"LLM_URL={grader.url}", "--set", "LLM_MODEL=grader",
                   "--set", "FRACTION=0.5", "--run-dir", str(tmp_path / "run"), "--local"])
    assert rc == 0
    (folder,) = (tmp_path / "run" / "stages").glob("*-train_classifier_v1")
    report = json.loads((folder / "classifier_report.json").read_text())
    assert report["trained"] and 100 < report["graded"] < 200
    assert report["heldout"]["documents"] > 10 and report["heldout"]["spearman"] is not None
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["totals"]["balanced"]
    assert "heldout" in json.dumps(summary)  # the agreement is part of the run summary

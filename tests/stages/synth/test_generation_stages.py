"""rephrase_v1 and generate_problems_v1: rows with provenance, quarantines, templates, tiny models for real."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from dataforge.inference.base import Completion
from dataforge.stages.synth.problems import GenerateProblems, boxed, parse_problem
from dataforge.stages.synth.rephrase import Rephrase
from dataforge.stages.synth.templates import PromptTemplate

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "inference"))
from tiny_models import tiny  # noqa: E402

DOC = "Rivers carry water from the mountains to the sea, shaping valleys over millions of years."


def docs(n: int) -> pa.Table:
    return pa.table({"id": [f"d{i}" for i in range(n)], "text": [f"{DOC} ({i})" for i in range(n)],
                     "source": ["web"] * n, "url": [f"https://ex.org/{i}" for i in range(n)],
                     "domain": ["ex.org"] * n, "language": ["en"] * n, "metadata": [None] * n,
                     "keep_me": list(range(n))})


class Scripted:
    """A backend double answering each prompt (by row id) with scripted completions."""

    model_id = "scripted"

    def __init__(self, answers: dict[str, list[Completion]]) -> None:
        self.answers = answers

    def generate(self, prompts: list[Any], params: Any, keys: list[str] | None = None) -> list[list[Completion]]:
        return [self.answers[k] for k in keys]


def test_rephrase_echo_rows_carry_provenance() -> None:
    st = Rephrase({"backend": {"engine": "echo"}, "sampling": {"n": 2, "seed": 5, "max_tokens": 400}})
    res = st(docs(3))
    t = res.kept
    assert t.column("id").to_pylist() == ["d0/rephrase/0", "d0/rephrase/1", "d1/rephrase/0", "d1/rephrase/1",
                                          "d2/rephrase/0", "d2/rephrase/1"]
    assert res.created == 3 and res.quarantined is None
    assert t.column("source_id").to_pylist() == ["d0", "d0", "d1", "d1", "d2", "d2"]
    assert set(t.column("synth_model").to_pylist()) == {"echo"}
    assert set(t.column("synth_template").to_pylist()) == {"rephrase_textbook"}
    assert t.column("synth_template_sha256")[0].as_py() == PromptTemplate.load("rephrase_textbook").sha256
    assert json.loads(t.column("synth_sampling")[0].as_py())["n"] == 2
    assert t.column("synth_seed")[0].as_py() == t.column("synth_seed")[1].as_py() != t.column("synth_seed")[2].as_py()
    assert t.column("keep_me").to_pylist() == [0, 0, 1, 1, 2, 2]  # extra columns pass through
    assert set(t.column("source").to_pylist()) == {"synth"}
    assert "https://ex.org/0" in t.column("text")[0].as_py()  # the template put url and text in the prompt
    assert t.column("prompt")[0].as_py().startswith("Rewrite the following web text")


def test_rephrase_keep_source_and_quarantine_reasons() -> None:
    st = Rephrase({"backend": {"engine": "echo"}, "keep_source": True, "sampling": {"n": 2}})
    st.ensure_setup()
    st.backend = Scripted({
        "d0": [Completion("Sure, here is the section:\nA fine textbook passage about rivers."), Completion("", error=None)],
        "d1": [Completion.failed("no response within timeout_s=1", "timeout"), Completion("short")],
        "d2": [Completion.failed("HTTP 500"), Completion("Another good passage about water and valleys.")],
    })
    res = st(docs(3))
    kept = res.kept.column("id").to_pylist()
    assert kept == ["d0", "d1", "d2", "d0/rephrase/0", "d2/rephrase/1"]
    assert res.kept.column("text")[3].as_py() == "A fine textbook passage about rivers."  # preamble stripped
    q = res.quarantined.to_pydict()
    assert dict(zip(q["id"], q["reason"])) == {"d0/rephrase/1": "empty_response", "d1/rephrase/0": "generation_timeout",
                                                "d1/rephrase/1": "empty_response", "d2/rephrase/0": "generation_error"}
    assert res.created == 3 * 2  # every sample is a new row (kept or quarantined)


def test_dead_backend_stops_the_run_instead_of_quarantining() -> None:
    from dataforge.stage import StageError

    st = Rephrase({"backend": {"engine": "echo"}})
    st.ensure_setup()
    st.backend = Scripted({f"d{i}": [Completion.failed("ConnectError: refused")] for i in range(4)})
    with pytest.raises(StageError, match="stage or configuration problem") as err:
        st(docs(4))
    assert "ConnectError" in str(err.value.__cause__)


def test_template_errors_at_validation(tmp_path: Path) -> None:
    bad = tmp_path / "t.txt"
    bad.write_text("### user\nSummarise {{ text }} for {{ audience }}.")
    with pytest.raises(ValidationError) as err:
        Rephrase({"template": str(bad)})
    assert "{{ audience }}" in str(err.value) and "params.columns" in str(err.value)
    st = Rephrase({"template": str(bad), "columns": ["audience"], "backend": {"engine": "echo"}})
    t = docs(1).append_column("audience", pa.array(["children"]))
    assert "for children." in st(t).kept.column("text")[0].as_py()
    with pytest.raises(ValidationError, match="no such file"):
        Rephrase({"template": "no_such_template"})
    (tmp_path / "e.txt").write_text("  \n")
    with pytest.raises(ValidationError, match="is empty"):
        Rephrase({"template": str(tmp_path / "e.txt")})


def test_template_system_and_user_sections() -> None:
    msgs = PromptTemplate.load("rephrase_textbook").render({"text": "T", "url": "U"})
    assert [m.role for m in msgs] == ["system", "user"] and msgs[1].content.endswith("Text (U):\nT")


def test_edited_template_changes_config_hash(tmp_path: Path) -> None:
    f = tmp_path / "t.txt"
    f.write_text("Rewrite {{ text }}")
    h1 = Rephrase({"template": str(f)}).config_hash()
    f.write_text("Rewrite nicely {{ text }}")
    assert Rephrase({"template": str(f)}).config_hash() != h1


def test_parse_math_and_code_problems() -> None:
    math_text = ("**Problem:** A train goes 60 km in 1.5 hours. What is its speed?\n"
                 "**Solution:** Speed = 60 / 1.5 = \\boxed{40} km/h.\n")
    f, reason = parse_problem(math_text, "math")
    assert reason is None and f["problem"].startswith("A train") and f["answer"] == "40"
    f, _ = parse_problem("Problem: 1+1?\nSolution: two\nAnswer: $2$.", "math")
    assert f["answer"] == "$2$" and f["text"].endswith("Answer: $2$")
    assert boxed(r"so \boxed{\frac{1}{2}} done") == r"\frac{1}{2}"
    code = "Problem: write add(a, b)\nSolution:\n```python\ndef add(a, b):\n    return a + b\n```\nTests:\n```python\nassert add(1, 2) == 3\n```\n"
    f, _ = parse_problem(code, "code")
    assert f["tests"] == "assert add(1, 2) == 3" and "def add" in f["solution"] and f["answer"] is None
    assert parse_problem("no structure here at all", "math") == (None, "unparseable_response")


def test_generate_problems_rows_and_reasons() -> None:
    st = GenerateProblems({"kind": "math", "sampling": {"n": 2}, "require_answer": True})
    assert st.params.template == "problems_math_from_document"
    st.ensure_setup()
    st.backend = Scripted({
        "d0": [Completion("Problem: 2+3?\nSolution: 2+3=5\nAnswer: 5"), Completion("I cannot do that.")],
        "d1": [Completion("Problem: 7*6?\nSolution: it is 42."), Completion("Problem: 9-4?\nSolution: \\boxed{5}")],
    })
    res = st(docs(2))
    t = res.kept.to_pydict()
    assert t["id"] == ["d0/problem/0", "d1/problem/1"] and t["answer"] == ["5", "5"]
    assert t["problem_kind"] == ["math", "math"] and t["source_id"] == ["d0", "d1"]
    q = res.quarantined.to_pydict()
    assert dict(zip(q["id"], q["reason"])) == {"d0/problem/1": "unparseable_response", "d1/problem/0": "missing_answer"}
    assert GenerateProblems({"kind": "code", "seed_kind": "problem"}).params.template == "problems_code_from_problem"


def test_stage_pickles_without_its_backend() -> None:
    st = Rephrase({"backend": {"engine": "echo"}})
    st.ensure_setup()
    clone = pickle.loads(pickle.dumps(st))
    assert not clone._ready and clone.config_hash() == st.config_hash()


def test_rephrase_with_tiny_qwen_is_reproducible(tmp_path_factory: pytest.TempPathFactory) -> None:
    model = str(tiny(tmp_path_factory))
    params = {"backend": {"engine": "transformers", "model": model, "device": "cpu"}, "min_chars": 1,
              "sampling": {"n": 2, "max_tokens": 8, "seed": 11, "temperature": 1.0, "top_p": 1.0}}
    a = Rephrase(params)(docs(2))
    b = Rephrase(params)(docs(2).slice(1, 1))  # another batch composition
    assert a.kept.num_rows + (a.quarantined.num_rows if a.quarantined else 0) == 4
    assert set(a.kept.column("synth_model").to_pylist()) == {model}
    rows_a = {r["id"]: r["text"] for r in a.kept.to_pylist()}
    rows_b = {r["id"]: r["text"] for r in b.kept.to_pylist()}
    assert rows_b and all(rows_a[k] == v for k, v in rows_b.items())


def test_generate_problems_with_tiny_qwen_quarantines_noise(tmp_path_factory: pytest.TempPathFactory) -> None:
    st = GenerateProblems({"backend": {"engine": "transformers", "model": str(tiny(tmp_path_factory))},
                           "sampling": {"max_tokens": 6, "seed": 1}})
    res = st(docs(2))
    # a random model writes no "Problem:" section: both samples are quarantined, none invented
    assert res.kept.num_rows == 0 and sorted(res.quarantined.column("reason").to_pylist()) == ["unparseable_response"] * 2

"""Generate math or code problems, with solutions and reference answers, from seed documents or problems."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import Field, model_validator

from dataforge.stages.synth.generation import SynthParams, SynthStage

SECTION = re.compile(r"^\s*(?:\*\*|#+\s*)?(problem|question|solution|answer|final answer|tests?)\s*(?:\*\*)?\s*:?\s*(?:\*\*)?",
                     re.IGNORECASE | re.MULTILINE)
BOXED = re.compile(r"\\boxed\{")
FENCE = re.compile(r"```(?:[A-Za-z0-9_+-]*)\n(.*?)```", re.DOTALL)


def boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (balanced braces), or None."""
    starts = [m.end() for m in BOXED.finditer(text)]
    if not starts:
        return None
    i = starts[-1]
    depth, j = 1, i
    while j < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    return text[i:j - 1].strip() if depth == 0 else None


def sections(text: str) -> dict[str, str]:
    """Split a response on ``Problem:``/``Solution:``/``Answer:``/``Tests:`` headings (markdown bold or # allowed)."""
    marks = list(SECTION.finditer(text))
    out: dict[str, str] = {}
    for k, m in enumerate(marks):
        key = m.group(1).lower()
        key = {"question": "problem", "final answer": "answer", "test": "tests"}.get(key, key)
        end = marks[k + 1].start() if k + 1 < len(marks) else len(text)
        out.setdefault(key, text[m.end():end].strip())
    return out


def parse_problem(text: str, kind: str) -> tuple[dict[str, Any] | None, str | None]:
    """Fields of one generated problem, or (None, ``unparseable_response``)."""
    s = sections(text)
    problem = s.get("problem", "").strip()
    solution = s.get("solution", "").strip()
    if not problem:
        return None, "unparseable_response"
    answer: str | None = None
    tests: str | None = None
    if kind == "math":
        answer = (s.get("answer") or "").strip() or boxed(solution) or None
        if answer:
            answer = boxed(answer) or answer.strip().rstrip(".")
    else:
        t = s.get("tests")
        if t:
            fenced = FENCE.findall(t)
            tests = (fenced[0] if fenced else t).strip() or None
    text_out = f"Problem: {problem}"
    if solution:
        text_out += f"\n\nSolution: {solution}"
    if answer and kind == "math" and "answer" in s:
        text_out += f"\n\nAnswer: {answer}"
    return {"text": text_out, "problem": problem, "solution": solution or None, "answer": answer, "tests": tests,
            "problem_kind": kind}, None


class ProblemParams(SynthParams):
    """Problem kind and seed kind choose the default template (problems_<kind>_from_<seed_kind>)."""

    kind: Literal["math", "code"] = "math"
    seed_kind: Literal["document", "problem"] = Field("document", description="seed rows are documents or problems")
    template: str = Field("", description="default: problems_<kind>_from_<seed_kind>")
    require_answer: bool = Field(False, description="quarantine problems without a reference answer (math) or tests (code)")

    stage_variables: ClassVar[tuple[str, ...]] = ("kind",)

    @model_validator(mode="before")
    @classmethod
    def _default_template(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("template"):
            data = dict(data)
            data["template"] = f"problems_{data.get('kind', 'math')}_from_{data.get('seed_kind', 'document')}"
        return data


class GenerateProblems(SynthStage):
    """Generate math or code problems with solutions and reference answers, one per sample (Qwen2-Math style).

    The response is parsed into ``problem``, ``solution``, ``answer`` (math: the ``Answer:``
    section or the last ``\\boxed{}``) and ``tests`` (code: the ``Tests:`` section's code),
    plus ``problem_kind``; ``text`` is problem and solution together, for pre-training. Ids are
    ``<seed id>/problem/<sample>``; provenance columns as every synthetic row. Quarantine
    reasons: ``unparseable_response`` (no ``Problem:`` section), ``missing_answer`` (with
    ``require_answer``), ``empty_response``, ``generation_timeout``, ``generation_error``.
    """

    name = "generate_problems_v1"
    Params = ProblemParams
    label = "problem"
    example = {"backend": {"engine": "echo"}, "kind": "math", "sampling": {"max_tokens": 256}}

    def variables(self, batch: pa.Table) -> dict[str, list[Any]]:
        """``kind`` for every row."""
        p: ProblemParams = self.params  # type: ignore[assignment]
        return {"kind": [p.kind] * batch.num_rows}

    def extra_columns(self) -> dict[str, pa.DataType]:
        """problem, solution, answer, tests, problem_kind."""
        return {"problem": pa.string(), "solution": pa.string(), "answer": pa.string(), "tests": pa.string(),
                "problem_kind": pa.string()}

    def parse(self, text: str) -> tuple[dict[str, Any] | None, str | None]:
        """Parse the sections; optionally insist on a reference answer or tests."""
        p: ProblemParams = self.params  # type: ignore[assignment]
        fields, reason = parse_problem(text, p.kind)
        if fields is not None and p.require_answer and not (fields["answer"] or fields["tests"]):
            return None, "missing_answer"
        return fields, reason

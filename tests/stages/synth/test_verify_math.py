"""verify_math_v1: answer extraction, numeric / LaTeX / symbolic comparison, drop reasons."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from dataforge.stages.synth.verify_math import VerifyMath, answers_match, extract_answer, normalize_latex, parse_number

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.mark.parametrize("text,expected", [
    ("Natalia sold 48 clips in April.\n#### 72", "72"),
    ("So the total is $\\boxed{\\frac{3}{4}}$.", "\\frac{3}{4}"),
    ("First \\boxed{1}, corrected: \\boxed{\\sqrt{2}+1}", "\\sqrt{2}+1"),
    ("Nested \\boxed{\\frac{1}{\\sqrt{2}}} here", "\\frac{1}{\\sqrt{2}}"),
    ("Adding them up, the answer is 1,250.", "1,250"),
    ("The final answer is: $18", "$18"),
    ("Answer: (B)", "(B)"),
    ("I am not sure what to do here.", None),
    ("", None),
    (None, None),
])
def test_extract_answer(text: str | None, expected: str | None) -> None:
    assert extract_answer(text) == expected


def test_last_number_fallback_only_when_asked() -> None:
    assert extract_answer("She has 3 apples and buys 4 more, 7 in all") is None
    assert extract_answer("She has 3 apples and buys 4 more, 7 in all", last_number=True) == "7"


@pytest.mark.parametrize("pred,ref", [
    ("1,000", "1000"), ("$18", "18"), ("18.00", "18"), ("\\dfrac{1}{2}", "0.5"), ("1/2", "\\frac{1}{2}"),
    ("\\frac12", "0.5"), ("50\\%", "0.5"), ("50%", "50"), ("12 cm", "12"), ("90^\\circ", "90"),
    ("1 1/2", "1.5"), ("-3.50", "-7/2"), ("x = 5", "5"), ("\\text{5 dollars}", "5"),
    ("\\left(\\frac{3}{4}\\right)", "3/4"), ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}"),
    ("2\\sqrt{3}", "\\sqrt{12}"), ("2x+2", "2(x+1)"), ("x^2 + 2x + 1", "(x+1)^2"), ("3\\pi", "3 \\pi"),
    ("(1, 2)", "(1,2)"), ("\\text{(B)}", "(B)"), ("1.0000001", "1"),
])
def test_equivalent_answers(pred: str, ref: str) -> None:
    assert answers_match(pred, ref).correct, (pred, ref)


@pytest.mark.parametrize("pred,ref", [
    ("71", "72"), ("1,001", "1000"), ("\\frac{1}{3}", "0.33"), ("2x+1", "2(x+1)"), ("(1, 3)", "(1,2)"),
    ("(A)", "(B)"), ("1 2", "12"), ("\\sqrt{3}", "3"),
])
def test_different_answers(pred: str, ref: str) -> None:
    assert not answers_match(pred, ref).correct, (pred, ref)


def test_without_sympy_expressions_fall_back_to_text() -> None:
    assert not answers_match("2x+2", "2(x+1)", use_sympy=False).correct
    assert answers_match("1/2", "0.5", use_sympy=False).correct


def test_normalize_and_parse() -> None:
    assert normalize_latex("$\\left( x \\right)$.") == "( x )"
    assert parse_number("\\$1,234.50") == (pytest.approx(1234.5), False)
    assert parse_number("25\\%")[1] is True
    assert parse_number("abc") is None
    assert parse_number("1/0") is None


def _batch() -> pa.Table:
    rows = [
        ("a", "48/2 = 24 clips in May. 48 + 24 = 72.\n#### 72", "#### 72"),          # GSM8K style, correct
        ("b", "so she earns 0.2 * 50 = $10.\n#### 10", "10"),                        # correct
        ("c", "The answer is 71.", "72"),                                            # wrong
        ("d", "Thus $x = \\boxed{\\dfrac{\\sqrt{2}}{2}}$.", "\\frac{1}{\\sqrt{2}}"),     # sympy
        ("e", "I think the problem is ambiguous.", "5"),                             # no answer
        ("f", "\\boxed{5}", None),                                                   # no reference
        ("g", "The answer is 50%.", "\\boxed{0.5}"),                                 # percent vs decimal
        ("h", "Therefore the answer is \\boxed{(2, 3)}.", "(3, 2)"),                 # wrong tuple order
    ]
    return pa.table({"id": [r[0] for r in rows], "text": ["problem"] * len(rows),
                     "response": [r[1] for r in rows], "reference_answer": [r[2] for r in rows],
                     "extra": list(range(len(rows)))})


def test_stage_keeps_correct_and_counts_reasons() -> None:
    res = VerifyMath()(_batch())
    assert res.kept.column("id").to_pylist() == ["a", "b", "d", "g"]
    assert res.kept.column("math_correct").to_pylist() == [True] * 4
    assert res.kept.column("math_method").to_pylist() == ["numeric", "numeric", "sympy", "numeric"]
    assert res.kept.column("extra").to_pylist() == [0, 1, 3, 6]
    reasons = Counter(res.dropped.column("reason").to_pylist())
    assert reasons == {"wrong_answer": 2, "no_answer": 1, "no_reference": 1}
    det = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("detail").to_pylist()))
    assert "71" in det["c"] and "72" in det["c"]


def test_stage_custom_columns_and_empty_batch() -> None:
    stage = VerifyMath(response_column="solution", reference_column="gold", prefix="v_")
    t = pa.table({"id": ["x"], "solution": ["#### 3"], "gold": ["3"]})
    res = stage(t)
    assert res.kept.column("v_answer").to_pylist() == ["3"]
    empty = stage(t.slice(0, 0))
    assert empty.kept.num_rows == 0 and "v_correct" in empty.kept.column_names


def test_missing_column_is_a_clear_error() -> None:
    t = pa.table({"id": [f"r{i}" for i in range(4)], "response": ["#### 1"] * 4})
    with pytest.raises(Exception, match="reference_answer"):
        VerifyMath()(t)


@pytest.mark.skipif(not (SHARED / "benchmarks").is_dir(), reason="../shared/data/benchmarks (GSM8K) is absent")
def test_gsm8k_reference_solutions_verify_against_themselves() -> None:
    files = sorted((SHARED / "benchmarks").rglob("*gsm8k*test*.jsonl*")) or sorted((SHARED / "benchmarks").rglob("*test*.jsonl"))
    path = next((f for f in files if "gsm" in str(f).lower()), None)
    if path is None:
        pytest.skip("no GSM8K test file under ../shared/data/benchmarks")
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()][:300]
    ids = [str(i) for i in range(len(rows))]
    solutions = [r["answer"] for r in rows]
    finals = [r["answer"].rsplit("####", 1)[1].strip() for r in rows]
    t = pa.table({"id": ids, "response": solutions, "reference_answer": finals})
    assert VerifyMath()(t).kept.num_rows == len(rows)
    shifted = pa.table({"id": ids, "response": solutions, "reference_answer": finals[1:] + finals[:1]})
    res = VerifyMath()(shifted)
    same = sum(a == b for a, b in zip(finals, finals[1:] + finals[:1]))
    assert res.kept.num_rows == same

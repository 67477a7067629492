"""Check model answers to math problems against reference answers (numeric, LaTeX-normalised, symbolic)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pyarrow as pa
from pydantic import Field

from dataforge.schema import with_columns
from dataforge.stage import Filter, StageParams

# -- extracting the final answer -------------------------------------------------------------------
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_HASHES = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)
_ANSWER_IS = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\s*(?:is|=|:)\s*:?\s*(.+?)(?:\s*(?:\n|$)|\.\s|\.$)",
    re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")


def _balanced(text: str, open_at: int) -> str | None:
    """The contents of the brace group whose ``{`` is at ``open_at`` (None when unbalanced)."""
    depth = 0
    for i in range(open_at, len(text)):
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1:i]
    return None


def extract_answer(text: str | None, last_number: bool = False) -> str | None:
    """The final answer a solution states: last ``\\boxed{}``, else ``#### x``, else "the answer is x".

    With ``last_number``, a solution that states none of these gives its last number.
    """
    if not text:
        return None
    boxed = [m for m in _BOXED.finditer(text)]
    for m in reversed(boxed):
        inner = _balanced(text, m.end() - 1)
        if inner is not None and inner.strip():
            return inner.strip()
    hashes = _HASHES.findall(text)
    if hashes:
        return hashes[-1].strip()
    said = _ANSWER_IS.findall(text)
    if said:
        ans = said[-1].strip().rstrip(".").strip()
        if ans:
            return ans
    if last_number:
        nums = _NUMBER.findall(text)
        if nums:
            return nums[-1]
    return None


# -- normalising -----------------------------------------------------------------------------------
_TEXT_CMDS = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_SPACING = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~")
_UNIT_WORDS = re.compile(r"^(-?[\d.,/]+)\s*(?:[a-zA-Z][a-zA-Z .²³/^-]*)$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_CURRENCY = re.compile(r"^(-?)(?:\\\$|\$|£|€|¥|usd|rs\.?)\s*", re.IGNORECASE)


def normalize_latex(ans: str) -> str:
    """A canonical spelling of an answer: math delimiters, \\text{}, \\left/\\right, spacing, \\dfrac unified."""
    s = ans.strip().rstrip(".").strip()
    for a, b in (("\\(", "\\)"), ("\\[", "\\]"), ("$$", "$$"), ("$", "$")):
        if s.startswith(a) and s.endswith(b) and len(s) >= len(a) + len(b):
            s = s[len(a):len(s) - len(b)].strip()
    prev = None
    while prev != s:
        prev = s
        s = _TEXT_CMDS.sub(r"\1", s)
    s = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)\b\s*", "", s)
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = _SPACING.sub(" ", s)
    s = re.sub(r"\^\s*\{?\\circ\}?|°", "", s)  # degrees are the number
    s = s.replace("\\%", "%").replace("\\$", "$").replace("\\{", "{").replace("\\}", "}")
    s = re.sub(r"\\displaystyle", "", s)
    s = s.strip().rstrip(".").strip()
    m = re.match(r"^[a-zA-Z]\w*\s*=\s*(.+)$", s)  # "x = 5" -> "5"
    if m and "=" not in m.group(1):
        s = m.group(1).strip()
    s = re.sub(r"\s+", " ", s).strip()
    return s


def parse_number(ans: str) -> tuple[Fraction | float, bool] | None:
    """The value of a plain numeric answer (ints, decimals, fractions, 1,000s, %, currency, units) and if it was a %."""
    s = normalize_latex(ans).strip()
    m = _CURRENCY.match(s)
    if m:
        s = m.group(1) + s[m.end():]
    percent = s.endswith("%")
    if percent:
        s = s[:-1].strip()
    frac = re.fullmatch(r"(-?)\\frac\s*\{([^{}]+)\}\s*\{([^{}]+)\}", s) or re.fullmatch(r"(-?)\\frac\s*(\d)(\d)", s)
    if frac:
        num, den = parse_number(frac.group(2)), parse_number(frac.group(3))
        if num is None or den is None or den[0] == 0:
            return None
        value = Fraction(num[0]) / Fraction(den[0])
        return (-value if frac.group(1) else value), percent
    unit = _UNIT_WORDS.match(s)
    if unit:
        s = unit.group(1)
    mixed = re.fullmatch(r"(-?)(\d+)\s+(\d+)\s*/\s*(\d+)", s)  # 1 1/2
    if mixed and int(mixed.group(4)) != 0:
        value = int(mixed.group(2)) + Fraction(int(mixed.group(3)), int(mixed.group(4)))
        return (-value if mixed.group(1) else value), percent
    s = re.sub(r"\s*/\s*", "/", s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    try:
        if "/" in s:
            a, b = s.split("/", 1)
            fa, fb = Fraction(a), Fraction(b)
            return (fa / fb, percent) if fb != 0 else None
        if re.fullmatch(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE]-?\d+)?", s):
            return (Fraction(s) if "e" not in s.lower() else float(s)), percent
    except (ValueError, ZeroDivisionError):
        return None
    return None


def _numbers_equal(a: Fraction | float, b: Fraction | float, rel_tol: float) -> bool:
    """Equal as exact fractions, or within rel_tol as floats."""
    if isinstance(a, Fraction) and isinstance(b, Fraction) and a == b:
        return True
    return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=1e-12)


# -- symbolic equivalence --------------------------------------------------------------------------
def latex_to_sympy_text(s: str) -> str:
    """Rewrite common LaTeX (\\frac, \\sqrt, ^, \\pi, \\cdot) as text sympy's parser reads."""
    prev = None
    while prev != s:
        prev = s
        s = re.sub(r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"((\1)/(\2))", s)
        s = re.sub(r"\\sqrt\s*\[([^\[\]]*)\]\s*\{([^{}]*)\}", r"((\2)**(1/(\1)))", s)
        s = re.sub(r"\\sqrt\s*\{([^{}]*)\}", r"sqrt(\1)", s)
        s = re.sub(r"\\frac\s*(\d)(\d)", r"((\1)/(\2))", s)
        s = re.sub(r"\\sqrt\s*(\d+|[a-zA-Z])", r"sqrt(\1)", s)
    s = s.replace("\\pi", "pi").replace("\\cdot", "*").replace("\\times", "*").replace("\\infty", "oo")
    s = re.sub(r"\\(sin|cos|tan|log|ln|exp)\b", r"\1", s)
    s = s.replace("^", "**").replace("{", "(").replace("}", ")")
    return s


def sympy_equal(a: str, b: str, max_chars: int = 200) -> bool | None:
    """True/False when sympy can decide that two expressions are equal; None when it cannot parse them."""
    if len(a) > max_chars or len(b) > max_chars:
        return None
    ta, tb = latex_to_sympy_text(a), latex_to_sympy_text(b)
    if "\\" in ta + tb or "=" in ta + tb:
        return None
    try:
        import sympy
        from sympy.parsing.sympy_parser import (convert_xor, implicit_multiplication_application, parse_expr,
                                                standard_transformations)
    except ImportError:
        return None
    tr = standard_transformations + (implicit_multiplication_application, convert_xor)
    try:
        ea = parse_expr(ta, transformations=tr, evaluate=True)
        eb = parse_expr(tb, transformations=tr, evaluate=True)
        diff = sympy.simplify(ea - eb)
        if diff == 0:
            return True
        if diff.is_number:
            return bool(abs(complex(diff.evalf())) < 1e-9)
        return False
    except Exception:  # noqa: BLE001 - sympy raises many types on text that is not an expression
        return None


def _split_top(s: str) -> list[str]:
    """Split ``a, b, c`` (optionally in parentheses/brackets) at top-level commas."""
    t = s.strip()
    if len(t) >= 2 and t[0] in "([" and t[-1] in ")]":
        t = t[1:-1]
    parts, depth, cur = [], 0, []
    for c in t:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur).strip())
    return parts


def _squeeze(s: str) -> str:
    """Lowercase, spaces removed except between two digits (``1 2`` is not ``12``)."""
    return re.sub(r"(?<!\d)\s+|\s+(?!\d)", "", s).lower()


@dataclass
class Verdict:
    """Whether an answer matches its reference, and how that was decided."""

    correct: bool
    method: str  # numeric | string | sympy | tuple | none


def answers_match(pred: str, ref: str, rel_tol: float = 1e-6, use_sympy: bool = True) -> Verdict:
    """Compare a predicted final answer with the reference: numbers, then normalised text, then sympy."""
    pn, rn = parse_number(pred), parse_number(ref)
    if pn is not None and rn is not None:
        (pv, pp), (rv, rp) = pn, rn
        if _numbers_equal(pv, rv, rel_tol):
            return Verdict(True, "numeric")
        if pp != rp:  # 50% against 0.5
            scaled = (pv / 100, rv) if pp else (pv, rv / 100)
            if _numbers_equal(scaled[0], scaled[1], rel_tol):
                return Verdict(True, "numeric")
        return Verdict(False, "numeric")
    a, b = normalize_latex(pred), normalize_latex(ref)
    if _squeeze(a) == _squeeze(b):
        return Verdict(True, "string")
    pa_, pb_ = _split_top(a), _split_top(b)
    if len(pb_) > 1 and len(pa_) == len(pb_) and (a.count(",") or b.count(",")):
        ok = all(answers_match(x, y, rel_tol, use_sympy).correct for x, y in zip(pa_, pb_))
        return Verdict(ok, "tuple")
    if use_sympy:
        eq = sympy_equal(a, b)
        if eq is not None:
            return Verdict(eq, "sympy")
    return Verdict(False, "string")


# -- the stage -------------------------------------------------------------------------------------
class VerifyMathParams(StageParams):
    """Which columns hold the solution and the reference, and how answers are compared."""

    response_column: str = Field("response", description="the model's solution (its final answer is extracted)")
    reference_column: str = Field(
        "reference_answer", description="the reference answer: a bare answer, or a solution stating one "
                                        "(GSM8K's '#### 72', MATH's \\boxed{})")
    last_number_fallback: bool = Field(
        False, description="a solution stating no final answer is judged by its last number (lenient; "
                           "off: it is dropped as no_answer)")
    rel_tol: float = Field(1e-6, ge=0, description="relative tolerance of numeric comparison")
    use_sympy: bool = Field(True, description="decide equivalence of expressions with sympy when installed")
    prefix: str = Field("math_", description="prefix of the added columns")


class VerifyMath(Filter):
    """Keep math solutions whose final answer matches the reference answer; drop the others.

    The final answer is the last ``\\boxed{...}``, else a GSM8K ``#### x`` line, else "the
    (final) answer is x" (with ``last_number_fallback``, else the last number). The reference
    may be a bare answer or a full reference solution (the same extraction applies). Answers
    are compared as numbers first (integers, decimals, fractions, ``\\frac``, thousands
    separators, percentages with 50% = 0.5, currency signs and trailing units stripped), then
    as LaTeX-normalised text (``$``/``\\(\\)`` delimiters, ``\\text{}``, ``\\left``/``\\right``,
    ``\\dfrac``, spacing removed; ``x = 5`` is ``5``), element-wise for tuples, and last as
    expressions through sympy (``\\frac{\\sqrt{2}}{2}`` = ``1/\\sqrt{2}``) when it is installed.

    Adds ``<prefix>answer`` (extracted answer), ``<prefix>correct`` (bool, null without an
    answer) and ``<prefix>method`` (numeric, string, tuple, sympy). Reasons: ``no_answer`` (the
    solution states no final answer), ``no_reference`` (the row has no reference answer),
    ``wrong_answer``.
    """

    name = "verify_math_v1"
    Params = VerifyMathParams
    batch_size = 1024
    example = {"response_column": "text", "reference_column": "text"}

    def _judge(self, batch: pa.Table) -> tuple[list[str | None], list[bool | None], list[str | None],
                                                list[str | None], list[str | None]]:
        """Per row: extracted answer, correct, method, drop reason and detail."""
        p: VerifyMathParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        for col in (p.response_column, p.reference_column):
            if n and col not in batch.column_names:
                raise ValueError(f"{self.name}: column {col!r} is not in the data (columns: {batch.column_names}); "
                                 "set params.response_column / params.reference_column")
        responses = batch.column(p.response_column).to_pylist() if n else []
        refs = batch.column(p.reference_column).to_pylist() if n else []
        answers, correct, methods, reasons, details = [], [], [], [], []
        for resp, ref in zip(responses, refs):
            ans = extract_answer(resp, p.last_number_fallback)
            ref_text = None if ref is None else str(ref)
            ref_ans = extract_answer(ref_text) or (ref_text.strip() if ref_text and ref_text.strip() else None)
            answers.append(ans)
            if ref_ans is None:
                correct.append(None); methods.append(None)
                reasons.append("no_reference"); details.append("the row has no reference answer")
                continue
            if ans is None:
                correct.append(None); methods.append(None)
                reasons.append("no_answer")
                details.append("no \\boxed{}, '#### x' or 'the answer is x' in the solution")
                continue
            v = answers_match(ans, ref_ans, p.rel_tol, p.use_sympy)
            correct.append(v.correct); methods.append(v.method)
            reasons.append(None if v.correct else "wrong_answer")
            details.append(None if v.correct else f"answer {ans[:80]!r} != reference {ref_ans[:80]!r} ({v.method})")
        return answers, correct, methods, reasons, details

    def annotate(self, batch: pa.Table) -> pa.Table:
        """Add the extracted answer, the verdict and how it was reached."""
        p: VerifyMathParams = self.params  # type: ignore[assignment]
        answers, correct, methods, reasons, details = self._judge(batch)
        self._last = (reasons, details)
        return with_columns(batch, {
            f"{p.prefix}answer": pa.array(answers, pa.string()),
            f"{p.prefix}correct": pa.array(correct, pa.bool_()),
            f"{p.prefix}method": pa.array(methods, pa.string()),
        })

    def reasons(self, batch: pa.Table) -> tuple[list[str | None], list[str | None]]:
        """The reasons computed while annotating this batch."""
        last: Any = getattr(self, "_last", None)
        if last is None or len(last[0]) != batch.num_rows:
            _, _, _, reasons, details = self._judge(batch)
            return reasons, details
        self._last = None
        return last

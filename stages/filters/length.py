"""Drop documents that are too short or too long."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from dataforge.stage import Filter, StageParams


class LengthParams(StageParams):
    """Bounds, in characters and whitespace-separated words; null means unbounded."""

    min_chars: int | None = Field(None, ge=0)
    max_chars: int | None = Field(None, ge=0)
    min_words: int | None = Field(50, ge=0, description="Gopher's lower bound (Rae et al. 2021)")
    max_words: int | None = Field(100_000, ge=0, description="Gopher's upper bound")

    @model_validator(mode="after")
    def _ordered(self) -> "LengthParams":
        for lo, hi in (("min_chars", "max_chars"), ("min_words", "max_words")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{lo}={a} is greater than {hi}={b}")
        return self


class LengthFilter(Filter):
    """Drop documents outside character and word-count bounds (defaults: Gopher's 50–100,000 words).

    Reasons: ``empty``, ``too_short_chars``, ``too_long_chars``, ``too_few_words``, ``too_many_words``.
    """

    name = "length_filter_v1"
    Params = LengthParams
    batch_size = 8192

    def reasons(self, batch: pa.Table) -> pa.Array:
        """One reason per row, first failing rule wins."""
        p: LengthParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        if n == 0:
            return pa.array([], pa.string())
        text = pc.fill_null(batch.column("text"), "")
        chars = pc.utf8_length(text)
        reason = pa.nulls(n, pa.string())
        checks = [(pc.equal(chars, 0), "empty")]
        if p.min_chars is not None:
            checks.append((pc.less(chars, p.min_chars), "too_short_chars"))
        if p.max_chars is not None:
            checks.append((pc.greater(chars, p.max_chars), "too_long_chars"))
        if p.min_words is not None or p.max_words is not None:
            words = pc.count_substring_regex(text, r"\S+")
            if p.min_words is not None:
                checks.append((pc.less(words, p.min_words), "too_few_words"))
            if p.max_words is not None:
                checks.append((pc.greater(words, p.max_words), "too_many_words"))
        for mask, name in reversed(checks):  # first rule in the list wins
            reason = pc.if_else(mask, pa.scalar(name), reason)
        return reason

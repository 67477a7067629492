"""Gopher repetition rules (Rae et al. 2021, "Scaling Language Models", App. A.1.1, Table A1).

Definitions follow datatrove's ``GopherRepetitionFilter`` (0.10.1): paragraphs are
``re.split("\\n{2,}", text.strip())``, lines are ``re.split("\\n+", text)``; the character
fractions divide by the length of the whole text; n-gram rules are described in
:mod:`.ngrams`. The one known difference: datatrove compares duplicated 5-10-grams as
concatenated strings (``"".join``), here as token sequences, so two n-grams spelling the same
characters with different word boundaries are not taken as repeats.

Languages written without spaces (``unsegmented_languages``): the line and paragraph rules
apply unchanged; n-grams are n-grams of characters (each CJK/Thai-script character is a word),
so a repeated phrase of that many characters counts, where spaCy would have seen one "word"
per run of CJK text.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from .lines import duplicates, split_flat
from .ngrams import NgramStats
from .signals import LanguageParams, Rule, SignalAnnotator, ThresholdFilter
from .tokens import batch_words

#: Gopher's Table A1: top n-gram character fractions and duplicated n-gram character fractions.
TOP_NGRAMS: dict[int, float] = {2: 0.20, 3: 0.18, 4: 0.16}
DUP_NGRAMS: dict[int, float] = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}


class GopherRepetitionSignalParams(LanguageParams):
    """Which n-gram sizes the repetition signals cover."""

    top_ngram_sizes: list[int] = Field(default_factory=lambda: sorted(TOP_NGRAMS),
                                       description="n of the top n-gram character fractions (Gopher: 2, 3, 4)")
    dup_ngram_sizes: list[int] = Field(default_factory=lambda: sorted(DUP_NGRAMS),
                                       description="n of the duplicated n-gram character fractions (Gopher: 5-10)")

    @field_validator("top_ngram_sizes", "dup_ngram_sizes")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        """Sizes are positive; duplicates are dropped and the list is sorted."""
        if any(n < 1 for n in v):
            raise ValueError(f"n-gram sizes must be at least 1, got {v}")
        return sorted(set(v))


def _frac(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0.0 where den is 0."""
    out = np.zeros(len(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


class GopherRepetitionSignals(SignalAnnotator):
    """Annotate Gopher repetition signals (Rae et al. 2021, Table A1) as columns, as datatrove computes them.

    Columns: ``gopher_dup_para_frac`` / ``gopher_dup_line_frac`` (share of paragraphs / lines that
    repeat an earlier one), ``gopher_dup_para_char_frac`` / ``gopher_dup_line_char_frac`` (their
    characters over the text's), ``gopher_top_{n}_gram_frac`` for each top n-gram size and
    ``gopher_dup_{n}_gram_frac`` for each duplicated n-gram size. Empty text scores 0.0 everywhere.
    """

    name = "gopher_repetition_signals_v1"
    Params = GopherRepetitionSignalParams

    def columns(self) -> dict[str, pa.DataType]:
        """Four line/paragraph columns, then one per configured n-gram size."""
        p: GopherRepetitionSignalParams = self.params  # type: ignore[assignment]
        names = ["gopher_dup_para_frac", "gopher_dup_para_char_frac", "gopher_dup_line_frac",
                 "gopher_dup_line_char_frac"]
        names += [f"gopher_top_{n}_gram_frac" for n in p.top_ngram_sizes]
        names += [f"gopher_dup_{n}_gram_frac" for n in p.dup_ngram_sizes]
        return {n: pa.float64() for n in names}

    def compute(self, batch: pa.Table) -> dict[str, object]:
        """Line and paragraph duplicates with Arrow group-bys, n-grams with :class:`.NgramStats`."""
        p: GopherRepetitionSignalParams = self.params  # type: ignore[assignment]
        text = self.text(batch)
        chars = pc.utf8_length(text).to_numpy(zero_copy_only=False).astype(np.int64)
        out: dict[str, object] = {}
        paras, rows, n = split_flat(pc.utf8_trim_whitespace(text), r"\n{2,}")
        dup_n, dup_c = duplicates(paras, rows, n)
        out["gopher_dup_para_frac"] = _frac(dup_n, np.bincount(rows, minlength=n))
        out["gopher_dup_para_char_frac"] = _frac(dup_c, chars)
        lines, rows, n = split_flat(text, r"\n+")
        dup_n, dup_c = duplicates(lines, rows, n)
        out["gopher_dup_line_frac"] = _frac(dup_n, np.bincount(rows, minlength=n))
        out["gopher_dup_line_char_frac"] = _frac(dup_c, chars)
        stats = NgramStats(batch_words(text, self.unsegmented(batch)))
        top, dup = stats.compute(p.top_ngram_sizes, p.dup_ngram_sizes)
        for size, value in top.items():
            out[f"gopher_top_{size}_gram_frac"] = _frac(value, chars)
        for size, value in dup.items():
            out[f"gopher_dup_{size}_gram_frac"] = _frac(value, chars)
        return out


class GopherRepetitionFilterParams(LanguageParams):
    """Gopher's Table A1 thresholds (datatrove defaults); null turns a rule off.

    The n-gram sizes of the signals are the keys of ``top_ngrams`` and ``dup_ngrams``.
    """

    dup_line_frac: float | None = Field(0.30, ge=0, description="duplicate line fraction")
    dup_para_frac: float | None = Field(0.30, ge=0, description="duplicate paragraph fraction")
    dup_line_char_frac: float | None = Field(0.20, ge=0, description="characters in duplicate lines")
    dup_para_char_frac: float | None = Field(0.20, ge=0, description="characters in duplicate paragraphs")
    top_ngrams: dict[int, float] = Field(default_factory=lambda: dict(TOP_NGRAMS),
                                         description="n -> max character share of the most frequent n-gram")
    dup_ngrams: dict[int, float] = Field(default_factory=lambda: dict(DUP_NGRAMS),
                                         description="n -> max character share of duplicated n-grams")
    recompute: bool = Field(False, description="recompute the signals even if their columns are present")

    @field_validator("top_ngrams", "dup_ngrams")
    @classmethod
    def _positive_keys(cls, v: dict[int, float]) -> dict[int, float]:
        """n-gram sizes are positive."""
        if any(n < 1 for n in v):
            raise ValueError(f"n-gram sizes must be at least 1, got {sorted(v)}")
        return v


class GopherRepetitionFilter(ThresholdFilter):
    """Drop repetitive documents by Gopher's rules (Rae et al. 2021, Table A1); defaults are the paper's.

    Duplicate paragraphs / lines at most 30% of them and 20% of the characters; the most frequent
    2/3/4-gram at most 20/18/16% of the characters; duplicated 5...10-grams at most 15...10%.
    Reasons, in datatrove's order: ``empty``, ``gopher_dup_para_frac``,
    ``gopher_dup_para_char_frac``, ``gopher_dup_line_frac``, ``gopher_dup_line_char_frac``,
    ``gopher_top_{n}_gram``, ``gopher_dup_{n}_grams``. Uses the ``gopher_repetition_signals_v1``
    columns when present.
    """

    name = "gopher_repetition_filter_v1"
    Params = GopherRepetitionFilterParams
    Signals = GopherRepetitionSignals

    def signal_params(self) -> dict[str, object]:
        """The language settings, and the n-gram sizes that have thresholds."""
        p: GopherRepetitionFilterParams = self.params  # type: ignore[assignment]
        return {**super().signal_params(), "top_ngram_sizes": sorted(p.top_ngrams),
                "dup_ngram_sizes": sorted(p.dup_ngrams)}

    def rules(self) -> list[Rule]:
        """Datatrove's order: paragraphs, lines, top n-grams, duplicated n-grams."""
        p: GopherRepetitionFilterParams = self.params  # type: ignore[assignment]
        rules = [
            Rule("gopher_dup_para_frac", "gopher_dup_para_frac", "gt", "dup_para_frac"),
            Rule("gopher_dup_para_char_frac", "gopher_dup_para_char_frac", "gt", "dup_para_char_frac"),
            Rule("gopher_dup_line_frac", "gopher_dup_line_frac", "gt", "dup_line_frac"),
            Rule("gopher_dup_line_char_frac", "gopher_dup_line_char_frac", "gt", "dup_line_char_frac"),
        ]
        rules += [Rule(f"gopher_top_{n}_gram", f"gopher_top_{n}_gram_frac", "gt", value=t)
                  for n, t in sorted(p.top_ngrams.items())]
        rules += [Rule(f"gopher_dup_{n}_grams", f"gopher_dup_{n}_gram_frac", "gt", value=t)
                  for n, t in sorted(p.dup_ngrams.items())]
        return rules

    def reasons(self, batch: pa.Table) -> tuple[pa.Array, list[str | None]]:
        """Empty text first (``empty``), then the threshold rules."""
        reasons, details = super().reasons(batch)
        if batch.num_rows == 0:
            return reasons, details
        empty = pc.equal(pc.utf8_length(pc.fill_null(batch.column("text"), "")), 0).to_numpy(zero_copy_only=False)
        if not empty.any():
            return reasons, details
        r = reasons.to_pylist()
        for i in np.flatnonzero(empty).tolist():
            r[i], details[i] = "empty", "text is empty"
        return pa.array(r, pa.string()), details

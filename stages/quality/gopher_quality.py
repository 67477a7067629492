"""Gopher quality rules (Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights from
Training Gopher", App. A.1.1).

Signals and thresholds follow the paper and datatrove's ``GopherQualityFilter`` (0.10.1), whose
exact definitions are reproduced: words are spaCy-English tokens (:mod:`.words`); "words" for the
length rules are tokens that are not made only of punctuation; the symbol ratios and the
alphabetic-word ratio divide by all tokens; lines are ``str.splitlines()``; stop words match
case-sensitively.

Languages written without spaces (``unsegmented_languages``, read from ``language_column``):
every CJK/Thai-script character counts as one word, so the word-count, symbol-ratio,
line and alphabetic-word rules apply unchanged; the mean word length (a character is one
"word") and the English stop-word rule do not apply (their signals are null and never drop).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from .lines import count_lines_ending, count_lines_starting, normalize_breaks, splitlines_count
from .signals import LanguageParams, Rule, SignalAnnotator, ThresholdFilter
from .tokens import batch_words

#: Gopher's stop words (Rae et al. 2021, A.1.1).
STOP_WORDS: tuple[str, ...] = ("the", "be", "to", "of", "and", "that", "have", "with")


class GopherQualitySignalParams(LanguageParams):
    """Parameters of the Gopher quality signals."""

    stop_words: list[str] = Field(default_factory=lambda: list(STOP_WORDS),
                                  description="stop words counted by gopher_stop_words (Gopher's eight)")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, and 0.0 where den is 0."""
    out = np.zeros(len(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


class GopherQualitySignals(SignalAnnotator):
    """Annotate Gopher quality signals (Rae et al. 2021, App. A.1.1) as columns, as datatrove computes them.

    Columns: ``gopher_words`` (tokens not made only of punctuation), ``gopher_mean_word_length``
    (their mean length; null without words or for unsegmented languages), ``gopher_hash_ratio``
    and ``gopher_ellipsis_ratio`` (``#`` and ``...``/``…`` occurrences per token),
    ``gopher_bullet_lines_ratio`` and ``gopher_ellipsis_lines_ratio`` (lines starting with ``•``/``-``,
    ending with ``...``/``…``), ``gopher_alpha_words_ratio`` (tokens with a letter), and
    ``gopher_stop_words`` (distinct stop words present; null for unsegmented languages). Ratios
    over nothing (no token, no line) are 0.0.
    """

    name = "gopher_quality_signals_v1"
    Params = GopherQualitySignalParams

    def columns(self) -> dict[str, pa.DataType]:
        """The eight signal columns."""
        f, i = pa.float64(), pa.int64()
        return {"gopher_words": i, "gopher_mean_word_length": f, "gopher_hash_ratio": f,
                "gopher_ellipsis_ratio": f, "gopher_bullet_lines_ratio": f, "gopher_ellipsis_lines_ratio": f,
                "gopher_alpha_words_ratio": f, "gopher_stop_words": i}

    def compute(self, batch: pa.Table) -> dict[str, object]:
        """Vectorised over the batch: words via :func:`batch_words`, counts via Arrow kernels."""
        p: GopherQualitySignalParams = self.params  # type: ignore[assignment]
        text = self.text(batch)
        unseg = self.unsegmented(batch)
        bw = batch_words(text, unseg)
        length, is_word, has_alpha = bw.vocab.arrays()
        word = is_word[bw.ids]
        n_tokens = bw.counts
        n_words = bw.doc_sum(word)
        word_chars = bw.doc_sum(np.where(word, length[bw.ids], 0))
        mean = _ratio(word_chars, n_words)
        mean_valid = n_words > 0
        n_hash = pc.count_substring(text, "#").to_numpy(zero_copy_only=False)
        n_ellipsis = (pc.count_substring(text, "...").to_numpy(zero_copy_only=False)
                      + pc.count_substring(text, "…").to_numpy(zero_copy_only=False))
        norm = normalize_breaks(text)
        n_lines = splitlines_count(norm)
        bullets = count_lines_starting(norm, ["•", "-"])
        ell_lines = count_lines_ending(norm, ["...", "…"])
        alpha = bw.doc_sum(has_alpha[bw.ids])
        stops = bw.distinct_present(p.stop_words)
        stop_valid = np.ones(len(stops), dtype=bool)
        if unseg is not None:
            mean_valid &= ~unseg
            stop_valid &= ~unseg
        return {
            "gopher_words": n_words,
            "gopher_mean_word_length": pa.array(mean, pa.float64(), mask=~mean_valid),
            "gopher_hash_ratio": _ratio(n_hash, n_tokens),
            "gopher_ellipsis_ratio": _ratio(n_ellipsis, n_tokens),
            "gopher_bullet_lines_ratio": _ratio(bullets, n_lines),
            "gopher_ellipsis_lines_ratio": _ratio(ell_lines, n_lines),
            "gopher_alpha_words_ratio": _ratio(alpha, n_tokens),
            "gopher_stop_words": pa.array(stops, pa.int64(), mask=~stop_valid),
        }


class GopherQualityFilterParams(GopherQualitySignalParams):
    """Gopher's thresholds (Rae et al. 2021, A.1.1; datatrove defaults); null turns a rule off."""

    min_doc_words: int | None = Field(50, ge=0, description="fewer words: gopher_too_few_words")
    max_doc_words: int | None = Field(100_000, ge=0, description="more words: gopher_too_many_words")
    min_avg_word_length: float | None = Field(3, ge=0, description="shorter mean word: gopher_short_words")
    max_avg_word_length: float | None = Field(10, ge=0, description="longer mean word: gopher_long_words")
    max_symbol_word_ratio: float | None = Field(
        0.1, ge=0, description="more '#' or '...' per word: gopher_hash_ratio / gopher_ellipsis_ratio")
    max_bullet_lines_ratio: float | None = Field(0.9, ge=0, description="more bullet lines: gopher_bullet_lines")
    max_ellipsis_lines_ratio: float | None = Field(
        0.3, ge=0, description="more lines ending in an ellipsis: gopher_ellipsis_lines")
    min_alpha_words_ratio: float | None = Field(
        0.8, ge=0, description="fewer words with a letter: gopher_alpha_words")
    min_stop_words: int | None = Field(2, ge=0, description="fewer distinct stop words: gopher_stop_words")
    recompute: bool = Field(False, description="recompute the signals even if their columns are present")


class GopherQualityFilter(ThresholdFilter):
    """Drop documents failing Gopher's quality rules (Rae et al. 2021, App. A.1.1); defaults are the paper's.

    50-100,000 words, mean word length 3-10, at most 0.1 ``#`` and 0.1 ellipses per word, at most
    90% of lines starting with a bullet and 30% ending with an ellipsis, at least 80% of words
    with a letter, at least 2 of the stop words. Reasons, checked in this order (as datatrove):
    ``gopher_too_few_words``, ``gopher_too_many_words``, ``gopher_short_words``,
    ``gopher_long_words``, ``gopher_hash_ratio``, ``gopher_ellipsis_ratio``,
    ``gopher_bullet_lines``, ``gopher_ellipsis_lines``, ``gopher_alpha_words``,
    ``gopher_stop_words``. Uses the ``gopher_quality_signals_v1`` columns when present.
    """

    name = "gopher_quality_filter_v1"
    Params = GopherQualityFilterParams
    Signals = GopherQualitySignals

    def rules(self) -> list[Rule]:
        """Gopher's rules in datatrove's order."""
        return [
            Rule("gopher_too_few_words", "gopher_words", "lt", "min_doc_words"),
            Rule("gopher_too_many_words", "gopher_words", "gt", "max_doc_words"),
            Rule("gopher_short_words", "gopher_mean_word_length", "lt", "min_avg_word_length"),
            Rule("gopher_long_words", "gopher_mean_word_length", "gt", "max_avg_word_length"),
            Rule("gopher_hash_ratio", "gopher_hash_ratio", "gt", "max_symbol_word_ratio"),
            Rule("gopher_ellipsis_ratio", "gopher_ellipsis_ratio", "gt", "max_symbol_word_ratio"),
            Rule("gopher_bullet_lines", "gopher_bullet_lines_ratio", "gt", "max_bullet_lines_ratio"),
            Rule("gopher_ellipsis_lines", "gopher_ellipsis_lines_ratio", "gt", "max_ellipsis_lines_ratio"),
            Rule("gopher_alpha_words", "gopher_alpha_words_ratio", "lt", "min_alpha_words_ratio"),
            Rule("gopher_stop_words", "gopher_stop_words", "lt", "min_stop_words"),
        ]

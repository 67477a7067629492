"""C4's line cleanup and page rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning", section 2.2).

Definitions follow datatrove's ``C4QualityFilter`` (0.10.1), itself after TFDS ``c4_utils``.
Each line of ``text.splitlines()`` is stripped, then, in this order:

1. a word (whitespace-separated) longer than ``max_word_length`` (1,000): the line goes;
2. citation markers ``[1]``, ``[edit]``, ``[citation needed]`` are removed from it;
3. no terminal punctuation (``. ? ! " '``, or ending in ``...``): the line goes;
4. fewer than ``min_words_per_line`` (3) words: the line goes;
5. "lorem ipsum" (any case): the **page** is dropped (``c4_lorem_ipsum``);
6. "javascript" (any case): the line goes;
7. a curly bracket ``{``: the **page** is dropped (``c4_curly_bracket``);
8. "terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
   "use cookies": the line goes;

and the sentences of the kept lines are counted (spaCy's rule-based sentencizer, replayed in
:mod:`.words`); fewer than ``min_num_sentences`` (5) drops the page (``c4_too_few_sentences``).
The kept lines, joined by newlines, become the text. Every rule can be switched off; FineWeb
runs C4 with ``filter_no_terminal_punct: false``. Note the word-length rule removes a line, as
in the reference code, not the page.

Languages written without spaces (``unsegmented_languages``): words are counted and measured
per CJK/Thai-script character (a line of Chinese is not one 1,000-character "word"), the
terminal-punctuation rule also accepts ``。！？｡．」』”`` and datatrove's terminal marks of other
scripts (``။``, ``។``, ...). Thai marks no sentence end, so this rule removes most Thai lines:
turn it off for Thai. Sentences are counted on character-segmented text, where ``。`` ends one.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field

from dataforge.schema import DETAIL_COLUMN, REASON_COLUMN, with_columns
from dataforge.stage import BatchResult, Transform

from .punctuation import TERMINAL_PUNCTUATION
from .signals import LanguageParams, SignalAnnotator
from .words import WordSplitter, default_splitter

CITATION_REGEX = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION: tuple[str, ...] = (".", "?", "!", '"', "'")
ELLIPSIS = "..."
POLICY_SUBSTRINGS: tuple[str, ...] = (
    "terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies",
)
#: Extra line endings accepted as terminal punctuation for languages written without spaces.
UNSEGMENTED_END_PUNCTUATION: tuple[str, ...] = tuple(
    sorted(set(END_PUNCTUATION) | {"。", "！", "？", "｡", "．", "」", "』", "”"} | TERMINAL_PUNCTUATION)
)


class C4Params(LanguageParams):
    """C4's switches and limits (Raffel et al. 2020; datatrove defaults); -1 or false turns a rule off."""

    remove_citations: bool = Field(True, description="strip [1], [edit], [citation needed] from lines")
    filter_no_terminal_punct: bool = Field(True, description="remove lines not ending in . ? ! \" ' (FineWeb: false)")
    min_num_sentences: int = Field(5, ge=-1, description="drop pages with fewer sentences in kept lines; -1: off")
    min_words_per_line: int = Field(3, ge=-1, description="remove lines with fewer words; -1: off")
    max_word_length: int = Field(1000, ge=-1, description="remove lines with a longer word; -1: off")
    filter_lorem_ipsum: bool = Field(True, description="drop pages containing 'lorem ipsum'")
    filter_javascript: bool = Field(True, description="remove lines mentioning 'javascript'")
    filter_curly_bracket: bool = Field(True, description="drop pages containing '{'")
    filter_policy: bool = Field(True, description="remove cookie / terms-of-use / privacy-policy lines")


def clean_page(text: str, p: C4Params, splitter: WordSplitter, unsegmented: bool) -> dict[str, Any]:
    """Apply C4's rules to one page: the cleaned text, counts, and the page rule that fired first."""
    ends = UNSEGMENTED_END_PUNCTUATION if unsegmented else END_PUNCTUATION
    kept: list[str] = []
    removed = 0
    sentences = 0
    lorem_line: int | None = None
    curly_line: int | None = None
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        words = splitter.split(line, unsegmented=True) if unsegmented else line.split()
        if p.max_word_length != -1 and max(map(len, words), default=0) > p.max_word_length:
            removed += 1
            continue
        if p.remove_citations:
            line = CITATION_REGEX.sub("", line)
        if p.filter_no_terminal_punct and (not line.endswith(ends) or line.endswith(ELLIPSIS)):
            removed += 1
            continue
        if len(words) < p.min_words_per_line:
            removed += 1
            continue
        lower = line.lower()
        if p.filter_lorem_ipsum and "lorem ipsum" in lower:
            lorem_line = lorem_line or number
            break
        if p.filter_javascript and "javascript" in lower:
            removed += 1
            continue
        if p.filter_curly_bracket and "{" in line:
            curly_line = curly_line or number
            break
        if p.filter_policy and any(s in lower for s in POLICY_SUBSTRINGS):
            removed += 1
            continue
        if p.min_num_sentences != -1:
            sentences += splitter.count_sentences(line, unsegmented)
        kept.append(line)
    if lorem_line is not None:
        reason = "c4_lorem_ipsum"
    elif curly_line is not None:
        reason = "c4_curly_bracket"
    elif sentences < p.min_num_sentences:
        reason = "c4_too_few_sentences"
    else:
        reason = None
    return {
        "text": "\n".join(kept).strip(),
        "reason": reason,
        "c4_lines": len(lines),
        "c4_lines_removed": removed,
        "c4_sentences": sentences,
        "c4_page_rule_line": lorem_line or curly_line,
    }


class C4Signals(SignalAnnotator):
    """Annotate C4 cleanup signals (Raffel et al. 2020) as columns, without changing the text.

    Columns: ``c4_lines`` (lines of the page), ``c4_lines_removed`` (lines C4 would remove),
    ``c4_sentences`` (sentences in the lines it would keep) and ``c4_page_rule`` (``lorem_ipsum``
    or ``curly_bracket`` if a page rule would drop the page, else null). Scanning stops at a page
    rule, as C4 does, so the counts then cover the lines before it.
    """

    name = "c4_signals_v1"
    Params = C4Params

    def columns(self) -> dict[str, pa.DataType]:
        """The four signal columns."""
        return {"c4_lines": pa.int64(), "c4_lines_removed": pa.int64(), "c4_sentences": pa.int64(),
                "c4_page_rule": pa.string()}

    def setup(self) -> None:
        """Load the word splitter."""
        self._splitter = default_splitter()

    def pages(self, batch: pa.Table) -> list[dict[str, Any]]:
        """Run :func:`clean_page` on every row."""
        if not hasattr(self, "_splitter"):
            self.setup()
        p: C4Params = self.params  # type: ignore[assignment]
        unseg = self.unsegmented(batch)
        texts = self.text(batch).to_pylist()
        flags = unseg.tolist() if unseg is not None else [False] * len(texts)
        return [clean_page(t, p, self._splitter, u) for t, u in zip(texts, flags)]

    def compute(self, batch: pa.Table) -> dict[str, object]:
        """Per-page Python: the rules are sequential over lines."""
        return signal_columns(self.pages(batch))


def signal_columns(pages: list[dict[str, Any]]) -> dict[str, object]:
    """The C4 signal columns of a list of :func:`clean_page` results."""
    rule = {"c4_lorem_ipsum": "lorem_ipsum", "c4_curly_bracket": "curly_bracket"}
    return {
        "c4_lines": [r["c4_lines"] for r in pages],
        "c4_lines_removed": [r["c4_lines_removed"] for r in pages],
        "c4_sentences": [r["c4_sentences"] for r in pages],
        "c4_page_rule": [rule.get(r["reason"] or "") for r in pages],
    }


class C4FilterParams(C4Params):
    """C4's rules, and whether kept pages get the cleaned text."""

    rewrite_text: bool = Field(True, description="replace the text of kept pages by their kept lines (C4 does)")


class C4Filter(Transform):
    """Clean pages line by line and drop pages by C4's rules (Raffel et al. 2020); defaults are C4's.

    A Transform: kept pages get the kept lines as text (``rewrite_text``) and the
    ``c4_signals_v1`` columns; dropped pages keep their original text, with reason
    ``c4_lorem_ipsum``, ``c4_curly_bracket`` or ``c4_too_few_sentences`` and a detail.
    """

    name = "c4_filter_v1"
    Params = C4FilterParams
    batch_size = 1000

    def setup(self) -> None:
        """Build the signals stage that does the per-page work."""
        fields = C4Signals.Params.model_fields
        self._signals = C4Signals({k: v for k, v in self.params.model_dump().items() if k in fields})
        self._signals.ensure_setup()

    def transform(self, batch: pa.Table) -> BatchResult:
        """Clean, annotate, and split into kept and dropped rows."""
        if not hasattr(self, "_signals"):
            self.setup()
        p: C4FilterParams = self.params  # type: ignore[assignment]
        if batch.num_rows == 0 or "text" not in batch.column_names:
            return BatchResult(kept=self._signals.annotate(batch))
        pages = self._signals.pages(batch)
        cols = signal_columns(pages)
        annotated = batch
        for name, typ in self._signals.columns().items():
            arr = pa.array(cols[name], typ)
            annotated = with_columns(annotated, {name: arr})
        drop = np.array([r["reason"] is not None for r in pages], dtype=bool)
        kept = annotated.filter(pa.array(~drop))
        if p.rewrite_text and kept.num_rows:
            texts = pa.array([r["text"] for r, d in zip(pages, drop) if not d], pa.string())
            kept = kept.set_column(kept.column_names.index("text"), "text", texts)
        if not drop.any():
            return BatchResult(kept=kept)
        dropped = annotated.filter(pa.array(drop))
        reasons = [r["reason"] for r in pages if r["reason"] is not None]
        details = [_detail(r) for r in pages if r["reason"] is not None]
        dropped = dropped.append_column(REASON_COLUMN, pa.array(reasons, pa.string()))
        dropped = dropped.append_column(DETAIL_COLUMN, pa.array(details, pa.string()))
        return BatchResult(kept=kept, dropped=dropped)


def _detail(page: dict[str, Any]) -> str:
    """A human-readable detail for a dropped page."""
    if page["reason"] == "c4_too_few_sentences":
        return f"c4_sentences={page['c4_sentences']} in {page['c4_lines'] - page['c4_lines_removed']} kept lines"
    return f"line {page['c4_page_rule_line']}"

"""A cheap language gate on raw HTML, before extraction: pages that are clearly in another language skip trafilatura."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import Field

from dataforge.stage import BatchResult, StageError
from dataforge.stages.extract.html import as_binary, page_views, sniff_binary
from dataforge.stages.language.langid import PREFIX, LanguageId, LanguageIdParams

#: gzip-compressed bodies are left to the extractor (it inflates them with a size bound)
_GZIP = b"\x1f\x8b"


class LanguageGateParams(LanguageIdParams):
    """Which languages a page may be in, and how sure the gate must be before it drops one."""

    keep: list[str] = Field(..., min_length=1, description="the languages the later language_id_v1 keeps (e.g. [en])")
    min_score: float = Field(
        0.02, ge=0, le=1,
        description="drop a page only when the kept languages together score below this on its visible text "
                    "(conservative: language_id_v1 still applies its own threshold after extraction)")
    min_chars: int = Field(
        200, ge=0, description="pages with less visible text than this pass the gate undecided")
    max_chars: int = Field(4000, gt=0, description="predict on the first N characters of the visible text")
    top_k: int = Field(5, ge=1, le=176, description="labels read per page; kept languages outside them score 0")
    html_field: str = Field("html", description="column holding the raw page (binary or string)")
    keep_rejected_html: bool = Field(
        False, description="keep the raw page in the rejects (off: a dropped row keeps its id, url and metadata; "
                           "the gate drops most of a multilingual crawl, which would otherwise be copied into the run)")


class LanguageGate(LanguageId):
    """Drop pages whose visible text is clearly not in a kept language, before the costly main-content extraction.

    FineWeb's recipe identifies the language after trafilatura, so every page of a multilingual
    crawl pays for extraction even when an English-only run throws most of them away. This gate
    reads each page's visible text with resiliparse (an HTML5 parser written in C, a small
    fraction of trafilatura's cost), runs lid.176 on its first ``max_chars`` characters and drops
    the page as ``language_gate`` when the probabilities of the kept languages among the
    ``top_k`` labels add up to less than ``min_score`` (default 0.02). A page with little
    visible text (``min_chars``, at least half of it letters), a compressed or binary body (which
    the extractor inflates or quarantines), or one resiliparse cannot read passes
    undecided; the page is left as it is and adds no columns, so ``html_extract_v1`` and
    ``language_id_v1`` behave exactly as without the gate on the pages it passes.

    The gate is an optimisation with a measurable cost: a page whose boilerplate is in another
    language than its main text could be dropped. ``benchmarks/e2e`` runs the FineWeb pipeline
    with and without it and compares the kept sets.
    """

    name = "language_gate_v1"
    Params = LanguageGateParams
    batch_size = 512
    example = {"keep": ["en"]}
    requires = ("html",)  # with the default html_field: the raw page a WARC/HTML reader writes

    def setup(self) -> None:
        """Load lid.176 (as language_id_v1) and check that resiliparse is importable."""
        try:
            from resiliparse.extract.html2text import extract_plain_text  # noqa: F401
        except ImportError as exc:
            raise StageError(f"{self.name}: resiliparse is missing ({exc}); `pip install 'dataforge[web]'` "
                             "or remove the gate (html_extract_v1 then extracts every page)") from None
        super().setup()

    def process(self, batch: pa.Table) -> BatchResult:
        """As a filter, with the raw page left out of the rejects unless ``keep_rejected_html``."""
        res = super().process(batch)
        p: LanguageGateParams = self.params  # type: ignore[assignment]
        if res.dropped is not None and not p.keep_rejected_html and p.html_field in res.dropped.column_names:
            res.dropped = res.dropped.drop_columns([p.html_field])
        return res

    def annotate(self, batch: pa.Table) -> pa.Table:
        """The gate adds no columns."""
        return batch

    def visible_text(self, page: bytes) -> str | None:
        """The page's visible text (resiliparse, no main-content heuristics), or None when it cannot be read."""
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.encoding import detect_encoding
        from resiliparse.parse.html import HTMLTree

        if page[:2] == _GZIP or sniff_binary(page) is not None:
            return None  # compressed or not HTML: the extractor inflates or quarantines it
        try:
            tree = HTMLTree.parse_from_bytes(page, detect_encoding(page, from_html_meta=True))
            return extract_plain_text(tree, preserve_formatting=False, main_content=False, alt_texts=False,
                                      comments=False, skip_elements=["script", "style", "noscript"])
        except Exception:  # noqa: BLE001 - an unreadable page passes; the extractor quarantines it if it must
            return None

    def reasons(self, batch: pa.Table) -> tuple[pa.Array, pa.Array]:
        """``language_gate`` for pages clearly in another language; null (pass) for every other page."""
        p: LanguageGateParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        reason: list[str | None] = [None] * n
        detail: list[str | None] = [None] * n
        if n == 0:
            return pa.array(reason, pa.string()), pa.array(detail, pa.string())
        if p.html_field not in batch.column_names:
            raise StageError(f"{self.name}: the rows have no column {p.html_field!r} (they have "
                             f"{', '.join(batch.column_names)}); put the gate right after a WARC/HTML reader, "
                             "before html_extract_v1, or set params.html_field")
        keep = set(getattr(self, "_keep", None) or self._expand(p.keep))
        idx: list[int] = []
        texts: list[str] = []
        for i, page in enumerate(page_views(as_binary(batch.column(p.html_field)))):
            if not page:
                continue
            text = self.visible_text(bytes(page))
            if text is None:
                continue
            text = " ".join(text[: p.max_chars * 2].split())[: p.max_chars]
            if not text or len(text) < p.min_chars or sum(map(str.isalpha, text)) < p.min_chars // 2:
                continue  # too little text, or not text at all: the extractor decides
            idx.append(i)
            texts.append(text)
        if texts:
            labels, probs = self._predict(texts, p.top_k)
            for i, lab, pr in zip(idx, labels, probs):
                names = [x.removeprefix(PREFIX) for x in lab]
                mass = float(np.sum([s for x, s in zip(names, pr) if x in keep])) if len(names) else 0.0
                if mass < p.min_score:
                    reason[i] = "language_gate"
                    top = f"{names[0]} {min(float(pr[0]), 1.0):.3f}" if len(names) else "und"
                    detail[i] = (f"visible text is {top}; kept languages ({', '.join(p.keep)}) score {mass:.4f} "
                                 f"< min_score {p.min_score}")
        return pa.array(reason, pa.string()), pa.array(detail, pa.string())

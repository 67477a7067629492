"""PDF to text with pymupdf: reading order, cleanup for pre-training, scanned pages flagged for OCR."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from dataforge.schema import DETAIL_COLUMN, REASON_COLUMN, quarantine_table, with_columns
from dataforge.stage import BatchResult, StageParams, Transform
from dataforge.stages.extract import pdf_text as pt

PDF_COLUMN = "pdf"


class PdfExtractParams(StageParams):
    """How PDFs become documents and how their text is cleaned."""

    mode: Literal["document", "page"] = Field(
        "document", description="one document per PDF, or one per page with ids '<pdf id>#p<page>' (1-based)")
    passwords: list[str] = Field(
        default_factory=list, description="passwords tried, after the empty one, on password-protected PDFs")
    max_pages: int = Field(5000, ge=1, description="pages read per PDF; the rest are skipped with a warning")
    max_seconds: float = Field(
        120.0, gt=0, description="time budget per PDF, checked between pages; later pages are skipped with a warning")
    remove_headers_footers: bool = Field(
        True, description="drop running headers, footers and page numbers that repeat at page edges")
    dehyphenate: bool = Field(True, description="rejoin words hyphenated across line breaks")
    reflow: bool = Field(True, description="join the wrapped lines of a paragraph into one line")
    keep_empty: bool = Field(
        False, description="keep documents (pages) without text instead of dropping them as needs_ocr / no_text")
    ocr_max_chars: int = Field(
        20, ge=0, description="a page with fewer characters than this that shows a large image is a scan (needs OCR)")
    ocr_min_image_coverage: float = Field(
        0.3, ge=0, le=1, description="share of the page an image must cover for a text-poor page to need OCR")
    max_undecodable: float = Field(
        0.5, ge=0, le=1,
        description="a page whose glyphs are mostly without a Unicode mapping (U+FFFD) counts as without text")


@dataclass
class _Page:
    """What one page gave: its layout, or why it has none."""

    number: int  # 1-based
    layout: pt.PageLayout | None
    chars: int = 0
    needs_ocr: bool = False
    error: str | None = None


@dataclass
class _Pdf:
    """One opened and extracted PDF."""

    title: str | None
    author: str | None
    page_count: int
    pages: list[_Page] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Problem(Exception):
    """A PDF that cannot be used at all: quarantined with ``reason`` and ``detail``."""

    def __init__(self, reason: str, detail: str) -> None:
        """Keep the quarantine reason and the detail a user acts on."""
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class PdfExtract(Transform):
    """Extract the text of PDFs (raw bytes in the ``pdf`` column, as the ``pdf`` reader gives them) with pymupdf.

    Text comes in reading order (blocks grouped into columns between full-width blocks, right
    to left on Arabic and Hebrew pages) and cleaned the way pre-training corpora need it:
    running headers, footers and page numbers that repeat at page edges removed, words
    hyphenated across line breaks rejoined (real hyphens such as "well-known" kept), ligatures
    (ﬁ, ﬂ, ...) spelled out, wrapped lines reflowed, whitespace normalised. One document per PDF,
    or one per page with ``mode: page``.

    Adds ``title``, ``author``, ``page_count``, ``pages_without_text`` (1-based page numbers with
    no usable text layer), ``ocr_pages`` (text-poor pages showing a large image, i.e. scans, and
    pages whose glyphs have no Unicode mapping),
    ``needs_ocr`` and ``pdf_warnings`` (pages skipped or failed, files repaired); with
    ``mode: page`` also ``page``. The ``pdf`` bytes column is dropped.

    Password-protected PDFs are opened with the empty password, then each of ``passwords``;
    otherwise they are quarantined as ``encrypted``. Files MuPDF cannot open, or whose every
    page fails, are quarantined as ``damaged_pdf`` (``extract_error`` if pymupdf raises later on;
    ``damaged_page`` for a failing page in page mode). Documents without text are dropped as
    ``needs_ocr`` (scanned) or ``no_text`` unless ``keep_empty``. ``max_pages`` and
    ``max_seconds`` bound the work per PDF between pages (a single page stuck inside MuPDF
    cannot be interrupted in-process). The defaults were tuned on the docling test PDFs.
    """

    name = "pdf_extract_v1"
    Params = PdfExtractParams
    batch_size = 8

    def setup(self) -> None:
        """Import pymupdf and keep MuPDF's error chatter off stderr (problems are reported per document)."""
        import pymupdf

        pymupdf.TOOLS.mupdf_display_errors(False)
        pymupdf.TOOLS.mupdf_display_warnings(False)
        self._fitz = pymupdf
        self._flags = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP  # ligatures expanded by MuPDF

    def versions(self) -> dict[str, str]:
        """pymupdf and MuPDF versions, for manifests."""
        import pymupdf

        return {"pymupdf": str(pymupdf.VersionBind), "mupdf": str(pymupdf.VersionFitz)}

    # -- batch ------------------------------------------------------------------------------------
    def transform(self, batch: pa.Table) -> pa.Table | BatchResult:
        """Extract every PDF of the batch; split into pages in ``mode: page``."""
        p: PdfExtractParams = self.params  # type: ignore[assignment]
        if batch.num_rows == 0:
            return self._empty_output(batch)
        if PDF_COLUMN not in batch.column_names:
            return self._all_missing(batch)
        ids = batch.column("id").to_pylist()
        blobs = batch.column(PDF_COLUMN)
        kept = _Rows()
        dropped = _Rows()
        q_idx: list[int] = []
        q_ids: list[str] = []
        q_reasons: list[str] = []
        q_details: list[str] = []
        q_raw: list[str | None] = []
        created = 0
        for i, doc_id in enumerate(ids):
            data = blobs[i].as_py()
            try:
                if data is None:
                    raise _Problem("missing_pdf_bytes", f"document {doc_id!r} has no bytes in {PDF_COLUMN!r}")
                pdf = self._extract(str(doc_id), data)
            except _Problem as prob:
                q_idx.append(i); q_ids.append(str(doc_id)); q_reasons.append(prob.reason)
                q_details.append(prob.detail); q_raw.append(None)
                continue
            except Exception as exc:  # noqa: BLE001 - pymupdf on a hostile file: this PDF alone is quarantined
                q_idx.append(i); q_ids.append(str(doc_id)); q_reasons.append("extract_error")
                q_details.append(f"{doc_id}: pymupdf raised {type(exc).__name__}: {exc}; the file may be damaged, "
                                 "re-export or repair it (e.g. `mutool clean`)")
                q_raw.append(None)
                continue
            produced = self._emit(i, str(doc_id), pdf, kept, dropped, (q_idx, q_ids, q_reasons, q_details, q_raw))
            created += produced - 1
        base = batch.drop_columns([PDF_COLUMN])
        kept_t = kept.table(base, p.mode)
        dropped_t = dropped.table(base, p.mode, with_reason=True) if dropped.src else None
        quarantined = None
        if q_ids:
            sources = pc.take(batch.column("source"), pa.array(q_idx, pa.int64())).to_pylist() \
                if "source" in batch.column_names else [None] * len(q_idx)
            quarantined = quarantine_table(q_ids, "", self.name, q_reasons, q_details, q_raw)
            quarantined = quarantined.set_column(1, "source", pa.array(sources, pa.string()))
        return BatchResult(kept=kept_t, dropped=dropped_t, quarantined=quarantined, created=created)

    def _all_missing(self, batch: pa.Table) -> BatchResult:
        """Quarantine every row of a batch that has no ``pdf`` column at all (a misconfigured pipeline)."""
        n = batch.num_rows
        ids = batch.column("id").to_pylist() if "id" in batch.column_names else [None] * n
        detail = (f"the batch has no {PDF_COLUMN!r} column with raw PDF bytes; read the input with "
                  f"`input.format: pdf` to use {self.name}")
        q = quarantine_table(ids, "", self.name, ["missing_pdf_bytes"] * n, [detail] * n, [None] * n)
        if "source" in batch.column_names:
            q = q.set_column(1, "source", pc.cast(batch.column("source"), pa.string()))
        return BatchResult(kept=self._empty_output(batch.slice(0, 0)), quarantined=q)

    def _empty_output(self, batch: pa.Table) -> pa.Table:
        """No rows, but the output schema (pdf column dropped, the added columns present)."""
        base = batch.drop_columns([PDF_COLUMN]) if PDF_COLUMN in batch.column_names else batch
        return _Rows().table(base, self.params.mode)  # type: ignore[attr-defined]

    # -- one PDF ----------------------------------------------------------------------------------
    def _extract(self, doc_id: str, data: bytes) -> _Pdf:
        """Open (decrypting if needed) and read the pages of one PDF."""
        p: PdfExtractParams = self.params  # type: ignore[assignment]
        fitz = self._fitz
        fitz.TOOLS.mupdf_warnings(reset=True)
        try:
            doc = fitz.open(stream=data, filetype="pdf")
        except Exception as exc:  # noqa: BLE001 - MuPDF raises several types on broken files
            raise _Problem("damaged_pdf", f"{doc_id}: MuPDF cannot open it ({exc}); the file is damaged or not "
                                          "a PDF: re-export it, or repair it (e.g. `mutool clean`) and rerun") from None
        try:
            if doc.needs_pass:
                tried = ["", *p.passwords]
                if not any(doc.authenticate(pw) for pw in tried):
                    raise _Problem("encrypted", f"{doc_id} is password-protected and none of the {len(tried)} "
                                                "password(s) tried (the empty one, then params.passwords) opens it; "
                                                f"add its password to params.passwords of {self.name}")
            meta = doc.metadata or {}
            pdf = _Pdf(title=(meta.get("title") or "").strip() or None,
                       author=(meta.get("author") or "").strip() or None,
                       page_count=doc.page_count)
            if doc.page_count == 0:
                raise _Problem("damaged_pdf", f"{doc_id} has no pages; re-export the file")
            self._read_pages(doc, pdf)
            if getattr(doc, "is_repaired", False):
                pdf.warnings.append("the file was damaged and MuPDF rebuilt it; some text may be missing")
        finally:
            doc.close()
        failed = [pg for pg in pdf.pages if pg.error]
        if pdf.pages and len(failed) == len(pdf.pages):
            raise _Problem("damaged_pdf", f"{doc_id}: no page could be read (page 1: {failed[0].error}); "
                                          "re-export the file or repair it (e.g. `mutool clean`)")
        return pdf

    def _read_pages(self, doc: Any, pdf: _Pdf) -> None:
        """Lay out each page within max_pages and max_seconds; note failing, empty and scanned pages."""
        p: PdfExtractParams = self.params  # type: ignore[assignment]
        start = time.monotonic()
        limit = min(doc.page_count, p.max_pages)
        for pno in range(limit):
            if time.monotonic() - start > p.max_seconds:
                pdf.warnings.append(f"stopped after {p.max_seconds:g} s at page {pno + 1} of {doc.page_count}; "
                                    "raise params.max_seconds to read the rest")
                break
            try:
                page = doc.load_page(pno)
                layout, raw = self._layout(page)
            except Exception as exc:  # noqa: BLE001 - a broken page must not lose the others
                pdf.pages.append(_Page(pno + 1, None, error=str(exc) or type(exc).__name__))
                pdf.warnings.append(f"page {pno + 1} could not be read: {exc}")
                continue
            undecodable = pt.undecodable_fraction(raw) > p.max_undecodable
            if undecodable:  # the glyphs are drawn but cannot be turned into text: OCR can read them
                pdf.warnings.append(f"page {pno + 1}: most glyphs have no Unicode mapping; treated as without text")
                layout.blocks = []
            chars = sum(len(line.text) - line.text.count(" ") for b in layout.blocks for line in b.lines)
            ocr = undecodable or (
                chars < p.ocr_max_chars and self._image_coverage(page) >= max(p.ocr_min_image_coverage, 1e-9))
            pdf.pages.append(_Page(pno + 1, layout, chars, ocr))
        else:
            if doc.page_count > p.max_pages:
                pdf.warnings.append(f"read the first {p.max_pages} of {doc.page_count} pages; "
                                    "raise params.max_pages to read them all")

    def _layout(self, page: Any) -> tuple[pt.PageLayout, str]:
        """The page's text blocks (in reading order) and its raw text, for the undecodable-glyph check.

        Right-to-left pages are read again at character level to put Arabic lam-alef ligatures,
        which MuPDF expands in visual order, back in logical order.
        """
        d = page.get_text("dict", flags=self._flags)
        blocks, raw = self._blocks(d, chars=False)
        rtl = pt.is_rtl(blocks)
        if rtl:
            d = page.get_text("rawdict", flags=self._flags)
            blocks, raw = self._blocks(d, chars=True)
        layout = pt.PageLayout(float(d.get("width", page.rect.width)), float(d.get("height", page.rect.height)))
        layout.blocks = pt.reading_order(blocks, rtl=rtl)
        return layout, raw

    @staticmethod
    def _blocks(d: dict, chars: bool) -> tuple[list[pt.Block], str]:
        """Text blocks and lines from pymupdf's dict (or rawdict, with ``chars``) output."""
        blocks: list[pt.Block] = []
        raw_parts: list[str] = []
        for b in d.get("blocks", ()):
            if b.get("type", 0) != 0:
                continue
            lines = []
            for line in b.get("lines", ()):
                if chars:
                    raw = "".join(pt.chars_text([(c["c"], c["bbox"][0], c["bbox"][2]) for c in s.get("chars", ())])
                                  for s in line.get("spans", ()))
                else:
                    raw = "".join(s.get("text", "") for s in line.get("spans", ()))
                raw_parts.append(raw)
                text = pt.clean_line(raw)
                if text:
                    x0, y0, x1, y1 = line["bbox"]
                    lines.append(pt.Line(x0, y0, x1, y1, text))
            if lines:
                x0, y0, x1, y1 = b["bbox"]
                blocks.append(pt.Block(x0, y0, x1, y1, lines))
        return blocks, "\n".join(raw_parts)

    @staticmethod
    def _image_coverage(page: Any) -> float:
        """Share of the page area covered by images (overlaps counted once per image, capped at 1)."""
        try:
            infos = page.get_image_info()
        except Exception:  # noqa: BLE001
            return 0.0
        area = abs(page.rect)
        if not infos or area <= 0:
            return 0.0
        covered = 0.0
        for info in infos:
            r = page.rect & info["bbox"]
            covered += 0.0 if r.is_empty else abs(r)
        return min(covered / area, 1.0)

    # -- text and rows ----------------------------------------------------------------------------
    def _emit(self, i: int, doc_id: str, pdf: _Pdf, kept: "_Rows", dropped: "_Rows", quarantine: tuple) -> int:
        """Clean the text and add the PDF's rows (one, or one per page); returns the rows produced."""
        p: PdfExtractParams = self.params  # type: ignore[assignment]
        if not pdf.pages:
            return self._no_pages(i, doc_id, pdf, kept, dropped, p)
        layouts = [pg.layout if pg.layout is not None else pt.PageLayout(0, 0) for pg in pdf.pages]
        if p.remove_headers_footers:
            pt.drop_lines(layouts, pt.find_running_lines(layouts))
        known = pt.compounds(layouts) if p.dehyphenate else set()
        texts = [pt.page_text(lay, known, p.reflow) if p.dehyphenate else _plain_page_text(lay, p.reflow)
                 for lay in layouts]
        no_text = [pg.number for pg in pdf.pages if pg.layout is not None and not pg.layout.has_text()]
        ocr = [pg.number for pg in pdf.pages if pg.needs_ocr]
        common = dict(title=pdf.title, author=pdf.author, page_count=pdf.page_count, warnings=pdf.warnings)
        if p.mode == "document":
            text = "\n\n".join(t for t in texts if t)
            if p.dehyphenate:
                text = pt.join_across_blocks(text, known)
            text = pt.finish(text)
            row = dict(src=i, id=doc_id, text=text, page=None, no_text=no_text, ocr=ocr, **common)
            self._place(row, kept, dropped, p, f"{doc_id}: page(s) {ocr[:10]} need OCR (scanned, or glyphs without "
                                                "a Unicode mapping); run an OCR pass on them"
                        if ocr else f"{doc_id}: no extractable text")
            return 1
        q_idx, q_ids, q_reasons, q_details, q_raw = quarantine
        produced = 0
        for pg, text in zip(pdf.pages, texts):
            page_id = f"{doc_id}#p{pg.number}"
            produced += 1
            if pg.error is not None:
                q_idx.append(i); q_ids.append(page_id); q_reasons.append("damaged_page")
                q_details.append(f"{page_id} could not be read: {pg.error}"); q_raw.append(None)
                continue
            if p.dehyphenate:
                text = pt.join_across_blocks(text, known)
            row = dict(src=i, id=page_id, text=pt.finish(text), page=pg.number,
                       no_text=[pg.number] if pg.number in no_text else [],
                       ocr=[pg.number] if pg.needs_ocr else [], **common)
            self._place(row, kept, dropped, p, f"{page_id} needs OCR (scanned, or glyphs without a Unicode "
                        "mapping); run an OCR pass on it"
                        if pg.needs_ocr else f"{page_id} has no extractable text")
        return produced

    def _no_pages(self, i: int, doc_id: str, pdf: _Pdf, kept: "_Rows", dropped: "_Rows", p: PdfExtractParams) -> int:
        """A PDF whose pages were all skipped (time budget spent before page 1): one empty row."""
        row = dict(src=i, id=doc_id, text="", page=None, no_text=[], ocr=[], title=pdf.title, author=pdf.author,
                   page_count=pdf.page_count, warnings=pdf.warnings)
        self._place(row, kept, dropped, p, f"{doc_id}: no page was read; " + "; ".join(pdf.warnings))
        return 1

    @staticmethod
    def _place(row: dict, kept: "_Rows", dropped: "_Rows", p: PdfExtractParams, detail: str) -> None:
        """Keep a row with text (or any row with keep_empty); drop the others as needs_ocr or no_text."""
        if row["text"] or p.keep_empty:
            kept.add(row)
        else:
            dropped.add(row, "needs_ocr" if row["ocr"] else "no_text", detail)


def _plain_page_text(layout: pt.PageLayout, reflow: bool) -> str:
    """Page text without dehyphenation (lines joined by a space, or kept)."""
    sep = " " if reflow else "\n"
    return "\n\n".join(sep.join(line.text for line in b.lines) for b in layout.blocks)


class _Rows:
    """Output rows of a batch: source row index, new id and text, and the columns the stage adds."""

    def __init__(self) -> None:
        """No rows yet."""
        self.src: list[int] = []
        self.cols: dict[str, list[Any]] = {k: [] for k in (
            "id", "text", "title", "author", "page_count", "pages_without_text", "ocr_pages", "needs_ocr",
            "pdf_warnings", "page")}
        self.reasons: list[str] = []
        self.details: list[str] = []

    def add(self, row: dict, reason: str | None = None, detail: str | None = None) -> None:
        """Append one output row."""
        self.src.append(row["src"])
        c = self.cols
        c["id"].append(row["id"]); c["text"].append(row["text"]); c["title"].append(row["title"])
        c["author"].append(row["author"]); c["page_count"].append(row["page_count"])
        c["pages_without_text"].append(row["no_text"]); c["ocr_pages"].append(row["ocr"])
        c["needs_ocr"].append(bool(row["ocr"])); c["pdf_warnings"].append(list(row["warnings"]))
        c["page"].append(row["page"])
        if reason is not None:
            self.reasons.append(reason)
            self.details.append(detail or "")

    def table(self, base: pa.Table, mode: str, with_reason: bool = False) -> pa.Table:
        """The rows as a table: the source rows' columns (id and text replaced) plus the added columns."""
        out = base.take(pa.array(self.src, pa.int64()))
        c = self.cols
        for name, values in (("id", c["id"]), ("text", c["text"])):
            arr = pa.array(values, pa.string())
            if name in out.column_names:
                out = out.set_column(out.column_names.index(name), name, arr)
            else:
                out = out.append_column(name, arr)
        added = {
            "title": pa.array(c["title"], pa.string()),
            "author": pa.array(c["author"], pa.string()),
            "page_count": pa.array(c["page_count"], pa.int32()),
            "pages_without_text": pa.array(c["pages_without_text"], pa.list_(pa.int32())),
            "ocr_pages": pa.array(c["ocr_pages"], pa.list_(pa.int32())),
            "needs_ocr": pa.array(c["needs_ocr"], pa.bool_()),
            "pdf_warnings": pa.array(c["pdf_warnings"], pa.list_(pa.string())),
        }
        if mode == "page":
            added["page"] = pa.array(c["page"], pa.int32())
        out = with_columns(out, added)
        if with_reason:
            out = out.append_column(REASON_COLUMN, pa.array(self.reasons, pa.string()))
            out = out.append_column(DETAIL_COLUMN, pa.array(self.details, pa.string()))
        return out

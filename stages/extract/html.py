"""Web page main-content extraction: raw HTML bytes to text, with title, date and language hint columns."""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from dataforge.schema import DETAIL_COLUMN, RAW_EXCERPT_CHARS, REASON_COLUMN, quarantine_table, with_columns
from dataforge.stage import BatchResult, StageParams, Transform

#: Columns this stage adds (or overwrites) on every row it emits.
OUTPUT_COLUMNS = ("title", "date", "html_lang")

#: ``<html lang=..>`` / ``xml:lang`` and ``<meta http-equiv="content-language">``, looked for in the page's head.
LANG_PREFIX_BYTES = 16384
_LANG_TAG = r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*"
HTML_LANG_RE = r"(?i)<html\b[^>]*?[\s:]lang\s*=\s*[\"']?(?P<lang>" + _LANG_TAG + ")"
META_LANG_RE = (r"(?i)<meta\b[^>]*?http-equiv\s*=\s*[\"']?content-language[\"']?[^>]*?content\s*=\s*[\"']?(?P<lang>"
                + _LANG_TAG + ")")

#: Signatures of common non-HTML payloads found behind text/html content types.
BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"), (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"RIFF", "a RIFF media file"), (b"\x7fELF", "an executable"), (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"), (b"OggS", "an Ogg media file"), (b"ID3", "an MP3 file"),
    (b"\x00asm", "a WebAssembly module"), (b"wOFF", "a web font"), (b"wOF2", "a web font"),
)
#: C0 control bytes other than tab, newlines, form feed and ESC (ISO-2022 pages use ESC).
_CONTROL = bytes([b for b in range(32) if b not in (9, 10, 11, 12, 13, 27)])
SNIFF_BYTES = 4096
#: Outcomes that are a property of the page (dropped); every other reason is quarantined as bad input.
DROP_REASONS = frozenset({"no_main_content"})
MAX_CONTROL_SHARE = 0.05


class HtmlExtractParams(StageParams):
    """How to extract; the defaults are trafilatura's own, except for comments (off, as in FineWeb)."""

    extractor: Literal["trafilatura", "resiliparse"] = Field(
        "trafilatura", description="trafilatura (precise) or resiliparse (about 10x faster, lower F1)")
    favor: Literal["balanced", "precision", "recall"] = Field(
        "balanced", description="trafilatura's precision/recall trade-off (FineWeb used precision)")
    fallbacks: bool = Field(True, description="trafilatura's fallback extractors (its default); off is its fast mode")
    include_tables: bool = Field(True, description="keep the text of <table> elements (trafilatura's default)")
    include_comments: bool = Field(False, description="keep user comment sections (FineWeb: off)")
    metadata: bool = Field(True, description="fill `title` and `date` (htmldate, fast search); off saves a few ms/page")
    max_html_bytes: int = Field(10 * 1024 * 1024, gt=0,
                                description="larger pages are quarantined as html_too_large")
    timeout_s: float | None = Field(
        10.0, gt=0, description="per-page time limit (extraction then runs in a child process); null: in-process, unlimited")
    html_field: str = Field("html", description="column holding the raw page (binary or string)")
    keep_html: bool = Field(False, description="keep the raw page column after extraction")


class HtmlExtract(Transform):
    """Extract the main text of web pages with trafilatura (or resiliparse), with title, date and language hint.

    Reads raw page bytes from ``html`` (the WARC and HTML readers put them there; any binary or
    string column works with ``html_field``) and writes ``text``, ``title``, ``date`` (ISO) and
    ``html_lang`` (the page's declared ``<html lang>`` or content-language, lowercase). The raw
    column is dropped afterwards unless ``keep_html``. Bytes go to the extractor undecoded: it
    detects the charset itself. Defaults are trafilatura 2.x's own (balanced, fallbacks on,
    tables on), except comments off (FineWeb's choice); trafilatura's in-memory deduplication is
    never enabled, as it would make output depend on how pages are spread over workers.

    Outcomes: no extractable main content -> dropped ``no_main_content``. Quarantined, with the
    fix in the detail: ``missing_html`` (null or absent column), ``empty_html``,
    ``html_too_large`` (over ``max_html_bytes``), ``not_html`` (binary data such as an image or
    PDF), ``extraction_timeout`` (over ``timeout_s``), ``extraction_crashed`` and
    ``extraction_error``. With ``timeout_s`` set, extraction runs in one child process per worker
    that is killed and restarted when a page runs over its limit; this is safe inside Ray workers.
    """

    name = "html_extract_v1"
    Params = HtmlExtractParams
    batch_size = 256
    stateful = True  # the extractor (and its child process) starts once per actor
    example = {"html_field": "text"}

    def __init__(self, params: Any = None, **kwargs: Any) -> None:
        """Store parameters; the extractor is built in setup()."""
        super().__init__(params, **kwargs)
        self._fn: Any = None
        self._runner: Any = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the parameters only: a copy sets itself up again."""
        state = dict(self.__dict__)
        state.update(_fn=None, _runner=None, _ready=False)
        return state

    def _config(self) -> Any:
        from dataforge.stages.extract.html_engines import ExtractorConfig

        p: HtmlExtractParams = self.params  # type: ignore[assignment]
        return ExtractorConfig(
            extractor=p.extractor, favor=p.favor, fallbacks=p.fallbacks, include_tables=p.include_tables,
            include_comments=p.include_comments, metadata=p.metadata, max_html_bytes=p.max_html_bytes,
        )

    def setup(self) -> None:
        """Build the extractor in-process, or start its time-limited child process."""
        p: HtmlExtractParams = self.params  # type: ignore[assignment]
        target = "dataforge.stages.extract.html_engines:make_extractor"
        if p.timeout_s is None:
            from dataforge.stages.extract.isolated import build

            self._fn = build(target, self._config())
        else:
            from dataforge.stages.extract.isolated import IsolatedRunner

            # The config travels as a plain dict, so the child imports nothing but its extractor.
            self._runner = IsolatedRunner(target, dataclasses.asdict(self._config()), timeout_s=p.timeout_s)
            self._runner.start()  # a missing dependency fails the run here, naming the fix

    def versions(self) -> dict[str, str]:
        """Versions of the extraction libraries."""
        from dataforge.stages.extract.html_engines import versions

        return versions(self.params.extractor)  # type: ignore[attr-defined]

    # -- the batch ---------------------------------------------------------------------------------
    def transform(self, batch: pa.Table) -> pa.Table | BatchResult:
        """Extract every row's page; keep, drop or quarantine each row.

        The pages go to the extractor as zero-copy views of the Arrow buffers (to the isolated
        child as one streamed batch).
        """
        p: HtmlExtractParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        if p.html_field not in batch.column_names:
            return self._all_missing(batch)
        if n == 0:
            return self._finish(batch, None, [], [], [], [], [], pa.array([], pa.string()))
        html = as_binary(batch.column(p.html_field))
        sizes = pc.binary_length(html)
        pre = pc.if_else(pc.is_null(sizes), "missing_html", pc.if_else(
            pc.equal(sizes, 0), "empty_html", pc.if_else(
                pc.greater(sizes, p.max_html_bytes), "html_too_large", pa.scalar(None, pa.string()))))
        reasons: list[str | None] = pre.to_pylist()
        details: list[str | None] = [None] * n
        todo: list[int] = []
        pages: list[memoryview] = []
        for i, page in enumerate(page_views(html)):
            if reasons[i] is not None:
                continue
            assert page is not None
            what = sniff_binary(page)
            if what is not None:
                reasons[i] = "not_html"
                details[i] = f"the payload is {what}, not an HTML page; filter it out by content type upstream"
                continue
            todo.append(i)
            pages.append(page)
        langs = html_lang(html)
        for i, reason in enumerate(reasons):
            if reason == "missing_html":
                details[i] = f"column {p.html_field!r} is null for this row; the reader found no page body"
            elif reason == "empty_html":
                details[i] = "the page has zero bytes (an empty HTTP body or file)"
            elif reason == "html_too_large":
                details[i] = (f"the page has {sizes[i].as_py()} bytes, over max_html_bytes={p.max_html_bytes}; "
                              f"raise {self.name} params.max_html_bytes to extract it")
        texts: list[str | None] = [None] * n
        titles: list[str | None] = [None] * n
        dates: list[str | None] = [None] * n
        for i, outcome in zip(todo, self._extract(pages)):
            if outcome.status == "ok":
                text, title, date = outcome.value
                if text is None or not text.strip():
                    reasons[i] = "no_main_content"
                    details[i] = f"{p.extractor} found no main content"
                else:
                    texts[i], titles[i], dates[i] = text, title, date
            elif outcome.status == "timeout":
                reasons[i] = "extraction_timeout"
                details[i] = (f"{p.extractor} ran past timeout_s={p.timeout_s:g} ({outcome.message}); raise "
                              f"{self.name} params.timeout_s if such pages matter")
            elif outcome.status == "crashed":
                reasons[i] = "extraction_crashed"
                details[i] = f"{outcome.message}; the page is kept here for a bug report to {p.extractor}"
            else:
                reasons[i] = "extraction_error"
                details[i] = f"{p.extractor} raised {outcome.message}"
        return self._finish(batch, html, reasons, details, texts, titles, dates, langs)

    def _extract(self, pages: list[memoryview]) -> Iterator[Any]:
        """Outcomes for the pages, in order (from the child: one streamed batch)."""
        if not pages:
            return iter(())
        if self._runner is not None:
            return self._runner.map(pages)
        from dataforge.stages.extract.isolated import call

        return (call(self._fn, bytes(page)) for page in pages)

    # -- output tables -----------------------------------------------------------------------------
    def _finish(
        self, batch: pa.Table, html: pa.ChunkedArray | None, reasons: list[str | None], details: list[str | None],
        texts: list[str | None], titles: list[str | None], dates: list[str | None], langs: pa.Array | pa.ChunkedArray,
    ) -> BatchResult:
        """Split the batch by outcome: kept rows get the output columns, the rest carry their reason."""
        n = batch.num_rows
        keep = pa.array([r is None for r in reasons], pa.bool_())
        kept = self._with_columns(batch.filter(keep), {
            "text": pc.filter(pa.array(texts, pa.string()), keep),
            "title": pc.filter(pa.array(titles, pa.string()), keep),
            "date": pc.filter(pa.array(dates, pa.string()), keep),
            "html_lang": pc.filter(langs, keep),
        })
        kept = self._drop_html(kept)
        dropped = None
        drop_idx = [i for i, r in enumerate(reasons) if r in DROP_REASONS]
        if drop_idx:
            take = pa.array(drop_idx, pa.int64())
            dropped = self._with_columns(batch.take(take), {"html_lang": pc.take(langs, take)})
            dropped = self._drop_html(dropped)
            dropped = dropped.append_column(REASON_COLUMN, pa.array([reasons[i] for i in drop_idx], pa.string()))
            dropped = dropped.append_column(DETAIL_COLUMN, pa.array([details[i] for i in drop_idx], pa.string()))
        quarantined = None
        q_idx = [i for i, r in enumerate(reasons) if r is not None and r not in DROP_REASONS]
        if q_idx:
            ids = batch.column("id").to_pylist() if "id" in batch.column_names else [None] * n
            sources = batch.column("source").to_pylist() if "source" in batch.column_names else [None] * n
            raws: list[str | None] = []
            for i in q_idx:
                page = html[i].as_py() if html is not None else None
                raws.append(page[: RAW_EXCERPT_CHARS * 2].decode("utf-8", "replace") if page else None)
            quarantined = quarantine_table(
                [ids[i] for i in q_idx], "", self.name, [str(reasons[i]) for i in q_idx],
                [str(details[i]) for i in q_idx], raws,
            )
            quarantined = quarantined.set_column(1, "source", pa.array([sources[i] for i in q_idx], pa.string()))
        return BatchResult(kept=kept, dropped=dropped, quarantined=quarantined)

    def _all_missing(self, batch: pa.Table) -> BatchResult:
        """Quarantine every row of a batch that has no HTML column at all."""
        p: HtmlExtractParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        detail = (f"the batch has no column {p.html_field!r}; read the input with input.format warc or html, or set "
                  f"{self.name} params.html_field to the column that holds the raw page")
        none: list[str | None] = [None] * n
        return self._finish(batch, None, ["missing_html"] * n, [detail] * n, none, none, none, pa.nulls(n, pa.string()))

    @staticmethod
    def _with_columns(batch: pa.Table, columns: dict[str, pa.Array]) -> pa.Table:
        """Set (replace or append) columns."""
        batch = with_columns(batch, columns)
        return batch

    def _drop_html(self, table: pa.Table) -> pa.Table:
        """Remove the raw page column unless it is kept (or is the text column itself)."""
        p: HtmlExtractParams = self.params  # type: ignore[assignment]
        if p.keep_html or p.html_field == "text" or p.html_field not in table.column_names:
            return table
        return table.drop_columns([p.html_field])


def as_binary(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """The page column as binary chunks, without copying binary data (strings are taken as their UTF-8 bytes)."""
    chunked = col if isinstance(col, pa.ChunkedArray) else pa.chunked_array([col])
    typ = chunked.type
    if pa.types.is_binary(typ):
        return chunked
    if pa.types.is_null(typ):
        return pa.chunked_array([pa.nulls(len(chunked), pa.binary())], pa.binary())
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_large_binary(typ):
        return pc.cast(chunked, pa.binary())
    raise TypeError(f"the HTML column has type {typ}; it must hold bytes or strings")


def page_views(html: pa.ChunkedArray) -> Iterator[memoryview | None]:
    """Each row's page as a zero-copy view of the Arrow data buffer (None for a null row); ``html`` is binary."""
    for chunk in html.chunks:
        n = len(chunk)
        if n == 0:
            continue
        validity, offsets_buf, data_buf = chunk.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=n + 1, offset=chunk.offset * 4).tolist()
        data = memoryview(data_buf) if data_buf is not None else memoryview(b"")
        valid = chunk.is_valid().to_pylist() if validity is not None else None
        for j in range(n):
            yield data[offsets[j]:offsets[j + 1]] if valid is None or valid[j] else None


def html_lang(html: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The language a page declares (``<html lang>``, ``xml:lang`` or content-language meta), lowercase; vectorised."""
    if len(html) == 0:
        return pa.array([], pa.string())
    head = pc.binary_slice(html, 0, LANG_PREFIX_BYTES)
    found = pc.struct_field(pc.extract_regex(head, HTML_LANG_RE), [0])
    meta = pc.struct_field(pc.extract_regex(head, META_LANG_RE), [0])
    lang = pc.cast(pc.coalesce(found, meta), pa.string())
    return pc.replace_substring(pc.utf8_lower(lang), "_", "-")


def sniff_binary(page: bytes | memoryview) -> str | None:
    """Say what a payload is when it is clearly not HTML (an image, a PDF, binary data); None otherwise."""
    head = bytes(page[:SNIFF_BYTES])
    for magic, what in BINARY_MAGIC:
        if head.startswith(magic):
            return what
    if head[:4] == b"\x00\x00\x00\x18" or head[4:8] == b"ftyp":
        return "an MP4/QuickTime media file"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None  # UTF-16 with a byte-order mark: text, left to the extractor
    if head[:2] == b"\x1f\x8b":
        return None  # a gzip-compressed page: the extractors decompress it
    control = len(head) - len(head.translate(None, _CONTROL))
    if head and control / len(head) > MAX_CONTROL_SHARE:
        return f"binary data ({control} control bytes in the first {len(head)})"
    return None

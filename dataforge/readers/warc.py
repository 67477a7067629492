"""WARC and ARC reader (plain or gzip, through warcio): HTML responses become documents with the raw page in ``html``.

What becomes a document: every ``response`` record whose HTTP status is 2xx and whose content
type is HTML (``text/html``, ``application/xhtml+xml``; the HTTP header first, then Common
Crawl's ``WARC-Identified-Payload-Type``; an untyped payload that starts like HTML counts too).
Its raw payload bytes (transfer and content encodings undone, charset untouched) go to the
binary column ``html``; ``text`` stays null until ``html_extract_v1``. ``url`` is the
WARC-Target-URI, ``domain`` its host, and ``metadata`` holds the record id, crawl date
(WARC-Date), file and offset, HTTP status and a bounded copy of the HTTP headers.

What is not counted: requests, metadata, warcinfo, revisit and resource records, and responses
that are not HTML or not 2xx are not documents. They are skipped and do **not** count as input
rows, so a run's ``input`` is the number of HTML responses (plus damaged records, below).

Damage is quarantined, never fatal: a record that cannot be parsed, a record whose
Content-Length is invalid or does not match its data, a payload cut short by a truncated file,
a corrupt or truncated gzip member, an oversized page (over ``input.max_text_bytes``), or a file
that is not a WARC at all. Each becomes one quarantined row whose id is ``file:offset`` and whose
detail names the fix. Reading then resumes at the next intact record (the next gzip member, or
the next ``WARC/1.x`` header in a plain file), so good records before and after the damage are
kept. Gzip files written as one stream instead of one member per record, and files whose
members do not align with records, are read correctly as a continuous stream.

Ids: the WARC-Record-ID (``urn:uuid:...``), which is stable whatever the split; ARC records
(whose ids warcio would invent at random) and WARC records without one use
``file:offset``, the record's byte offset in the file (for gzip, the offset of its gzip member
as in Common Crawl's index; ``file:member+delta`` when a member holds several records).

Splitting: a ``.warc.gz`` or ``.warc`` file larger than ``input.split_bytes`` is cut into
units at record boundaries found in ``plan()`` by looking near each cut point for the next gzip
member (or plain ``WARC/1.x`` header) that holds a valid record header, without reading the
file through. Memory does not grow with file size: records stream through, a page is held only
up to ``input.max_text_bytes``, and a batch holds at most ``batch_bytes`` of pages.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from dataforge.readers.base import ReadBatch, Reader, Unit
from dataforge.readers.files import FileInfo, bare, open_random
from dataforge.readers.html import host_of
from dataforge.schema import conform, empty_documents, quarantine_table

#: The column that carries the raw page to ``html_extract_v1``.
HTML_COLUMN = "html"
GZIP_MAGIC = b"\x1f\x8b\x08"
#: How far past a cut point plan() looks for the next record boundary before giving up on that cut.
SPLIT_SEARCH_BYTES = 64 * 1024 * 1024
#: How far into a file that does not open with a record the reader looks for a first one.
HEAD_SEARCH_BYTES = 1024 * 1024
_READ_BLOCK = 1 << 20
_WARC_START = re.compile(rb"WARC/\d\.\d+\r?\n")
#: An ARC record header line: URL, IP, 14-digit date, MIME type, (v2 fields,) length.
_ARC_LINE = re.compile(rb"[a-z][a-z0-9+.-]*://[^\s]+ [^\s]+ \d{14} [^\s]+(?: [^\s]+)* (\d+)\r?\n")
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S)
_LENGTH = re.compile(r"^\d+$")


class WarcOptions(BaseModel):
    """``input.options`` of the WARC reader."""

    model_config = ConfigDict(extra="forbid")
    content_types: list[str] = Field(["text/html", "application/xhtml+xml"],
                                     description="MIME types that make a response a document")
    only_2xx: bool = Field(True, description="skip responses whose HTTP status is not 2xx (redirects, errors)")
    sniff_untyped: bool = Field(True, description="take responses without a content type when the payload starts like HTML")
    max_header_bytes: int = Field(8192, ge=0, description="bound on the HTTP headers kept in metadata (JSON bytes)")
    batch_bytes: int = Field(32 * 1024 * 1024, gt=0, description="page bytes held in one batch")


class CorruptInput(Exception):
    """Damage found while decoding the byte stream: a reason (snake_case) and a detail for the user."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# ------------------------------------------------------------------------------------------------
# Byte streams over one unit: plain ranges and continuous multi-member gzip
# ------------------------------------------------------------------------------------------------


class RangeStream:
    """Reads ``[start, limit)`` of a seekable file; ``tell()`` is the absolute offset."""

    def __init__(self, raw: BinaryIO, start: int, limit: int) -> None:
        self.raw = raw
        self.pos = start
        self.limit = limit
        raw.seek(start)

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes, never past the limit."""
        left = self.limit - self.pos
        if left <= 0:
            return b""
        n = left if n is None or n < 0 else min(n, left)
        data = self.raw.read(n)
        self.pos += len(data)
        return data

    def tell(self) -> int:
        """Absolute offset of the next byte."""
        return self.pos

    def member_at(self, offset: int) -> tuple[int, int]:
        """(file offset, delta) locating a stream offset; in a plain file that is the offset itself."""
        return offset, 0


class GzipStream:
    """Decompresses the gzip members in ``[start, limit)`` as one continuous stream.

    ``tell()`` counts decompressed bytes from ``start``; ``member_at`` maps a decompressed
    offset back to the file offset of the gzip member holding it. Corrupt data and a stream cut
    short raise CorruptInput (never EOFError, which warcio takes for a clean end).
    """

    def __init__(self, raw: BinaryIO, start: int, limit: int) -> None:
        self.src = RangeStream(raw, start, limit)
        self.buf = b""
        self.buf_pos = start  # file offset of buf[0]
        self.dec: Any = None
        self.dpos = 0
        self.members: list[tuple[int, int]] = []  # (decompressed start, file offset) per member begun

    def _fill(self) -> bool:
        data = self.src.read(_READ_BLOCK)
        if not data:
            return False
        self.buf = self.buf + data if self.buf else data
        return True

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` decompressed bytes; b"" at the clean end of the last member."""
        n = _READ_BLOCK if n is None or n < 0 else n
        while True:
            if self.dec is None:
                if len(self.buf) < 3 and not self._fill() and not self.buf:
                    return b""
                while len(self.buf) < 3 and self._fill():
                    pass
                if not self.buf.startswith(GZIP_MAGIC):
                    rest = self.buf + self.src.read(1 << 16)
                    if not rest.strip(b"\x00\r\n\t "):
                        self.buf = b""
                        return b""  # zero or whitespace padding after the last member
                    raise CorruptInput(
                        "corrupt_gzip",
                        f"bytes at offset {self.buf_pos} are not a gzip member (they start {rest[:12]!r}); "
                        "the file is damaged or not gzip-compressed WARC data",
                    )
                self.dec = zlib.decompressobj(31)
                self.members.append((self.dpos, self.buf_pos))
                if len(self.members) > 64:
                    del self.members[:-64]
            if not self.buf and not self._fill():
                member = self.members[-1][1]
                raise CorruptInput(
                    "truncated_file",
                    f"the file ends inside the gzip member at offset {member}; the download or copy was cut "
                    "short, fetch the file again",
                )
            try:
                out = self.dec.decompress(self.buf, n)
            except zlib.error as exc:
                member = self.members[-1][1]
                raise CorruptInput(
                    "corrupt_gzip", f"the gzip member at offset {member} is corrupt ({exc}); the file is damaged"
                ) from None
            rest = self.dec.unused_data if self.dec.eof else self.dec.unconsumed_tail
            self.buf_pos += len(self.buf) - len(rest)
            self.buf = rest
            if self.dec.eof:
                self.dec = None
            if out:
                self.dpos += len(out)
                return out
            if self.dec is not None and not self.buf and not self._fill():
                member = self.members[-1][1]
                raise CorruptInput(
                    "truncated_file",
                    f"the file ends inside the gzip member at offset {member}; the download or copy was cut "
                    "short, fetch the file again",
                )

    def tell(self) -> int:
        """Decompressed bytes handed out so far."""
        return self.dpos

    def member_at(self, offset: int) -> tuple[int, int]:
        """(file offset of the member holding decompressed ``offset``, offset within that member)."""
        best = self.members[0] if self.members else (0, self.src.pos)
        for m in self.members:
            if m[0] <= offset:
                best = m
            else:
                break
        return best[1], offset - best[0]


def _header_ok(head: bytes, arc: bool) -> bool:
    """Whether decompressed bytes start with a WARC record header (with a Content-Length) or an ARC header line."""
    if arc:
        return _ARC_LINE.match(head) is not None
    if not _WARC_START.match(head):
        return False
    end = head.find(b"\r\n\r\n")
    return b"\ncontent-length:" in (head if end < 0 else head[:end]).lower()


def _is_gzip_record(raw: BinaryIO, pos: int, arc: bool) -> bool:
    """Whether a gzip member starting at ``pos`` begins with a record header."""
    raw.seek(pos)
    head = raw.read(1 << 16)
    if not head.startswith(GZIP_MAGIC) or len(head) < 4 or head[3] & 0xE0:
        return False
    try:
        out = zlib.decompressobj(31).decompress(head, 4096)
    except zlib.error:
        return False
    return _header_ok(out, arc)


def _is_plain_record(raw: BinaryIO, pos: int, size: int, arc: bool) -> bool:
    """Whether a record starts at ``pos`` of a plain file: its header parses and its length lands on the next record."""
    if pos > 0:
        raw.seek(pos - 1)
        if raw.read(1) != b"\n":
            return False
    raw.seek(pos)
    head = raw.read(1 << 16)
    if arc:
        m = _ARC_LINE.match(head)
        if not m:
            return False
        after, sep, nxt = pos + m.end() + int(m.group(1)), b"\n", _ARC_LINE
    else:
        if not _header_ok(head, arc=False):
            return False
        end = head.find(b"\r\n\r\n")
        m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head[:end])
        if not m:
            return False
        after, sep, nxt = pos + end + 4 + int(m.group(1)), b"\r\n\r\n", _WARC_START
    if after > size:
        return False
    raw.seek(after)
    tail = raw.read(len(sep) + 4096)
    if not tail.startswith(sep):
        return False
    rest = tail[len(sep):].lstrip(b"\r\n")
    return not rest or nxt.match(rest) is not None


def find_record_start(
    raw: BinaryIO, start: int, size: int, gz: bool, arc: bool = False, window: int = SPLIT_SEARCH_BYTES
) -> int | None:
    """The first offset at or after ``start`` (looking ``window`` bytes ahead) where an intact record begins, or None."""
    pos = start
    end = min(size, start + window)
    needle = GZIP_MAGIC if gz else (b"://" if arc else b"WARC/")
    carry = b""
    while pos < end:
        raw.seek(pos)
        block = raw.read(min(_READ_BLOCK, end - pos))
        if not block:
            return None
        data = carry + block
        base = pos - len(carry)
        i = data.find(needle)
        while i >= 0:
            if gz:
                cand = base + i
                ok = cand >= start and _is_gzip_record(raw, cand, arc)
            else:
                line = data.rfind(b"\n", 0, i) + 1 if arc else i  # an ARC header line starts before its "://"
                cand = base + line
                ok = cand >= start and (line > 0 or base == 0 or arc is False) and _is_plain_record(raw, cand, size, arc)
            if ok:
                return cand
            i = data.find(needle, i + 1)
        carry = data[-4096:] if arc else data[-(len(needle) - 1):]
        pos += len(block)
    return None


def _sniff_gzip(raw: BinaryIO, pos: int) -> bool:
    raw.seek(pos)
    return raw.read(2) == GZIP_MAGIC[:2]


# ------------------------------------------------------------------------------------------------
# warcio, with its stderr warnings turned into data
# ------------------------------------------------------------------------------------------------


def _archive_iterator(stream: Any) -> Any:
    """A warcio ArchiveIterator (ARC converted to WARC) that records, instead of prints, misplaced record ends."""
    from warcio.archiveiterator import ArchiveIterator

    class _Iterator(ArchiveIterator):
        """ArchiveIterator whose 'record not followed by newline' warnings land in ``self.problems``."""

        problems: list[int]

        def _consume_blanklines(self) -> tuple[bytes | None, int]:
            empty_size = 0
            first_line = True
            while True:
                line = self.reader.readline()
                if len(line) == 0:
                    return None, empty_size
                stripped = line.rstrip()
                if len(stripped) == 0 or first_line:
                    empty_size += len(line)
                    if len(stripped) != 0:
                        self.problems.append(self.fh.tell() - self.reader.rem_length() - empty_size)
                        self.err_count += 1
                    first_line = False
                    continue
                return line, empty_size

    it = _Iterator(stream, arc2warc=True)
    it.problems = []
    return it


# ------------------------------------------------------------------------------------------------
# The reader
# ------------------------------------------------------------------------------------------------


@dataclass
class _Pending:
    """Rows collected for the next batch."""

    ids: list[str] = field(default_factory=list)
    urls: list[str | None] = field(default_factory=list)
    domains: list[str | None] = field(default_factory=list)
    meta: list[str] = field(default_factory=list)
    pages: list[bytes] = field(default_factory=list)
    held: int = 0
    bad: list[tuple[str, str, str, str | None]] = field(default_factory=list)  # id, reason, detail, raw

    def clear(self) -> None:
        """Forget the rows handed out in a batch."""
        self.__init__()  # type: ignore[misc]


class WarcReader(Reader):
    """Reads WARC/ARC files (plain or gzip) into one document per HTML response, raw page in ``html``."""

    format = "warc"
    extensions = (".warc", ".warc.gz", ".arc", ".arc.gz")
    Options = WarcOptions

    # -- planning ----------------------------------------------------------------------------------
    def plan(self, files: list[FileInfo]) -> list[Unit]:
        """One unit per file, except WARC files over ``split_bytes``, cut at record boundaries."""
        units: list[Unit] = []
        step = self.spec.split_bytes
        for f in files:
            name = bare(f.path).lower()
            if f.size <= step or not name.endswith((".warc", ".warc.gz")):
                units.append(Unit(len(units), f.path, f.relpath, 0, -1, f.size, f.mtime_ns))
                continue
            cuts = self._cuts(f, step)
            bounds = [0, *cuts]
            for k, s in enumerate(bounds):
                e = bounds[k + 1] if k + 1 < len(bounds) else -1
                units.append(Unit(len(units), f.path, f.relpath, s, e, f.size, f.mtime_ns))
        return units

    @staticmethod
    def _cuts(f: FileInfo, step: int) -> list[int]:
        """Record boundaries near every multiple of ``step`` (none if the file cannot be split)."""
        cuts: list[int] = []
        try:
            with open_random(f.path) as raw:
                gz = _sniff_gzip(raw, 0)
                target = step
                while target < f.size:
                    start = max(target, cuts[-1] + 1 if cuts else 1)
                    pos = find_record_start(raw, start, f.size, gz)
                    if pos is None or pos >= f.size:
                        break
                    cuts.append(pos)
                    target = max(target + step, pos + 1)
        except OSError:
            return []  # unreadable: one unit, which quarantines itself when read
        return cuts

    # -- reading -----------------------------------------------------------------------------------
    def read(self, unit: Unit) -> Iterator[ReadBatch]:
        """Stream the unit's HTML responses as batches; damage is quarantined and reading resumes after it."""
        opts: WarcOptions = self.options  # type: ignore[assignment]
        pending = _Pending()
        self._yielded = False
        try:
            raw = open_random(unit.path)
        except OSError as exc:
            pending.bad.append((f"{unit.relpath}:0", "unreadable_file",
                                f"{unit.path} could not be opened: {exc}; check the path and its permissions", None))
            yield self._batch(pending)
            return
        with raw:
            size = raw.size() if hasattr(raw, "size") else unit.size
            limit = size if unit.end < 0 else unit.end
            if size == 0:
                pending.bad.append((f"{unit.relpath}:0", "empty_file",
                                    f"{unit.path} has zero bytes; re-download it or remove it from the input", None))
            pos: int | None = unit.start
            gz = _sniff_gzip(raw, unit.start) if size else False
            head = self._peek(raw, unit.start, gz) if size else b""
            is_arc = head.lstrip().startswith(b"filedesc://") or _ARC_LINE.match(head.lstrip()) is not None
            if head and not is_arc and not _WARC_START.match(head.lstrip()):
                pos, is_arc = self._first_record(raw, unit, limit, gz, head, pending)
            while pos is not None and pos < limit:
                stream: Any = GzipStream(raw, pos, limit) if gz else RangeStream(raw, pos, limit)
                failure = yield from self._records(unit, stream, pending, is_arc, opts)
                if failure is None:
                    break
                pos = find_record_start(raw, failure + 1, limit, gz, is_arc, window=max(0, limit - failure - 1))
                if pending.bad:  # say how much the damage cost
                    rid, reason, detail, excerpt = pending.bad[-1]
                    if pos is None:
                        detail += f"; no intact record follows, so bytes {failure}-{limit} were skipped"
                    else:
                        detail += f"; reading resumed at offset {pos} (bytes {failure}-{pos} skipped)"
                    pending.bad[-1] = (rid, reason, detail, excerpt)
        if pending.ids or pending.bad or not self._yielded:
            yield self._batch(pending)  # at least one batch per unit, so empty shards keep the schema

    @staticmethod
    def _first_record(
        raw: BinaryIO, unit: Unit, limit: int, gz: bool, head: bytes, pending: _Pending
    ) -> tuple[int | None, bool]:
        """Where reading starts when the unit does not open with a record: after leading junk, or nowhere."""
        for arc in (False, True):
            pos = find_record_start(raw, unit.start + 1, limit, gz, arc, window=HEAD_SEARCH_BYTES)
            if pos is not None:
                pending.bad.append((f"{unit.relpath}:{unit.start}", "corrupt_record",
                                    f"bytes {unit.start}-{pos} are not a WARC or ARC record (they start with "
                                    f"{head.lstrip()[:40]!r}); they were skipped and reading resumed at offset {pos}",
                                    None))
                return pos, arc
        pending.bad.append((f"{unit.relpath}:{unit.start}", "not_a_warc_file",
                            f"{unit.relpath} does not start with a WARC or ARC record (it starts with "
                            f"{head.lstrip()[:40]!r}) and none follows; input.format: warc reads only web archives",
                            None))
        return None, False

    @staticmethod
    def _peek(raw: BinaryIO, start: int, gz: bool) -> bytes:
        """The first (decompressed) bytes at ``start``, enough to tell WARC from ARC from anything else."""
        raw.seek(start)
        head = raw.read(1 << 16)
        if gz:
            try:
                head = zlib.decompressobj(31).decompress(head, 4096)
            except zlib.error:
                return b""
        return head[:4096]

    def _records(
        self, unit: Unit, stream: Any, pending: _Pending, is_arc: bool, opts: WarcOptions
    ) -> Iterator[ReadBatch]:
        """Read records from ``stream`` into ``pending``; return the file offset of damage, or None at a clean end."""
        from warcio.exceptions import ArchiveLoadFailed
        from warcio.statusandheaders import StatusAndHeadersParserException

        it = _archive_iterator(stream)
        max_bytes = self.spec.max_text_bytes
        current = it.offset
        while True:
            current = it.offset
            try:
                record = next(it)
            except StopIteration:
                return None
            except CorruptInput as exc:
                self._damage(unit, stream, current, pending, exc.reason, exc.detail)
                return stream.member_at(current)[0]
            except (ArchiveLoadFailed, StatusAndHeadersParserException, ValueError, EOFError, OSError) as exc:
                reason = "corrupt_record"
                detail = f"the record could not be parsed ({_one_line(exc)}); the file is damaged here"
                self._damage(unit, stream, current, pending, reason, detail)
                return stream.member_at(current)[0]
            try:
                row = self._record(unit, stream, it, record, current, is_arc, opts, max_bytes)
                it.read_to_end()
            except CorruptInput as exc:
                self._damage(unit, stream, current, pending, exc.reason, exc.detail)
                return stream.member_at(current)[0]
            except (ArchiveLoadFailed, StatusAndHeadersParserException, ValueError, EOFError, OSError) as exc:
                self._damage(unit, stream, current, pending, "corrupt_record",
                             f"the record could not be read ({_one_line(exc)}); the file is damaged here")
                return stream.member_at(current)[0]
            if it.problems and (row is None or row[0] == "doc"):
                it.problems.clear()
                self._damage(unit, stream, current, pending, "bad_content_length",
                             "the record is not followed by the blank line that ends a record: its Content-Length does "
                             "not match its data, so its payload may be cut or include the next bytes; re-fetch or "
                             "repair the file (e.g. `warcio recompress`)")
            elif row is not None:
                it.problems.clear()
                kind, payload = row
                if kind == "doc":
                    doc_id, url, domain, meta, page = payload
                    pending.ids.append(doc_id)
                    pending.urls.append(url)
                    pending.domains.append(domain)
                    pending.meta.append(meta)
                    pending.pages.append(page)
                    pending.held += len(page)
                else:
                    pending.bad.append(payload)
            if len(pending.ids) >= self.spec.batch_rows or pending.held >= opts.batch_bytes:
                yield self._batch(pending)
                pending.clear()

    def _damage(self, unit: Unit, stream: Any, offset: int, pending: _Pending, reason: str, detail: str) -> None:
        pending.bad.append((self._offset_id(unit, stream, offset), reason, detail, None))

    @staticmethod
    def _offset_id(unit: Unit, stream: Any, offset: int) -> str:
        """``file:offset`` (plain), ``file:member`` or ``file:member+delta`` (gzip) for a stream offset."""
        member, delta = stream.member_at(offset)
        return f"{unit.relpath}:{member}" + (f"+{delta}" if delta else "")

    def _record(
        self, unit: Unit, stream: Any, it: Any, record: Any, offset: int, is_arc: bool, opts: WarcOptions, max_bytes: int
    ) -> tuple[str, Any] | None:
        """Turn one record into ("doc", fields), ("bad", quarantine row) or None (not a document)."""
        headers = record.rec_headers
        declared = headers.get_header("Content-Length")
        if declared is None or not _LENGTH.match(declared.strip()):
            return "bad", (self._offset_id(unit, stream, offset), "bad_content_length",
                           f"the {record.rec_type or 'unknown'} record declares Content-Length {declared!r}, which is not a "
                           "byte count; its data cannot be delimited", None)
        if record.rec_type != "response":
            return None
        http = record.http_headers
        status = None
        if http is not None:
            code = http.get_statuscode()
            status = int(code) if code and code.isdigit() else None
            if opts.only_2xx and status is not None and not 200 <= status < 300:
                return None
        ctype = (http.get_header("Content-Type") if http is not None else None) or headers.get_header(
            "WARC-Identified-Payload-Type")
        mime = ctype.split(";", 1)[0].strip().lower() if ctype else ""
        if mime and mime not in opts.content_types:
            return None
        real = record.raw_stream
        body = real.read(max_bytes + 1)
        left = getattr(real, "limit", 0)
        if len(body) > max_bytes:
            return "bad", (self._offset_id(unit, stream, offset), "html_too_large",
                           f"the page is larger than input.max_text_bytes={max_bytes}; raise it to read such pages",
                           body[:4000].decode("utf-8", "replace"))
        if left > 0:
            return "bad", (self._offset_id(unit, stream, offset), "truncated_record",
                           f"the file ends {left} bytes before the end of this record (Content-Length {declared}); "
                           "the file was cut short, fetch it again", body[:4000].decode("utf-8", "replace"))
        page = _decode_payload(record, body, max_bytes)
        if not mime and not (opts.sniff_untyped and _HTML_START.match(page[:4096])):
            return None
        record_id = headers.get_header("WARC-Record-ID")
        record_id = record_id.strip().strip("<>") if record_id and not is_arc else None
        doc_id = record_id or self._offset_id(unit, stream, offset)
        url = headers.get_header("WARC-Target-URI")
        url = url.strip().strip("<>") if url else None
        domain = host_of(url)
        meta: dict[str, Any] = {
            "warc_record_id": record_id,
            "warc_date": headers.get_header("WARC-Date"),
            "warc_file": unit.relpath,
            "warc_offset": self._offset_id(unit, stream, offset).rsplit(":", 1)[1],
            "http_status": status,
            "content_type": ctype,
        }
        truncated = headers.get_header("WARC-Truncated")
        if truncated:
            meta["warc_truncated"] = truncated
        ip = headers.get_header("WARC-IP-Address")
        if ip:
            meta["ip"] = ip
        if http is not None and opts.max_header_bytes:
            meta["http_headers"] = _bounded_headers(http.headers, opts.max_header_bytes)
        meta = {k: v for k, v in meta.items() if v is not None}
        return "doc", (doc_id, url, domain, json.dumps(meta, ensure_ascii=False), page)

    def _batch(self, pending: _Pending) -> ReadBatch:
        self._yielded = True
        source = self.spec.source or self.format
        n = len(pending.ids)
        docs = conform(pa.table({
            "id": pa.array(pending.ids, pa.string()),
            "source": pa.array([source] * n, pa.string()),
            "url": pa.array(pending.urls, pa.string()),
            "domain": pa.array(pending.domains, pa.string()),
            "metadata": pa.array(pending.meta, pa.string()),
            HTML_COLUMN: pa.array(pending.pages, pa.binary()),
        })) if n else conform(empty_documents().append_column(HTML_COLUMN, pa.array([], pa.binary())))
        quarantined = None
        if pending.bad:
            bad = pending.bad
            quarantined = quarantine_table([b[0] for b in bad], "", "read", [b[1] for b in bad],
                                           [b[2] for b in bad], [b[3] for b in bad])
            quarantined = quarantined.set_column(
                1, "source", pa.array([b[0].rsplit(":", 1)[0] for b in bad], pa.string()))
        return ReadBatch(docs, quarantined)


def _decode_payload(record: Any, body: bytes, max_bytes: int) -> bytes:
    """Undo chunked transfer and gzip/deflate/br content encodings; on failure keep the bytes as stored."""
    import io

    http = record.http_headers
    if http is None:
        return body
    chunked = (http.get_header("Transfer-Encoding") or "").lower() == "chunked"
    encoding = (http.get_header("Content-Encoding") or "").lower().strip()
    if not chunked and encoding in ("", "identity"):
        return body
    real = record.raw_stream
    record.raw_stream = io.BytesIO(body)
    try:
        decoded = record.content_stream().read(max_bytes + 1)
        return decoded if decoded and len(decoded) <= max_bytes else body
    except Exception:  # noqa: BLE001 - a broken encoding leaves the stored bytes (the extractor may cope)
        return body
    finally:
        record.raw_stream = real


def _bounded_headers(headers: list[tuple[str, str]], budget: int) -> dict[str, str]:
    """HTTP headers as a dict, each value clipped to 1,000 characters, stopping before ``budget`` JSON bytes."""
    out: dict[str, str] = {}
    used = 2
    for name, value in headers:
        value = value[:1000]
        cost = len(json.dumps(name)) + len(json.dumps(value)) + 2
        if used + cost > budget:
            break
        if name in out:
            out[name] = out[name] + ", " + value
        else:
            out[name] = value
        used += cost
    return out


def _one_line(exc: BaseException) -> str:
    """An exception as one short line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"

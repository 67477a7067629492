"""HTML reader: folders or globs of ``.html``/``.htm`` files (gzip too), one document per file, raw bytes in ``html``.

The document id is the file's relative path; ``url`` comes from an optional ``url_map`` (a JSONL
file of ``{"file": ..., "url": ...}`` objects, or a TSV of ``file<TAB>url`` lines, matched by
relative path, then file name, then name without ``.gz``), else it is null. ``text`` stays null
until ``html_extract_v1``, which reads the ``html`` column. (HTML that already sits in a column
of JSONL or Parquet input needs no reader: point ``html_extract_v1`` at it with ``html_field``.)

Files are grouped into units of up to ``files_per_unit`` files and about ``input.split_bytes``
bytes, so a folder of many small pages is not one shard per file; the grouping depends only on
the sorted file list. Bad files never stop a run: zero-byte files (``empty_file``), files over
``input.max_text_bytes`` (``html_too_large``) and unreadable or corrupt-gzip files
(``unreadable_file``) are quarantined with the fix.
"""

from __future__ import annotations

import json
from typing import Any, Iterator
from urllib.parse import urlsplit

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from dataforge.readers.base import FileGroupUnit, ReadBatch, Reader, Unit, plan_file_groups
from dataforge.readers.files import FileInfo, open_input
from dataforge.schema import conform, empty_documents, quarantine_table

#: The column that carries the raw page to ``html_extract_v1``.
HTML_COLUMN = "html"


class HtmlOptions(BaseModel):
    """``input.options`` of the HTML reader."""

    model_config = ConfigDict(extra="forbid")
    url_map: str | None = Field(None, description="JSONL ({file, url} per line) or TSV (file<TAB>url) giving each page's URL")
    files_per_unit: int = Field(1024, ge=1, description="files per shard (a shard also stops at input.split_bytes)")
    batch_bytes: int = Field(32 * 1024 * 1024, gt=0, description="page bytes held in one batch")


class HtmlReader(Reader):
    """Reads HTML files as one document per file with the raw bytes in ``html``; bad files are quarantined."""

    format = "html"
    extensions = (".html", ".htm", ".xhtml", ".html.gz", ".htm.gz", ".xhtml.gz")
    Options = HtmlOptions

    def plan(self, files: list[FileInfo]) -> list[Unit]:
        """Group the sorted files into units of ``files_per_unit`` files and about ``split_bytes`` bytes."""
        return plan_file_groups(files, self.options.files_per_unit, self.spec.split_bytes)  # type: ignore[attr-defined]

    def read(self, unit: Unit) -> Iterator[ReadBatch]:
        """Yield the unit's pages in batches bounded by ``batch_bytes`` and ``input.batch_rows``."""
        opts: HtmlOptions = self.options  # type: ignore[assignment]
        members = FileGroupUnit.members_of(unit)
        urls = self._urls()
        rows: list[tuple[str, str | None, bytes]] = []
        bad: list[tuple[str, str, str, str | None]] = []
        held = 0
        for path, relpath, _, _ in members:
            data, problem = self._load(path, relpath)
            if problem is not None:
                bad.append(problem)
                continue
            assert data is not None
            if rows and (held + len(data) > opts.batch_bytes or len(rows) >= self.spec.batch_rows):
                yield self._batch(rows, bad)
                rows, bad, held = [], [], 0
            rows.append((relpath, _lookup(urls, relpath), data))
            held += len(data)
        if rows or bad:
            yield self._batch(rows, bad)

    def _load(self, path: str, relpath: str) -> tuple[bytes | None, tuple[str, str, str, str | None] | None]:
        """Read one page (decompressing ``.gz``), or say why it is quarantined (id, reason, detail, raw)."""
        limit = self.spec.max_text_bytes
        try:
            with open_input(path) as fh:
                data = read_bounded(fh, limit + 1)
        except (OSError, EOFError, ValueError) as exc:
            return None, (relpath, "unreadable_file",
                          f"{path} could not be read ({type(exc).__name__}: {exc}); check the file (a damaged .gz?) "
                          "and its permissions", None)
        if not data:
            return None, (relpath, "empty_file", f"{path} has zero bytes; re-download it or remove it from the input", None)
        if len(data) > limit:
            return None, (relpath, "html_too_large",
                          f"{path} is larger than input.max_text_bytes={limit}; raise it to read such pages",
                          data[:4000].decode("utf-8", "replace"))
        return data, None

    def _urls(self) -> dict[str, str]:
        """The url_map as {key: url}, loaded once per reader."""
        cached = getattr(self, "_url_cache", None)
        if cached is not None:
            return cached
        opts: HtmlOptions = self.options  # type: ignore[assignment]
        out: dict[str, str] = {}
        if opts.url_map:
            with open_input(opts.url_map) as fh:
                text = fh.read().decode("utf-8")
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                if line.lstrip().startswith("{"):
                    try:
                        obj = json.loads(line)
                        out[str(obj["file"])] = str(obj["url"])
                    except (json.JSONDecodeError, KeyError, TypeError) as exc:
                        raise ValueError(f"input.options.url_map {opts.url_map}: line {n} is not "
                                         f'{{"file": ..., "url": ...}} ({exc})') from None
                else:
                    name, sep, url = line.partition("\t")
                    if not sep:
                        raise ValueError(f"input.options.url_map {opts.url_map}: line {n} is not file<TAB>url")
                    out[name.strip()] = url.strip()
        self._url_cache = out
        return out

    def _batch(self, rows: list[tuple[str, str | None, bytes]], bad: list[tuple[str, str, str, str | None]]) -> ReadBatch:
        source = self.spec.source or self.format
        if rows:
            docs = conform(pa.table({
                "id": pa.array([r[0] for r in rows], pa.string()),
                "source": pa.array([source] * len(rows), pa.string()),
                "url": pa.array([r[1] for r in rows], pa.string()),
                "domain": pa.array([host_of(r[1]) for r in rows], pa.string()),
                "metadata": pa.array([json.dumps({"file": r[0], "bytes": len(r[2])}, ensure_ascii=False) for r in rows],
                                     pa.string()),
                HTML_COLUMN: pa.array([r[2] for r in rows], pa.binary()),
            }))
        else:
            docs = conform(empty_documents().append_column(HTML_COLUMN, pa.array([], pa.binary())))
        quarantined = None
        if bad:
            quarantined = quarantine_table([b[0] for b in bad], "", "read", [b[1] for b in bad],
                                           [b[2] for b in bad], [b[3] for b in bad])
            quarantined = quarantined.set_column(1, "source", pa.array([b[0] for b in bad], pa.string()))
        return ReadBatch(docs, quarantined)


def read_bounded(fh: Any, limit: int, block: int = 1 << 20) -> bytes:
    """Read a stream to its end or to ``limit`` bytes, in blocks (one ``read(limit)`` would allocate ``limit`` per file)."""
    chunks: list[bytes] = []
    have = 0
    while have < limit:
        chunk = fh.read(min(block, limit - have))
        if not chunk:
            break
        chunks.append(chunk)
        have += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _lookup(urls: dict[str, str], relpath: str) -> str | None:
    """A page's URL by relative path, then file name, then name without ``.gz``."""
    if not urls:
        return None
    name = relpath.rsplit("/", 1)[-1]
    for key in (relpath, name, name.removesuffix(".gz")):
        if key in urls:
            return urls[key]
    return None


def host_of(url: str | None) -> str | None:
    """The host of a URL, or None."""
    if not url:
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None

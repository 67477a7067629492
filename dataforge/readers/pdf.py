"""PDF reader: folders or globs of PDF files, one row per file with the raw bytes in a ``pdf`` column.

Files are grouped into units of up to ``files_per_unit`` files (and about ``split_bytes`` bytes),
so a folder of many small PDFs does not become one shard per file; the grouping depends only on
the sorted file list, never on the number of workers. A document's id is the file's relative
path (``reports/2024/q1.pdf``); the ``pdf_extract_v1`` stage turns the bytes into text.

Memory stays bounded: a file is read whole only when it is at most ``max_pdf_bytes``, and a
batch holds at most ``batch_bytes`` of PDF bytes (and at most ``input.batch_rows`` files). Bad
files never stop a run: zero-byte files, files without a PDF header, files over the size limit
and unreadable files are quarantined with a reason and the fix.
"""

from __future__ import annotations

import json
from typing import Iterator

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from dataforge.readers.base import FileGroupUnit, ReadBatch, Reader, Unit, plan_file_groups
from dataforge.readers.files import FileInfo, filesystem
from dataforge.schema import conform, empty_documents, quarantine_table

#: The column that carries the raw PDF bytes to ``pdf_extract_v1``.
PDF_COLUMN = "pdf"
#: A PDF header may follow some junk; readers such as Acrobat look for it in the first 1024 bytes.
HEADER_WINDOW = 1024
MAGIC = b"%PDF-"


class PdfOptions(BaseModel):
    """``input.options`` of the PDF reader."""

    model_config = ConfigDict(extra="forbid")
    max_pdf_bytes: int = Field(256 * 1024 * 1024, gt=0, le=1024 * 1024 * 1024,
                               description="larger files are quarantined as pdf_too_large (at most 1 GiB)")
    files_per_unit: int = Field(16, ge=1, description="PDF files per shard (a shard also stops at input.split_bytes)")
    batch_bytes: int = Field(64 * 1024 * 1024, gt=0, description="PDF bytes held in one batch (a bigger file goes alone)")


class PdfReader(Reader):
    """Reads PDF files as one document per file with the bytes in ``pdf``; bad files are quarantined."""

    format = "pdf"
    extensions = (".pdf",)
    Options = PdfOptions

    def plan(self, files: list[FileInfo]) -> list[Unit]:
        """Group the sorted files into units of ``files_per_unit`` files and about ``split_bytes`` bytes."""
        return plan_file_groups(files, self.options.files_per_unit, self.spec.split_bytes)  # type: ignore[attr-defined]

    def read(self, unit: Unit) -> Iterator[ReadBatch]:
        """Yield the unit's PDFs in batches bounded by ``batch_bytes`` and ``input.batch_rows``."""
        opts: PdfOptions = self.options  # type: ignore[assignment]
        members = FileGroupUnit.members_of(unit)
        rows: list[tuple[str, str, bytes]] = []
        held = 0
        bad: list[tuple[str, str, str, str | None]] = []  # id, reason, detail, raw
        for path, relpath, _, _ in members:
            data, problem = self._load(path, relpath, opts.max_pdf_bytes)
            if problem is not None:
                bad.append(problem)
            else:
                assert data is not None
                if rows and (held + len(data) > opts.batch_bytes or len(rows) >= self.spec.batch_rows):
                    yield self._batch(rows, bad)
                    rows, bad, held = [], [], 0
                rows.append((relpath, path, data))
                held += len(data)
        if rows or bad:
            yield self._batch(rows, bad)

    @staticmethod
    def _load(path: str, relpath: str, limit: int) -> tuple[bytes | None, tuple[str, str, str, str | None] | None]:
        """Read one file, or say why it is quarantined (id, reason, detail, raw excerpt)."""
        try:
            fs, p = filesystem(path)
            size = int(fs.get_file_info(p).size or 0)
            if size == 0:
                return None, (relpath, "empty_file", f"{path} has zero bytes; re-download it or remove it from the input", None)
            if size > limit:
                return None, (relpath, "pdf_too_large",
                              f"{path} has {size} bytes, over input.options.max_pdf_bytes={limit}; raise the limit to read it",
                              None)
            with fs.open_input_file(p) as fh:
                head = fh.read(HEADER_WINDOW)
                if MAGIC not in head:
                    return None, (relpath, "not_a_pdf",
                                  f"{path} has no %PDF- header in its first {HEADER_WINDOW} bytes (starts with "
                                  f"{head[:16]!r}); input.format: pdf reads only PDF files", head[:200].decode("latin-1"))
                data = head + fh.read()
        except OSError as exc:
            return None, (relpath, "unreadable_file", f"{path} could not be read: {exc}; check the path and its permissions", None)
        return data, None

    def _batch(self, rows: list[tuple[str, str, bytes]], bad: list[tuple[str, str, str, str | None]]) -> ReadBatch:
        """Documents (id, source, metadata, pdf bytes) and quarantined files as one ReadBatch."""
        source = self.spec.source or self.format
        if rows:
            ids = [r[0] for r in rows]
            meta = [json.dumps({"file": r[0], "path": r[1], "bytes": len(r[2])}, ensure_ascii=False) for r in rows]
            docs = conform(pa.table({
                "id": pa.array(ids, pa.string()),
                "source": pa.array([source] * len(rows), pa.string()),
                "metadata": pa.array(meta, pa.string()),
                PDF_COLUMN: pa.array([r[2] for r in rows], pa.binary()),
            }))
        else:
            docs = conform(empty_documents().append_column(PDF_COLUMN, pa.array([], pa.binary())))
        quarantined = None
        if bad:
            quarantined = quarantine_table([b[0] for b in bad], "", "read", [b[1] for b in bad],
                                           [b[2] for b in bad], [b[3] for b in bad])
            # as for the other readers, a quarantined row's source is the file it came from
            quarantined = quarantined.set_column(1, "source", pa.array([b[0] for b in bad], pa.string()))
        return ReadBatch(docs, quarantined)

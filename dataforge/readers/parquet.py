"""Parquet reader: files split by row groups into units of about ``split_bytes``."""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataforge.readers.base import ReadBatch, Reader, Unit
from dataforge.readers.files import FileInfo, filesystem
from dataforge.readers.records import input_columns, to_documents
from dataforge.schema import empty_documents, quarantine_table


def _open(path: str) -> pq.ParquetFile:
    fs, p = filesystem(path)
    return pq.ParquetFile(fs.open_input_file(p))


class ParquetReader(Reader):
    """Reads Parquet files; ids are ``relpath:row`` unless ``input.id_field`` is set."""

    format = "parquet"
    extensions = (".parquet", ".pq")

    def plan(self, files: list[FileInfo]) -> list[Unit]:
        """Group consecutive row groups into units of about ``split_bytes`` (start/end are row groups)."""
        units: list[Unit] = []
        for f in files:
            try:
                meta = _open(f.path).metadata
            except Exception:  # noqa: BLE001 - an unreadable file becomes one unit that quarantines itself
                units.append(Unit(len(units), f.path, f.relpath, 0, -1, f.size, f.mtime_ns))
                continue
            start, acc = 0, 0
            for rg in range(meta.num_row_groups):
                acc += meta.row_group(rg).total_byte_size
                if acc >= self.spec.split_bytes and rg + 1 < meta.num_row_groups:
                    units.append(Unit(len(units), f.path, f.relpath, start, rg + 1, f.size, f.mtime_ns))
                    start, acc = rg + 1, 0
            units.append(Unit(len(units), f.path, f.relpath, start, -1 if start == 0 else meta.num_row_groups, f.size, f.mtime_ns))
        return units

    def read(self, unit: Unit) -> Iterator[ReadBatch]:
        """Stream the unit's row groups in batches; an unreadable file is quarantined whole."""
        try:
            pf = _open(unit.path)
        except Exception as exc:  # noqa: BLE001
            yield ReadBatch(
                empty_documents(),
                quarantine_table([unit.relpath], unit.relpath, "read", ["unreadable_file"],
                                 [f"not a readable Parquet file: {exc}"], [None]),
            )
            return
        meta = pf.metadata
        end = meta.num_row_groups if unit.end < 0 else unit.end
        groups = list(range(unit.start, end))
        first_row = sum(meta.row_group(i).num_rows for i in range(unit.start))
        wanted = [c for c in input_columns(self.spec) if c in pf.schema_arrow.names]
        row = first_row
        try:
            for rb in pf.iter_batches(batch_size=self.spec.batch_rows, row_groups=groups, columns=wanted or None):
                raw = pa.Table.from_batches([rb])
                offsets = pa.array(range(row, row + raw.num_rows), pa.int64())
                ids = pc.binary_join_element_wise(pa.scalar(f"{unit.relpath}:"), pc.cast(offsets, pa.string()), "")
                row += raw.num_rows
                docs, q = to_documents(raw, ids, self.spec, unit.relpath)
                yield ReadBatch(docs, q)
        except (OSError, pa.ArrowException) as exc:
            yield ReadBatch(
                empty_documents(),
                quarantine_table([f"{unit.relpath}:{row}"], unit.relpath, "read", ["corrupt_file"],
                                 [f"reading stopped at row {row}: {exc}"], [None]),
            )

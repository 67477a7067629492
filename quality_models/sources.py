"""Read the labelled texts a quality classifier trains on: JSONL or Parquet files, folders, globs, run outputs.

A source is any input path the pipeline readers take: a file, a folder, a glob, or a run's stage
output (``RUN/stages/03-gopher_quality_filter_v1/data`` for the documents a stage kept,
``.../rejects`` for those it dropped). A folder with Parquet files is read as Parquet, anything
else as JSON Lines (plain, .gz, .zst). Ids come from the ``id`` field where records have one,
else from the file position, exactly as in a pipeline run. Unreadable records are counted, never
fatal, and rejects can be narrowed to some drop reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from dataforge.readers import get_reader
from dataforge.readers.files import expand
from dataforge.schema import REASON_COLUMN


@dataclass
class SourceReport:
    """What was read from one source path."""

    path: str
    format: str
    files: int = 0
    documents: int = 0
    quarantined: int = 0
    skipped_by_reason: int = 0
    reasons: list[str] = field(default_factory=list)


def source_format(path: str) -> str:
    """``parquet`` when the path is or holds Parquet files, else ``jsonl``."""
    try:
        found = expand([path], (".parquet", ".pq"))
    except FileNotFoundError:
        found = []
    if found and all(f.path.lower().endswith((".parquet", ".pq")) for f in found):
        return "parquet"
    return "jsonl"


def read_source(path: str, text_field: str = "text", id_field: str = "id",
                reasons: list[str] | None = None) -> tuple[pa.Table, SourceReport]:
    """Read one source as a table of ``id`` and ``text``; with ``reasons``, keep only rows dropped for one of them.

    ``reasons`` applies to sources that carry a ``reason`` column (a run's rejects); rows of other
    sources are all kept. Raises FileNotFoundError when the path matches no file.
    """
    from dataforge.spec import InputSpec

    fmt = source_format(path)
    spec = InputSpec(format=fmt, paths=[path], text_field=text_field, id_field=id_field,
                     extra_fields=[REASON_COLUMN], source=path)
    reader = get_reader(fmt)(spec)
    files = expand([path], reader.extensions)
    report = SourceReport(path=path, format=fmt, files=len(files), reasons=list(reasons or []))
    parts: list[pa.Table] = []
    for unit in reader.plan(files):
        for rb in reader.read(unit):
            if rb.quarantined is not None:
                report.quarantined += rb.quarantined.num_rows
            docs = rb.documents
            if not docs.num_rows:
                continue
            if reasons and REASON_COLUMN in docs.column_names:
                col = docs.column(REASON_COLUMN)
                if pa.types.is_string(col.type) and pc.any(pc.is_valid(col)).as_py():
                    keep = pc.fill_null(pc.is_in(col, value_set=pa.array(reasons, pa.string())), False)
                    before = docs.num_rows
                    docs = docs.filter(keep)
                    report.skipped_by_reason += before - docs.num_rows
            parts.append(docs.select(["id", "text"]))
    table = pa.concat_tables(parts) if parts else pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    report.documents = table.num_rows
    return table, report


def read_sources(paths: list[str], text_field: str = "text", id_field: str = "id",
                 reasons: list[str] | None = None) -> tuple[pa.Table, list[SourceReport]]:
    """Read several sources into one ``id``/``text`` table, in the order given."""
    tables, reports = [], []
    for p in paths:
        t, r = read_source(p, text_field=text_field, id_field=id_field, reasons=reasons)
        tables.append(t)
        reports.append(r)
    if not tables:
        return pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}), reports
    return pa.concat_tables(tables), reports

"""The core document schema every batch carries, and helpers to conform tables to it."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

#: Columns every document batch has. Stages add columns after these and pass unknown ones through.
CORE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),  # never null in practice; nullable so every table shares one schema
        pa.field("text", pa.string()),
        pa.field("source", pa.string()),
        pa.field("url", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("language", pa.string()),
        pa.field("metadata", pa.string()),  # JSON object as text, or null
    ]
)
CORE_COLUMNS: tuple[str, ...] = tuple(CORE_SCHEMA.names)

#: Columns the engine adds to rejected and quarantined rows.
REASON_COLUMN = "reason"
DETAIL_COLUMN = "detail"
STAGE_COLUMN = "stage"

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("source", pa.string()),
        pa.field(STAGE_COLUMN, pa.string()),
        pa.field(REASON_COLUMN, pa.string()),
        pa.field(DETAIL_COLUMN, pa.string()),
        pa.field("raw", pa.string()),  # a bounded excerpt of the offending input, for a human to read
    ]
)

#: Longest excerpt of a bad input kept in the quarantine, in characters.
RAW_EXCERPT_CHARS = 2000


def empty_documents() -> pa.Table:
    """Return an empty table with the core schema."""
    return CORE_SCHEMA.empty_table()


def conform(table: pa.Table) -> pa.Table:
    """Put the core columns first, in core order and types, creating missing ones as nulls.

    Extra columns are kept after the core ones, in their original order.
    """
    n = table.num_rows
    arrays: list[pa.Array | pa.ChunkedArray] = []
    names: list[str] = []
    for field in CORE_SCHEMA:
        if field.name in table.column_names:
            col = table.column(field.name)
            if col.type != field.type:
                col = pc.cast(col, field.type)
        else:
            col = pa.nulls(n, field.type)
        arrays.append(col)
        names.append(field.name)
    for name in table.column_names:
        if name not in CORE_COLUMNS:
            arrays.append(table.column(name))
            names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def quarantine_table(
    ids: list[str],
    source: str,
    stage: str,
    reasons: list[str],
    details: list[str],
    raws: list[str | None],
) -> pa.Table:
    """Build a quarantine table; excerpts are clipped to RAW_EXCERPT_CHARS."""
    clipped = [None if r is None else r[:RAW_EXCERPT_CHARS] for r in raws]
    return pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "source": pa.array([source] * len(ids), pa.string()),
            STAGE_COLUMN: pa.array([stage] * len(ids), pa.string()),
            REASON_COLUMN: pa.array(reasons, pa.string()),
            DETAIL_COLUMN: pa.array(details, pa.string()),
            "raw": pa.array(clipped, pa.string()),
        },
        schema=QUARANTINE_SCHEMA,
    )


def with_columns(batch: pa.Table, columns: dict[str | pa.Field, Any]) -> pa.Table:
    """Replace columns that exist (in place) and append the others, in the order given."""
    for key, col in columns.items():
        name = key.name if isinstance(key, pa.Field) else key
        if name in batch.column_names:
            batch = batch.set_column(batch.column_names.index(name), key, col)
        else:
            batch = batch.append_column(key, col)
    return batch

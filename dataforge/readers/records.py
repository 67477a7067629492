"""Turn parsed input records (an Arrow table of raw fields) into core-schema documents.

Shared by the JSONL and Parquet readers: field mapping, ids, metadata, and quarantine of rows
without usable text.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from dataforge.schema import CORE_COLUMNS, conform, quarantine_table

if TYPE_CHECKING:
    from dataforge.spec import InputSpec


def wanted_fields(spec: "InputSpec") -> dict[str, str]:
    """Core column -> input field name, for every core column the input may carry."""
    mapping = {c: c for c in CORE_COLUMNS if c not in ("id", "metadata")}
    mapping["text"] = spec.text_field
    mapping.update(spec.fields)
    if spec.id_field:
        mapping["id"] = spec.id_field
    return mapping


def input_columns(spec: "InputSpec") -> list[str]:
    """Input field names a reader must load."""
    cols = list(dict.fromkeys([*wanted_fields(spec).values(), *spec.metadata_fields, *spec.extra_fields]))
    return cols


def _as_string(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return pc.cast(col, pa.string())
    if pa.types.is_null(col.type):
        return pa.nulls(len(col), pa.string())
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type):
        return pc.cast(col, pa.string())
    return pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in col.to_pylist()], pa.string())


def to_documents(
    raw: pa.Table, offset_ids: pa.Array, spec: "InputSpec", relpath: str, stage: str = "read"
) -> tuple[pa.Table, pa.Table | None]:
    """Map raw records to documents; rows with missing, non-text or oversized text are quarantined.

    ``offset_ids`` are the file-position ids (``relpath:offset``) used where no id field is given.
    """
    n = raw.num_rows
    mapping = wanted_fields(spec)
    cols: dict[str, pa.Array] = {}
    for core, field in mapping.items():
        if field in raw.column_names:
            cols[core] = _as_string(raw.column(field))
    text_field = spec.text_field
    text_col = raw.column(text_field) if text_field in raw.column_names else None
    if "id" in cols:
        cols["id"] = pc.coalesce(cols["id"], offset_ids)
    else:
        cols["id"] = offset_ids
    if "source" in cols:
        cols["source"] = pc.coalesce(cols["source"], pa.scalar(spec.source or spec.format))
    else:
        cols["source"] = pa.array([spec.source or spec.format] * n, pa.string())
    if spec.metadata_fields:
        present = [f for f in spec.metadata_fields if f in raw.column_names]
        rows = raw.select(present).to_pylist() if present else [{} for _ in range(n)]
        cols["metadata"] = pa.array(
            [json.dumps({k: v for k, v in r.items() if v is not None}, ensure_ascii=False, default=str) for r in rows],
            pa.string(),
        )

    for extra in spec.extra_fields:
        if extra not in cols:
            cols[extra] = raw.column(extra) if extra in raw.column_names else pa.nulls(n, pa.string())

    # Reasons to quarantine, vectorised; null means the row is a good document.
    if text_col is None:
        reasons = pa.array(["missing_text"] * n, pa.string())
        details = pa.array([f"no field {text_field!r} in the record; set input.text_field"] * n, pa.string())
    else:
        is_text = pa.types.is_string(text_col.type) or pa.types.is_large_string(text_col.type) or pa.types.is_null(text_col.type)
        if not is_text:
            reasons = pa.array(["text_not_a_string"] * n, pa.string())
            details = pa.array([f"field {text_field!r} has type {text_col.type}"] * n, pa.string())
        else:
            text = pc.cast(text_col, pa.string()) if not pa.types.is_null(text_col.type) else pa.nulls(n, pa.string())
            cols["text"] = text
            size = pc.binary_length(text)
            too_big = pc.fill_null(pc.greater(size, spec.max_text_bytes), False)
            missing = pc.is_null(text)
            reasons = pc.if_else(missing, "missing_text", pc.if_else(too_big, "text_too_large", pa.scalar(None, pa.string())))
            details = pc.if_else(
                missing,
                f"field {text_field!r} is null or absent",
                pc.if_else(too_big, f"text exceeds input.max_text_bytes={spec.max_text_bytes}", pa.scalar(None, pa.string())),
            )
    bad = pc.is_valid(reasons)
    table = pa.table(cols) if cols else pa.table({"id": offset_ids})
    if not pc.any(bad).as_py():
        return conform(table), None
    good = pc.invert(bad)
    docs = conform(table.filter(good))
    bad_tbl = table.filter(bad)
    raws = None
    if "text" in bad_tbl.column_names:
        raws = pc.utf8_slice_codeunits(bad_tbl.column("text"), 0, 2000).to_pylist()
    q = quarantine_table(
        bad_tbl.column("id").to_pylist(),
        relpath,
        stage,
        pc.filter(reasons, bad).to_pylist(),
        pc.filter(details, bad).to_pylist(),
        raws or [None] * bad_tbl.num_rows,
    )
    return docs, q

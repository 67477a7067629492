"""Parquet reading: row-group shards, ids by row, text checks, unreadable files quarantined."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import docs
from dataforge.readers import get_reader
from dataforge.readers.files import expand
from dataforge.spec import InputSpec


def read_all(paths: list[str], **kw) -> tuple[pa.Table, list[str], int]:
    spec = InputSpec(format="parquet", paths=paths, **kw)
    reader = get_reader("parquet")(spec)
    units = reader.plan(expand(spec.paths, reader.extensions))
    d, reasons = [], []
    for u in units:
        for b in reader.read(u):
            d.append(b.documents)
            if b.quarantined is not None:
                reasons += b.quarantined.column("reason").to_pylist()
    return pa.concat_tables(d), reasons, len(units)


def test_row_group_shards_cover_every_row_once(tmp_path: Path) -> None:
    rows = docs(500)
    rows[10]["text"] = None
    t = pa.Table.from_pylist(rows)
    pq.write_table(t, tmp_path / "a.parquet", row_group_size=50)
    whole, r1, n1 = read_all([str(tmp_path)])
    split, r2, n2 = read_all([str(tmp_path)], split_bytes=20_000)
    assert n1 == 1 and n2 > 3
    assert whole.equals(split)
    assert whole.num_rows == 499 and r1 == r2 == ["missing_text"]
    assert whole.column("id")[0].as_py() == "a.parquet:0" and whole.column("url")[1].as_py() == "https://example.org/1"
    byid, _, _ = read_all([str(tmp_path)], id_field="id")
    assert byid.column("id")[11].as_py() == "d00012"


def test_unreadable_parquet_is_quarantined(tmp_path: Path) -> None:
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    pq.write_table(pa.Table.from_pylist(docs(3)), tmp_path / "good.parquet")
    d, reasons, _ = read_all([str(tmp_path)])
    assert d.num_rows == 3 and reasons == ["unreadable_file"]


def test_non_string_text_is_quarantined(tmp_path: Path) -> None:
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "n.parquet")
    d, reasons, _ = read_all([str(tmp_path)])
    assert d.num_rows == 0 and reasons == ["text_not_a_string", "text_not_a_string"]

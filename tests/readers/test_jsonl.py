"""JSONL reading: compressed or not, split or not, bad lines quarantined with their reason."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import docs, write_jsonl
from dataforge.readers import get_reader
from dataforge.readers.files import expand
from dataforge.spec import InputSpec


def read_all(paths: list[str], **kw) -> tuple[pa.Table, pa.Table]:
    spec = InputSpec(format="jsonl", paths=paths, **kw)
    reader = get_reader("jsonl")(spec)
    units = reader.plan(expand(spec.paths, reader.extensions))
    d, q = [], []
    for u in units:
        for b in reader.read(u):
            d.append(b.documents)
            if b.quarantined is not None:
                q.append(b.quarantined)
    from dataforge.schema import QUARANTINE_SCHEMA, empty_documents

    return (pa.concat_tables(d) if d else empty_documents(),
            pa.concat_tables(q) if q else QUARANTINE_SCHEMA.empty_table())


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz", "a.jsonl.zst"])
def test_reads_plain_and_compressed(tmp_path: Path, name: str) -> None:
    f = write_jsonl(tmp_path / name, docs(25))
    d, q = read_all([str(f)], id_field="id")
    assert d.column("id").to_pylist() == [f"d{i:05d}" for i in range(25)]
    assert d.column("url")[3].as_py() == "https://example.org/3"
    assert d.column("source").unique().to_pylist() == ["jsonl"]
    assert q.num_rows == 0


def test_ids_are_file_offsets_without_id_field(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "x.jsonl", [{"text": "a"}, {"text": "b"}])
    d, _ = read_all([str(tmp_path)])
    assert d.column("id").to_pylist() == ["x.jsonl:0", "x.jsonl:14"]


def test_bad_lines_are_quarantined_with_reasons(tmp_path: Path) -> None:
    rows = docs(5)
    raw = [
        b'{"id": "broken", "text": "unterminated',
        b'{"id": "bad-utf8", "text": "caf\xe9"}',
        b'[1, 2, 3]',
        json.dumps({"id": "no-text", "title": "x"}).encode(),
        json.dumps({"id": "null-text", "text": None}).encode(),
        json.dumps({"id": "num-text", "text": 42}).encode(),
        b"",
        b"   ",
    ]
    f = write_jsonl(tmp_path / "bad.jsonl", rows[:3], raw + [json.dumps(r).encode() for r in rows[3:]])
    d, q = read_all([str(f)], id_field="id")
    assert d.column("id").to_pylist() == ["d00000", "d00001", "d00002", "num-text", "d00003", "d00004"]
    reasons = dict(zip(q.column("id").to_pylist(), q.column("reason").to_pylist()))
    # lines that cannot be parsed have no readable id field: they are named by file and byte offset
    assert reasons["no-text"] == "missing_text" and reasons["null-text"] == "missing_text"
    assert sorted(k for k in reasons if k.startswith("bad.jsonl:")) == sorted(
        k for k, v in reasons.items() if v in ("malformed_json", "invalid_utf8", "not_a_json_object"))
    assert sorted(q.column("reason").to_pylist()) == sorted(
        ["malformed_json", "invalid_utf8", "not_a_json_object", "missing_text", "missing_text"]
    )
    # numbers as text are kept as their string form only when the line parses as a whole
    assert d.filter(pa.compute.equal(d.column("id"), "num-text")).column("text")[0].as_py() == "42"
    assert all(q.column("detail").to_pylist())


def test_empty_file_yields_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    d, q = read_all([str(tmp_path / "empty.jsonl")])
    assert d.num_rows == 0 and q.num_rows == 0


def test_huge_documents_are_quarantined(tmp_path: Path) -> None:
    """Over max_text_bytes: text_too_large; far over it (a 50 MB line): skipped unread as line_too_large."""
    big = "word " * (11 * 1024 * 1024 // 5)
    huge = "word " * (50 * 1024 * 1024 // 5)
    f = write_jsonl(tmp_path / "big.jsonl", [{"id": "small", "text": "fine"}, {"id": "big", "text": big},
                                             {"id": "huge", "text": huge}, {"id": "after", "text": "ok"}])
    d, q = read_all([str(f)], id_field="id", max_text_bytes=10 * 1024 * 1024)
    assert d.column("id").to_pylist() == ["small", "after"]
    assert q.column("reason").to_pylist() == ["text_too_large", "line_too_large"]
    assert "input.max_text_bytes" in q.column("detail")[1].as_py()


def test_overlong_line_is_skipped_and_reported(tmp_path: Path) -> None:
    big = "x" * (20 * 1024 * 1024)  # longer than one read block, so it is never held whole
    f = write_jsonl(tmp_path / "long.jsonl", [{"id": "a", "text": "a"}, {"id": "long", "text": big}, {"id": "b", "text": "b"}])
    d, q = read_all([str(f)], id_field="id", max_text_bytes=1024)
    assert d.column("id").to_pylist() == ["a", "b"]
    assert q.column("reason").to_pylist() == ["line_too_large"]


def test_split_ranges_read_every_line_exactly_once(tmp_path: Path) -> None:
    rows = docs(300)
    f = write_jsonl(tmp_path / "s.jsonl", rows, [b"{bad json}"])
    whole, q1 = read_all([str(f)])
    spec = InputSpec(format="jsonl", paths=[str(f)], split_bytes=4096)
    units = get_reader("jsonl")(spec).plan(expand(spec.paths, ()))
    assert len(units) > 10
    split, q2 = read_all([str(f)], split_bytes=4096)
    assert split.column("id").to_pylist() == whole.column("id").to_pylist()
    assert split.equals(whole)
    assert q1.column("id").to_pylist() == q2.column("id").to_pylist()


def test_metadata_fields_become_json(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "m.jsonl", [{"text": "t", "score": 0.5, "tags": ["a"]}, {"text": "u"}])
    d, _ = read_all([str(f)], metadata_fields=["score", "tags"])
    assert [json.loads(m) for m in d.column("metadata").to_pylist()] == [{"score": 0.5, "tags": ["a"]}, {}]


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    from dataforge.readers.files import InputNotFound

    with pytest.raises(InputNotFound, match="matches no file"):
        expand([str(tmp_path / "*.jsonl")], ())
    with pytest.raises(InputNotFound, match="does not exist"):
        expand([str(tmp_path / "nope.jsonl")], ())

"""exact_dedup_v1: groups, survivors by priority then id, reasons with the kept id."""

from __future__ import annotations

import pyarrow as pa

from conftest import table
from dataforge.stages.dedup.exact import ExactDedup


def test_exact_dedup_keeps_smallest_id_and_normalises() -> None:
    t = table([
        {"id": "b", "text": "Hello, World!"},
        {"id": "a", "text": "hello world"},
        {"id": "c", "text": "HELLO   world."},
        {"id": "d", "text": "something else"},
        {"id": "e", "text": ""},
        {"id": "f", "text": None},
    ])
    res = ExactDedup()(t)
    assert res.kept.column("id").to_pylist() == ["a", "d", "e"]
    dropped = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("detail").to_pylist()))
    assert dropped == {"b": "a", "c": "a", "f": "e"}
    assert set(res.dropped.column("reason").to_pylist()) == {"exact_duplicate"}


def test_exact_dedup_priority_and_raw_mode() -> None:
    t = table([{"id": "a", "text": "same"}, {"id": "b", "text": "same"}, {"id": "c", "text": "Same"}])
    t = t.append_column("score", pa.array([0.1, 0.9, 0.5]))
    res = ExactDedup({"priority": "score"})(t)
    assert res.kept.column("id").to_pylist() == ["b"]
    res = ExactDedup({"normalize": False})(t)
    assert res.kept.column("id").to_pylist() == ["a", "c"]


def test_exact_dedup_on_url() -> None:
    t = table([{"id": "a", "text": "x", "url": "u1"}, {"id": "b", "text": "y", "url": "u1"}])
    assert ExactDedup({"on": "url"})(t).kept.column("id").to_pylist() == ["a"]

"""length_filter_v1 and sample_v1."""

from __future__ import annotations

import pyarrow as pa

from conftest import table
from dataforge.stages.filters.length import LengthFilter
from dataforge.stages.filters.sample import Sample


def test_length_filter_reasons_and_counts() -> None:
    t = table([
        {"id": "empty", "text": ""},
        {"id": "null", "text": None},
        {"id": "short", "text": "two words"},
        {"id": "ok", "text": " ".join(["word"] * 60)},
        {"id": "long", "text": " ".join(["word"] * 200)},
    ])
    res = LengthFilter({"min_words": 50, "max_words": 100})(t)
    assert res.kept.column("id").to_pylist() == ["ok"]
    assert dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("reason").to_pylist())) == {
        "empty": "empty", "null": "empty", "short": "too_few_words", "long": "too_many_words"}
    res = LengthFilter({"min_words": None, "max_words": None, "min_chars": 10})(t)
    assert sorted(res.dropped.column("reason").to_pylist()) == ["empty", "empty", "too_short_chars"]


def test_sample_is_deterministic_nested_and_near_rate() -> None:
    t = table([{"id": f"doc-{i}", "text": "x"} for i in range(20000)])
    a = Sample({"rate": 0.3, "seed": 1})(t).kept.column("id").to_pylist()
    b = Sample({"rate": 0.3, "seed": 1})(t).kept.column("id").to_pylist()
    c = Sample({"rate": 0.5, "seed": 1})(t).kept.column("id").to_pylist()
    d = Sample({"rate": 0.3, "seed": 2})(t).kept.column("id").to_pylist()
    assert a == b
    assert set(a) <= set(c)
    assert a != d
    assert abs(len(a) / 20000 - 0.3) < 0.02
    # the decision for a row does not depend on the batch it travels in
    half = Sample({"rate": 0.3, "seed": 1})(t.slice(10000)).kept.column("id").to_pylist()
    assert half == [i for i in a if int(i.split("-")[1]) >= 10000]
    res = Sample({"rate": 0.3, "seed": 1})(t)
    assert set(res.dropped.column("reason").to_pylist()) == {"sampled_out"}

"""normalize_text_v1 and text_stats_v1."""

from __future__ import annotations

import pyarrow as pa

from conftest import table
from dataforge.stages.text.normalize import NormalizeText
from dataforge.stages.text.stats import TextStats


def test_normalize_whitespace_unicode_and_controls() -> None:
    t = table([
        {"id": "a", "text": "  Cafe\u0301  au\tlait \r\n\n\n\nnext\x07 line  "},
        {"id": "b", "text": None},
        {"id": "c", "text": "ﬁne\u00a0print"},
    ])
    out = NormalizeText()(t).kept
    assert out.column("text").to_pylist() == ["Café au lait\n\nnext line", None, "ﬁne print"]
    out = NormalizeText({"form": "NFKC"})(t).kept
    assert out.column("text")[2].as_py() == "fine print"


def test_text_stats_counts() -> None:
    t = table([{"id": "a", "text": "one two three\nfour"}, {"id": "b", "text": ""}, {"id": "c", "text": None}])
    out = TextStats()(t).kept
    assert out.column("n_words").to_pylist() == [4, 0, 0]
    assert out.column("n_lines").to_pylist() == [2, 0, 0]
    assert out.column("n_chars").to_pylist() == [18, 0, 0]
    assert out.schema.field("n_bytes").type == pa.int64()

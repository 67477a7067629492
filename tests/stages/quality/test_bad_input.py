"""Bad input for every quality stage: no crash, a defined score (no NaN), a defined decision."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from conftest import table
from dataforge import registry

#: The heuristic rule stages (the family also holds model-based stages, tested elsewhere).
HEURISTIC = [f"{family}_{kind}_v1" for family in ("gopher_quality", "gopher_repetition", "fineweb", "c4", "blocklist")
             for kind in ("signals", "filter")]

BIG = 20 * 1024 * 1024  # a 20 MB single line

ROWS = [
    ("empty", "", None),
    ("null", None, None),
    ("spaces", "   \n\t  \n", None),
    ("symbols", "!!! ??? ### *** ... ;;; %%% &&& @@@ ((( )))", None),
    ("emoji", "😀😀😀 🎉🎉 👍🏽 ❤️‍🔥 🇫🇷🇫🇷", None),
    ("mixed", "Hello мир 世界 مرحبا שלום नमस्ते สวัสดี 안녕하세요 γειά σου.", None),
    ("cjk_tagged", "我们的村庄在河边。春天河水上涨。农民打开水渠。" * 20, "zh"),
    ("thai_tagged", "สวัสดีครับ ผมชื่อสมชาย ยินดีที่ได้รู้จัก " * 20, "th"),
    ("control", "a\x00b\x01c\u200bd\ufeffe\r\nf\x85g\u2028h", None),
]


@pytest.fixture(scope="module")
def small() -> pa.Table:
    return table([{"id": k, "text": t, "language": lang, "url": "https://example.org/x"} for k, t, lang in ROWS])


@pytest.fixture(scope="module")
def big() -> pa.Table:
    return table([
        {"id": "line20mb_words", "text": "word " * (BIG // 5), "url": None},
        {"id": "line20mb_blob", "text": "x" * BIG, "url": None},
        {"id": "line20mb_mixed", "text": ("Mixed, text... #1 [2] {x} 世界 " * (BIG // 32))[:BIG], "url": None},
    ])


@pytest.mark.parametrize("name", HEURISTIC)
def test_small_bad_input(name: str, small: pa.Table) -> None:
    _check(name, small)


# the filters compute their family's signals themselves, so they cover the annotators too
@pytest.mark.parametrize("name", [n for n in HEURISTIC if n.endswith("_filter_v1")])
def test_a_single_20mb_line(name: str, big: pa.Table) -> None:
    _check(name, big)


def _check(name: str, batch: pa.Table) -> None:
    stage = registry.get(name)()
    res = stage(batch)
    assert res.quarantined is None or res.quarantined.num_rows == 0, res.quarantined
    n_dropped = res.dropped.num_rows if res.dropped is not None else 0
    assert res.kept.num_rows + n_dropped == batch.num_rows
    if res.dropped is not None and n_dropped:
        assert all(r for r in res.dropped.column("reason").to_pylist())
    for part in (res.kept, res.dropped):
        if part is None:
            continue
        for col in part.column_names:
            if pa.types.is_floating(part.column(col).type):
                values = [v for v in part.column(col).to_pylist() if v is not None]
                assert not any(math.isnan(v) or math.isinf(v) for v in values), (name, col)

"""blocklist_signals_v1 / blocklist_filter_v1 with small list files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from conftest import table
from dataforge.stages.quality.blocklist import BlocklistFilter, BlocklistSignals


@pytest.fixture()
def lists(tmp_path: Path) -> dict[str, str]:
    files = {
        "domains_file": "# blocked\nbad.example\n\nSHOUTY.example.\n",
        "urls_file": "evil.org/page\n",
        "banned_words_file": "casino\n#commented\n",
        "soft_banned_words_file": "free\nbonus\nwin\n",
        "banned_subwords_file": "xxx\n",
        "text_banned_words_file": "damn\nbad phrase\n",
    }
    out = {}
    for key, content in files.items():
        p = tmp_path / f"{key}.txt"
        p.write_text(content, encoding="utf-8")
        out[key] = str(p)
    return out


ROWS = [
    ("https://www.bad.example/x", "Fine text.", "url_blocklisted"),
    ("http://a.b.bad.example:8080/", "Fine text.", "url_blocklisted"),
    ("https://shouty.example", "Fine text.", "url_blocklisted"),
    ("https://notbad.example/", "Fine text.", None),          # a suffix match needs a label boundary
    ("http://EVIL.org/page/", "Fine text.", "url_blocklisted"),
    ("https://evil.org/other", "Fine text.", None),
    ("https://good.org/online-casino", "Fine text.", "banned_words"),
    ("https://good.org/casinos", "Fine text.", None),          # whole URL words only
    ("https://good.org/free-bonus", "Fine text.", "banned_words"),  # two soft words
    ("https://good.org/free", "Fine text.", None),
    ("https://good.org/hotxxxvideos", "Fine text.", "banned_words"),  # a subword
    ("https://good.org/commented", "Fine text.", None),
    ("https://good.org/a", "Well, damn. That hurt.", "banned_words"),
    ("https://good.org/b", "Damnation is a word.", None),
    ("https://good.org/c", "A BAD PHRASE appears.", "banned_words"),
    (None, "No URL at all.", None),
]


def _batch(rows: list[tuple[str | None, str, str | None]]):  # noqa: ANN202
    return table([{"id": f"r{i}", "url": u, "text": t} for i, (u, t, _) in enumerate(rows)])


def test_reasons(lists: dict[str, str]) -> None:
    res = BlocklistFilter(lists)(_batch(ROWS))
    got = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("reason").to_pylist()))
    assert got == {f"r{i}": r for i, (_, _, r) in enumerate(ROWS) if r is not None}
    assert Counter(got.values()) == Counter({"url_blocklisted": 4, "banned_words": 5})
    details = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("detail").to_pylist()))
    assert details["r1"] == "domain bad.example"
    assert details["r4"] == "url evil.org/page"
    assert details["r12"] == "text word 'damn'"
    assert BlocklistFilter(lists, soft_word_threshold=3)(_batch(ROWS[8:9])).kept.num_rows == 1


def test_signals_and_unsegmented_text(lists: dict[str, str]) -> None:
    zh = [("https://good.org/zh", "这是bad phrase的例子", None)]
    out = BlocklistSignals({k: v for k, v in lists.items()})(_batch(zh)).kept.to_pylist()[0]
    assert out["blocklist_text_word"] is None  # no word boundary around the phrase
    rows = table([{"id": "z", "url": "https://good.org/zh", "text": zh[0][1], "language": "zh"}])
    assert BlocklistFilter(lists)(rows).dropped.column("reason").to_pylist() == ["banned_words"]
    sig = BlocklistSignals(lists)(_batch(ROWS[:1])).kept.to_pylist()[0]
    assert sig["blocklist_domain"] == "bad.example" and sig["blocklist_soft_words"] == 0


def test_no_lists_keeps_everything_and_missing_file_is_explained(tmp_path: Path) -> None:
    assert BlocklistFilter()(_batch(ROWS)).kept.num_rows == len(ROWS)
    stage = BlocklistFilter(domains_file=str(tmp_path / "nope.txt"))
    with pytest.raises(FileNotFoundError, match="blocklist_filter_v1.*nope.txt.*params.domains_file"):
        stage.setup()

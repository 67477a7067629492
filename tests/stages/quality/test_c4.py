"""c4_signals_v1 / c4_filter_v1: line cleanup, page drops, switches, and unsegmented languages."""

from __future__ import annotations

from collections import Counter

import pytest

from conftest import table
from dataforge.stages.quality.c4 import C4Filter, C4Signals

SENTENCES = [
    "The river flows through the valley.",
    "In spring the water rises with the melting snow.",
    "The farmers open the old channels to carry it to their fields.",
    "A compiler translates source code into machine instructions.",
    "Most compilers work in several phases.",
]
PAGE = "\n".join([
    "Home",                                            # no terminal punctuation
    *SENTENCES[:2],
    "Please enable JavaScript to view the comments.",   # javascript
    "This site uses cookies to improve your visit.",    # policy
    "Water is wet.[1] It always was.[citation needed]",  # citations removed, kept (2 sentences)
    "Hi there!",                                       # fewer than 3 words
    "x" * 1001 + " is a very long word.",              # a word over 1,000 characters
    *SENTENCES[2:4],
])
CLEAN = "\n".join([*SENTENCES[:2], "Water is wet. It always was.", *SENTENCES[2:4]])

CASES = {
    "page": (PAGE, None),
    "lorem": ("\n".join(SENTENCES + ["Lorem ipsum dolor sit amet, consectetur."]), "c4_lorem_ipsum"),
    "curly": ("\n".join(SENTENCES + ["The function body is { return x; }."]), "c4_curly_bracket"),
    "few": ("\n".join(SENTENCES[:3]), "c4_too_few_sentences"),
    "empty": ("", "c4_too_few_sentences"),
}


def test_line_cleanup_and_page_rules() -> None:
    res = C4Filter()(table([{"id": k, "text": t} for k, (t, _) in CASES.items()]))
    assert res.kept.column("id").to_pylist() == ["page"]
    assert res.kept.column("text").to_pylist() == [CLEAN]
    got = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("reason").to_pylist()))
    assert got == {k: r for k, (_, r) in CASES.items() if r is not None}
    assert Counter(got.values()) == Counter(r for _, r in CASES.values() if r)
    # dropped pages keep their original text; the detail points at the line or the count
    dropped = {r["id"]: r for r in res.dropped.to_pylist()}
    assert dropped["lorem"]["text"] == CASES["lorem"][0]
    assert dropped["lorem"]["detail"] == "line 6"
    assert dropped["few"]["detail"] == "c4_sentences=3 in 3 kept lines"
    kept = res.kept.to_pylist()[0]
    assert (kept["c4_lines"], kept["c4_lines_removed"], kept["c4_sentences"]) == (10, 5, 6)


def test_switches() -> None:
    batch = table([{"id": "p", "text": PAGE}])
    # FineWeb's setting keeps lines without terminal punctuation ("Home" has too few words anyway)
    kept = C4Filter(filter_no_terminal_punct=False)(batch).kept.column("text").to_pylist()[0]
    assert kept == CLEAN
    everything = C4Filter(filter_no_terminal_punct=False, min_words_per_line=-1, filter_javascript=False,
                          filter_policy=False, remove_citations=False, max_word_length=-1)(batch)
    assert everything.kept.column("text").to_pylist() == [PAGE]
    assert C4Filter(rewrite_text=False)(batch).kept.column("text").to_pylist() == [PAGE]
    few = table([{"id": "f", "text": CASES["few"][0]}])
    assert C4Filter(min_num_sentences=3)(few).kept.num_rows == 1
    assert C4Filter(min_num_sentences=-1)(few).kept.num_rows == 1


def test_signals_annotator_does_not_change_text() -> None:
    batch = table([{"id": k, "text": t} for k, (t, _) in CASES.items()])
    out = C4Signals()(batch).kept
    assert out.column("text").to_pylist() == batch.column("text").to_pylist()
    assert out.column("c4_page_rule").to_pylist() == [None, "lorem_ipsum", "curly_bracket", None, None]
    assert out.column("c4_sentences").to_pylist()[0] == 6


@pytest.mark.parametrize("language,kept", [("zh", True), (None, False)])
def test_chinese_pages(language: str | None, kept: bool) -> None:
    zh = "\n".join([
        "我们的村庄在河边，已经有很多年的历史了。",
        "春天的时候河水上涨，农民打开旧的水渠。",
        "他们把水引到田里，然后种下新的庄稼。",
        "秋天到了，田里的庄稼都成熟了。",
        "大家一起收获，村子里非常热闹。",
    ])
    res = C4Filter()(table([{"id": "zh", "text": zh, "language": language}]))
    assert (res.kept.num_rows == 1) is kept
    if not kept:  # no line ends in . ? ! " ' and a line is a single "word"
        assert res.dropped.column("reason").to_pylist() == ["c4_too_few_sentences"]

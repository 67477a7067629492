"""fineweb_signals_v1 / fineweb_filter_v1: one document per rule."""

from __future__ import annotations

from collections import Counter

from conftest import make_text, table
from dataforge.stages.quality.fineweb import FineWebFilter, FineWebSignals

LONG = "The farmers of the valley open the old channels to carry water to their fields."

CASES = {
    "good": (make_text(2), None),
    "empty": ("", "empty"),
    "blank": ("  \n\t\n ", "empty"),
    "no_punct": ("\n".join(f"{LONG[:-1]} number {i}" for i in range(10)), "fineweb_line_punct_ratio"),
    "short": ("\n".join(f"Short line {i}." for i in range(10)), "fineweb_short_line_ratio"),
    "dup": ("\n".join([f"{LONG} Line {i}." for i in range(20)] + [LONG, LONG]), "fineweb_char_dup_ratio"),
    "list": ("\n".join(f"Supercalifragilistic{i} antidisestablishmentarianism." for i in range(20)),
             "fineweb_list_ratio"),
}


def test_one_reason_per_rule() -> None:
    res = FineWebFilter()(table([{"id": k, "text": t} for k, (t, _) in CASES.items()]))
    assert res.kept.column("id").to_pylist() == ["good"]
    got = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("reason").to_pylist()))
    assert got == {k: r for k, (_, r) in CASES.items() if r is not None}
    assert Counter(got.values()) == Counter(r for _, r in CASES.values() if r)


def test_signals_follow_datatrove_definitions() -> None:
    text = "First line ends here.\n\nshort one\n   \nFirst line ends here.\nNo stop at the end of this line"
    row = FineWebSignals()(table([{"id": "x", "text": text}])).kept.to_pylist()[0]
    assert row["fineweb_lines"] == 4  # blank lines do not count
    assert row["fineweb_line_punct_ratio"] == 2 / 4
    assert row["fineweb_short_line_ratio"] == 3 / 4  # at most 30 characters
    assert row["fineweb_char_dup_ratio"] == len("First line ends here.") / len(text.replace("\n", ""))
    assert row["fineweb_newline_ratio"] == text.count("\n") / 20  # 20 spaCy tokens


def test_punctuation_rule_switches() -> None:
    batch = table([{"id": "np", "text": CASES["no_punct"][0]}])
    assert FineWebFilter(line_punct_exclude_zero=True)(batch).kept.num_rows == 1
    assert FineWebFilter(line_punct_thr=None)(batch).kept.num_rows == 1
    # Chinese full stops are terminal punctuation (lines of at most 30 characters still count as short)
    zh = ("我们在河边的村庄里生活了很多年，每年春天都会种下新的庄稼，秋天再一起收获。\n"
          "农民打开旧的水渠，把河水引到田里，然后等待收获的季节到来，村子里非常热闹。")
    assert FineWebFilter()(table([{"id": "zh", "text": zh, "language": "zh"}])).kept.num_rows == 1

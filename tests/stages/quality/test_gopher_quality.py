"""gopher_quality_signals_v1 / gopher_quality_filter_v1: one handcrafted document per rule."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest

from conftest import make_text, table
from dataforge.stages.quality.gopher_quality import GopherQualityFilter, GopherQualitySignals

GOOD = make_text(0)  # ~110 words of ordinary English
SENTENCE = "The farmers of the valley open the old channels to carry water to their fields and to the mill. "

CASES = {
    "good": (GOOD, None),
    "few": ("The cat sat on the mat with the dog.", "gopher_too_few_words"),
    "many": ("the " * 100_001, "gopher_too_many_words"),
    "short": ("the to of and " + "a b c d e f g h " * 8, "gopher_short_words"),
    "long": ("the and " + "internationalization " * 60, "gopher_long_words"),
    "hash": (GOOD + " #tag" * 20, "gopher_hash_ratio"),
    "ellipsis": (GOOD + " and so on..." * 30, "gopher_ellipsis_ratio"),
    "bullets": ("\n".join(f"- {SENTENCE}" for _ in range(10)), "gopher_bullet_lines"),
    "ellipsis_lines": ("\n".join(SENTENCE.strip() + " and then..." for _ in range(10)), "gopher_ellipsis_lines"),
    "alpha": (GOOD + " 2014 1999 2020 1870" * 12, "gopher_alpha_words"),
    "stop": ("Alpha beta gamma delta epsilon zeta eta theta iota kappa lambda omicron. " * 6, "gopher_stop_words"),
}


def _batch(cases: dict[str, tuple[str, str | None]], language: str | None = None) -> pa.Table:
    return table([{"id": k, "text": t, "language": language} for k, (t, _) in cases.items()])


def test_one_reason_per_rule() -> None:
    res = GopherQualityFilter()(_batch(CASES))
    assert res.kept.column("id").to_pylist() == ["good"]
    got = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("reason").to_pylist()))
    assert got == {k: r for k, (_, r) in CASES.items() if r is not None}
    assert Counter(got.values()) == Counter(r for _, r in CASES.values() if r)
    # the detail names the signal and the threshold
    detail = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("detail").to_pylist()))
    assert detail["few"].startswith("gopher_words=") and detail["few"].endswith("< 50")
    # kept rows carry the signals
    assert "gopher_alpha_words_ratio" in res.kept.column_names


def test_signal_values_follow_datatrove_definitions() -> None:
    text = "Hello, world! The #1 thing... is this.\n- a bullet line\n• another…"
    row = GopherQualitySignals()(table([{"id": "x", "text": text}])).kept.to_pylist()[0]
    # spaCy tokens: Hello , world ! The # 1 thing ... is this . - a bullet line • another …
    tokens = 19
    words = 12  # tokens not made only of punctuation ("•" is not in datatrove's punctuation set)
    assert row["gopher_words"] == words
    assert row["gopher_mean_word_length"] == pytest.approx(sum(map(len, [
        "Hello", "world", "The", "1", "thing", "is", "this", "a", "bullet", "line", "another", "•"])) / words)
    assert row["gopher_hash_ratio"] == pytest.approx(1 / tokens)
    assert row["gopher_ellipsis_ratio"] == pytest.approx(2 / tokens)
    assert row["gopher_bullet_lines_ratio"] == pytest.approx(2 / 3)
    assert row["gopher_ellipsis_lines_ratio"] == pytest.approx(1 / 3)
    assert row["gopher_alpha_words_ratio"] == pytest.approx(10 / tokens)
    assert row["gopher_stop_words"] == 0  # "The" is not "the": stop words are case-sensitive


def test_filter_rethresholds_existing_columns_without_recomputing() -> None:
    signals = GopherQualitySignals()(_batch({"good": (GOOD, None)})).kept
    tampered = signals.set_column(signals.column_names.index("gopher_words"), "gopher_words",
                                  pa.array([10], pa.int64()))
    assert GopherQualityFilter()(tampered).dropped.column("reason").to_pylist() == ["gopher_too_few_words"]
    assert GopherQualityFilter(recompute=True)(tampered).kept.num_rows == 1
    assert GopherQualityFilter(min_doc_words=5)(tampered).kept.num_rows == 1
    # a null threshold turns its rule off
    stop = _batch({"stop": CASES["stop"]})
    assert GopherQualityFilter(min_stop_words=None)(stop).kept.num_rows == 1


def test_chinese_is_counted_by_character_when_the_language_says_so() -> None:
    zh = "我们的村庄在河边，春天的时候河水上涨，农民打开旧的水渠把水引到田里。" * 3
    cases = {"zh": (zh, None)}
    with_lang = GopherQualityFilter()(_batch(cases, "zh"))
    assert with_lang.kept.num_rows == 1
    row = with_lang.kept.to_pylist()[0]
    assert row["gopher_words"] == 93  # 3 x 31 Han characters; the punctuation marks are not words
    assert row["gopher_mean_word_length"] is None and row["gopher_stop_words"] is None
    # without a language the text is one space-free run: too few words
    assert GopherQualityFilter()(_batch(cases)).dropped.column("reason").to_pylist() == ["gopher_too_few_words"]

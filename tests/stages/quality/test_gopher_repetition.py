"""gopher_repetition_signals_v1 / gopher_repetition_filter_v1: one document per rule, and the n-gram
statistics against a line-by-line port of datatrove's definitions on random documents."""

from __future__ import annotations

import random
from collections import Counter

import pyarrow as pa

from conftest import make_text, table
from dataforge.stages.quality.gopher_repetition import GopherRepetitionFilter, GopherRepetitionSignals
from dataforge.stages.quality.ngrams import NgramStats
from dataforge.stages.quality.tokens import batch_words

DISTINCT = " ".join(f"w{i:04d}" for i in range(100))  # 100 different words, no repeats
REPEAT = " ".join(f"r{i:04d}" for i in range(40))

CASES = {
    "good": (make_text(1), None),
    "empty": ("", "empty"),
    "paras": ("Same paragraph here.\n\nSame paragraph here.\n\nSame paragraph here.\n\nAnother one.",
              "gopher_dup_para_frac"),
    "para_chars": ("\n\n".join([f"Short note {i}." for i in range(10)] + [DISTINCT, DISTINCT]),
                   "gopher_dup_para_char_frac"),
    "lines": ("\n".join(["menu", "home", "menu", "menu", "about", "menu"]), "gopher_dup_line_frac"),
    "line_chars": ("\n".join([f"Line {i}" for i in range(10)] + [DISTINCT, DISTINCT]), "gopher_dup_line_char_frac"),
    "top2": ("\n".join(f"foo bar u{i} v{i}" for i in range(30)), "gopher_top_2_gram"),
    "dup5": (DISTINCT[:300] + " " + REPEAT + " " + DISTINCT[300:] + " " + REPEAT, "gopher_dup_5_grams"),
}


def test_one_reason_per_rule() -> None:
    batch = table([{"id": k, "text": t} for k, (t, _) in CASES.items()])
    res = GopherRepetitionFilter()(batch)
    assert res.kept.column("id").to_pylist() == ["good"]
    got = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("reason").to_pylist()))
    assert got == {k: r for k, (_, r) in CASES.items() if r is not None}
    assert Counter(got.values()) == Counter(r for _, r in CASES.values() if r)


def test_signals_of_a_simple_document() -> None:
    text = "a b a b\na b a b\n\nc"
    row = GopherRepetitionSignals()(table([{"id": "x", "text": text}])).kept.to_pylist()[0]
    assert row["gopher_dup_para_frac"] == 0.0
    assert row["gopher_dup_line_frac"] == 1 / 3  # lines: "a b a b", "a b a b", "c"
    assert row["gopher_dup_line_char_frac"] == 7 / len(text)
    # 2-grams: "a b" x4, "b a" x3 -> 3 chars x 4
    assert row["gopher_top_2_gram_frac"] == 12 / len(text)
    # 9 tokens a b a b a b a b c: the 5-gram at 2 repeats the one at 0 (5 chars), then the scan jumps to 7
    assert row["gopher_dup_5_gram_frac"] == 5 / len(text)
    assert set(GopherRepetitionSignals(top_ngram_sizes=[3], dup_ngram_sizes=[]).columns()) == {
        "gopher_dup_para_frac", "gopher_dup_para_char_frac", "gopher_dup_line_frac", "gopher_dup_line_char_frac",
        "gopher_top_3_gram_frac"}


# -- a direct port of datatrove 0.10.1's n-gram functions, the reference for the vectorised ones --

def _ngrams(words: list[str], n: int) -> list[str]:
    return [" ".join(words[i: i + n]) for i in range(len(words) - n + 1)]


def _top(words: list[str], n: int) -> int:
    grams = _ngrams(words, n)
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def _all_dup(words: list[str], n: int) -> int:
    unique: set[str] = set()
    chars = idx = 0
    while idx < len(words) - n + 1:
        gram = "".join(words[idx: idx + n])
        if gram in unique:
            chars += len(gram)
            idx += n
        else:
            unique.add(gram)
            idx += 1
    return chars


def test_ngram_statistics_equal_datatrove_on_random_documents() -> None:
    rng = random.Random(7)
    vocab = ["cat", "dog", "sun", "map", "pen", "box", "owl"]  # equal lengths: "".join is unambiguous
    docs = []
    for _ in range(60):
        size = rng.choice([0, 1, 3, 9, 40, 120])
        k = rng.choice([2, 3, 7])  # a small alphabet makes repeats likely
        docs.append([rng.choice(vocab[:k]) for _ in range(size)])
    bw = batch_words(pa.array([" ".join(w) for w in docs]))
    top, dup = NgramStats(bw).compute([2, 3, 4], [5, 6, 7, 8, 9, 10])
    for i, words in enumerate(docs):
        for n in (2, 3, 4):
            assert top[n][i] == _top(words, n), (i, n)
        for n in range(5, 11):
            assert dup[n][i] == _all_dup(words, n), (i, n)

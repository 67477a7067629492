"""The spaCy-compatible word splitter, its sentence counter, and character segmentation for CJK/Thai."""

from __future__ import annotations

import pyarrow as pa
import pytest

from dataforge.stages.quality.tokens import Vocabulary, batch_words
from dataforge.stages.quality.words import LONG_CHUNK, WordSplitter, is_unsegmented, normalize_language


@pytest.fixture(scope="module")
def splitter() -> WordSplitter:
    return WordSplitter()


# Expected tokens are spaCy 3.8 ``spacy.blank("en")`` output (datatrove's English word tokenizer).
SPACY_CASES = [
    ("Hello, world!", ["Hello", ",", "world", "!"]),
    ("I don't know, can't you?", ["I", "do", "n't", "know", ",", "ca", "n't", "you", "?"]),
    ("St.Gallen and z.B. Zürich", ["St.", "Gallen", "and", "z.", "B.", "Zürich"]),
    ("(2014): Pain and gain", ["(", "2014", "):", "Pain", "and", "gain"]),
    ("The U.S.A. is big.", ["The", "U.S.A.", "is", "big", "."]),
    ("e-mail me at foo@bar.com or http://example.com/a?b=c, thanks...",
     ["e", "-", "mail", "me", "at", "foo@bar.com", "or", "http://example.com/a?b=c", ",", "thanks", "..."]),
    ("It costs $10.50 (10km away)!", ["It", "costs", "$", "10.50", "(", "10", "km", "away", ")", "!"]),
    ("#hashtag ### …", ["#", "hashtag", "#", "#", "#", "…"]),
    ("well-known 3-4 items; a/b", ["well", "-", "known", "3", "-", "4", "items", ";", "a", "/", "b"]),
    ("“Quoted”, she said—then left.", ["“", "Quoted", "”", ",", "she", "said", "—", "then", "left", "."]),
    ("Mr. Smith's dog's bone :) <3", ["Mr.", "Smith", "'s", "dog", "'s", "bone", ":)", "<3"]),
    ("gonna wanna Im dont", ["gon", "na", "wanna", "I", "m", "do", "nt"]),
    ("  leading\n\ttabs   and\u00a0nbsp  ", ["leading", "tabs", "and", "nbsp"]),
    ("", []),
]


@pytest.mark.parametrize("text,expected", SPACY_CASES)
def test_split_matches_spacy(splitter: WordSplitter, text: str, expected: list[str]) -> None:
    assert splitter.split(text) == expected


# Expected counts are len(datatrove.utils.text.split_into_sentences(text)) (spaCy sentencizer).
SENTENCE_CASES = [
    ("Hello. World", 2), ("Hello.  World", 2), ("One! Two? Three.", 3), ("e.g. this is one", 1),
    ("No period here", 1), ("A. B. C.", 1), ("Wait... what?! Yes.", 2), ("x .\tY", 2), ("", 0),
]


@pytest.mark.parametrize("text,expected", SENTENCE_CASES)
def test_sentences_match_spacy_sentencizer(splitter: WordSplitter, text: str, expected: int) -> None:
    assert splitter.count_sentences(text) == expected


def test_cjk_is_split_by_character_only_when_unsegmented(splitter: WordSplitter) -> None:
    text = "我爱北京天安门。Hello, world"
    assert splitter.split(text) == ["我爱北京天安门。Hello", ",", "world"]
    assert splitter.split(text, unsegmented=True) == [*"我爱北京天安门。", "Hello", ",", "world"]
    assert splitter.split("สวัสดีครับ", unsegmented=True) == list("สวัสดีครับ")
    # 。 ends a sentence once characters are tokens
    assert splitter.count_sentences("你好。我很好。谢谢", unsegmented=True) == 3


def test_long_chunk_is_split_linearly(splitter: WordSplitter) -> None:
    blob = "ab" * LONG_CHUNK + "!!" + "cd" * 10
    toks = splitter.split(blob)
    assert toks == ["ab" * LONG_CHUNK, "!", "!", "cd" * 10]


def test_language_codes() -> None:
    assert normalize_language("zh-Hans") == "zh"
    assert normalize_language("cmn_Hani") == "cmn"
    assert normalize_language(None) is None and normalize_language("") is None
    assert is_unsegmented("ja") and is_unsegmented("TH") and not is_unsegmented("en") and not is_unsegmented(None)


def test_batch_words_equals_per_document_split(splitter: WordSplitter) -> None:
    texts = [text for text, _ in SPACY_CASES] + [None, "我爱北京 天安门", "x"]
    vocab = Vocabulary(splitter)
    bw = batch_words(pa.array(texts, pa.string()), None, vocab)
    assert len(bw.offsets) == len(texts) + 1
    for i, t in enumerate(texts):
        got = [vocab.tokens[j] for j in bw.ids[bw.offsets[i]:bw.offsets[i + 1]]]
        assert got == splitter.split(t or "")
    mask = pa.array([False] * (len(texts) - 2) + [True, False]).to_numpy(zero_copy_only=False)
    bw = batch_words(pa.array(texts, pa.string()), mask, vocab)
    i = len(texts) - 2
    assert [vocab.tokens[j] for j in bw.ids[bw.offsets[i]:bw.offsets[i + 1]]] == list("我爱北京天安门")

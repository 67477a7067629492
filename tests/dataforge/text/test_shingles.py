"""dataforge.text.shingles: normalisation, segmentation and the fast shingle hash, against plain Python."""

from __future__ import annotations

import unicodedata

import numpy as np
import pyarrow as pa
import xxhash

from dataforge.text.shingles import (
    ShingleSpec,
    fast_shingle_hash,
    normalize,
    shingle_hashes,
    tokenize,
)

TRICKY = [
    "ｶﾞｷﾞ ﾊﾟ and ガ",  # half-width voiced marks combine with the preceding kana
    "\u1100\u1161\u11a8 한국어",  # conjoining jamo compose into a syllable
    "ﬁ ﬂ ﬀ … a\u00a0b ＡＢＣ１２３ x²",  # compatibility characters replaced in place
    "\ufdfa",  # one code point, 18 after NFKC
    "e\u0301 a\u0300\u0323 Å Ω K",  # combining marks and canonical singletons
    "😀🎉 emoji 𝐀𝐁 math letters",  # astral code points
    "İIıi ẞß ǅ",  # case mapping corner cases (simple 1:1 lowercase)
    "soft\u00adhyphen zero\u200bwidth\u2028line\u2029para\ttab",
    "Crocker™ it´s ㎏ ㍿ ½ ⑴ x´",  # replacements classified by what replaces them; longer ones
    "", "   ", "!!!", "word",
]


def reference_normalize(text: str) -> str:
    """The documented step 1 in plain Python."""
    out = []
    for ch in unicodedata.normalize("NFKC", text):
        cat = unicodedata.category(ch)
        if cat == "Cf":
            continue
        out.append(" " if cat[0] in "ZPS" or cat == "Cc" else ch.lower()[0])
    return " ".join("".join(out).split())


def test_normalize_matches_plain_python() -> None:
    got = normalize(pa.array(TRICKY + [None])).to_pylist()
    assert got == [reference_normalize(t) for t in TRICKY] + [""]


def test_normalize_matches_plain_python_on_real_documents() -> None:
    import json

    from conftest import needs_shared

    base = needs_shared("warc", "dolma", "ccnet_jsonl")
    texts = [json.loads(line)["text"] for name in ("cc_en_head-0091.jsonl", "cc_en_head-0174.jsonl")
             for line in (base / name).read_text(encoding="utf-8").splitlines()]
    assert normalize(pa.array(texts)).to_pylist() == [reference_normalize(t) for t in texts]


def test_normalize_options() -> None:
    text = pa.array(["Hello, World! ﬁ"])
    assert normalize(text, ShingleSpec(lowercase=False)).to_pylist() == ["Hello World fi"]
    assert normalize(text, ShingleSpec(strip_punctuation=False)).to_pylist() == ["hello, world! fi"]
    assert normalize(text, ShingleSpec(form="none")).to_pylist() == ["hello world ﬁ"]


def test_tokens_of_a_mixed_batch() -> None:
    texts = pa.array(["Hello,  world!", None, "你好，世界", "", "über-cool 😀 ok"])
    tokens = tokenize(texts)
    words = [t.decode("utf-8") for t in tokens.texts()]
    assert tokens.char_mode.tolist() == [False, False, True, False, False]
    assert tokens.doc_tokens.tolist() == [0, 2, 2, 6, 6, 9]
    assert words == ["hello", "world", "你", "好", "世", "界", "über", "cool", "ok"]


def test_fast_hash_is_the_plain_python_function() -> None:
    texts = ["one two three four five six", "你好世界我们", "a b"]
    sh = shingle_hashes(pa.array(texts))
    expected = [
        fast_shingle_hash("one two three four five"), fast_shingle_hash("two three four five six"),
        fast_shingle_hash("你好世界我", True), fast_shingle_hash("好世界我们", True),
        fast_shingle_hash("a b"),
    ]
    assert sh.hashes.tolist() == expected
    assert sh.offsets.tolist() == [0, 2, 4, 5]
    # the definition: fmix64 of the multiply-add fold of xxh3-64 token hashes
    h = xxhash.xxh3_64_intdigest(b"a") * 0x9E3779B97F4A7C15 + xxhash.xxh3_64_intdigest(b"b")
    h &= (1 << 64) - 1
    for mult, shift in ((0xFF51AFD7ED558CCD, 33), (0xC4CEB9FE1A85EC53, 33)):
        h ^= h >> shift
        h = (h * mult) & ((1 << 64) - 1)
    h ^= h >> 33
    assert fast_shingle_hash("a b") == h


def test_sha1_hash_is_datasketch_s_sha1_hash32() -> None:
    import hashlib
    import struct

    sh = shingle_hashes(pa.array(["Alpha beta, gamma delta epsilon zeta!"]), hash="sha1", bits=32)
    expected = [struct.unpack("<I", hashlib.sha1(s.encode()).digest()[:4])[0]
                for s in ("alpha beta gamma delta epsilon", "beta gamma delta epsilon zeta")]
    assert sh.hashes.tolist() == expected and sh.hashes.dtype == np.uint32


def test_empty_batch() -> None:
    sh = shingle_hashes(pa.array([], pa.string()))
    assert sh.hashes.size == 0 and sh.offsets.tolist() == [0]

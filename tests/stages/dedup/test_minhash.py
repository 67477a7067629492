"""minhash_v1: signatures equal datasketch's, shingling rules, empty/short/CJK/huge documents, columns."""

from __future__ import annotations

import pickle
import unicodedata

import numpy as np
import pyarrow as pa
import pytest

from conftest import PARAGRAPHS, make_text, needs_shared, table
from dataforge import registry
from dataforge.stages.dedup.minhash import MinHashSignatures, permutations
from dataforge.text.shingles import document_shingles, fast_shingle_hash

def _ds():  # noqa: ANN202
    """datasketch (extra 'quality'): the tests that prove signature equality skip without it."""
    return pytest.importorskip("datasketch", reason="datasketch (extra 'quality') proves signature equality")

# Real-ish multilingual text: accents, ligatures, no-break spaces, full-width forms, emoji, CJK, Thai.
TEXTS = [
    *PARAGRAPHS,
    "Die Straße führt über die Brücke; dort wohnen Müller & Söhne — seit 1999!\u00a0Schön, nicht?",
    "L'été dernier, nous avons visité « la Côte d'Azur » et mangé des crêpes… C'était génial.",
    "Ｆｕｌｌ－ｗｉｄｔｈ ＡＳＣＩＩ and the ﬁne ﬂower, x² + y² = z²; ½ cup of sugar, ™ and © signs.",
    "The cafe\u0301 (decomposed) and the café (composed) are the same word after NFKC 😀 emoji 🎉 here.",
    "我们今天去公园散步，天气很好。孩子们在草地上玩耍，老人们在树下下棋。",
    "東京は日本の首都です。多くの人々がここで働いています。",
    "ภาษาไทยเขียนติดกันโดยไม่มีช่องว่างระหว่างคำ",
    "한국어는 띄어쓰기를 사용합니다 그래서 단어 단위로 나눕니다",
    "Short one.",
    "tab\tseparated\nlines\r\nand\u2028separators\u00adsoft\u200bhyphen",
]


def _category_sep(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] in "ZPS" or cat == "Cc"


def reference_shingles(text: str, language: str | None = None, n: int = 5, char_n: int = 5) -> list[str]:
    """An independent, plain-Python implementation of the documented shingling rules."""
    s = unicodedata.normalize("NFKC", text)
    chars = []
    for ch in s:
        if unicodedata.category(ch) == "Cf":
            continue
        chars.append(" " if _category_sep(ch) else ch.lower()[0])
    norm = "".join(chars)
    words = norm.split()
    blocks = [(0x0E00, 0x0FFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF)]
    script = sum(1 for ch in norm if unicodedata.category(ch)[0] == "L" and any(a <= ord(ch) <= b for a, b in blocks))
    nonsep = sum(len(w) for w in words)
    char_mode = (script > 0 and script >= 0.5 * max(nonsep, 1)) or (language or "").split("-")[0] in {"zh", "ja", "th"}
    tokens = list("".join(words)) if char_mode else words
    size = char_n if char_mode else n
    sep = "" if char_mode else " "
    if not tokens:
        return []
    if len(tokens) < size:
        return [sep.join(tokens)]
    return [sep.join(tokens[i: i + size]) for i in range(len(tokens) - size + 1)]


def _datasketch(shingles: list[str], char_mode: bool, num_perm: int, seed: int, scheme: str, hash_name: str):
    datasketch = _ds()
    from datasketch.hashfunc import sha1_hash32, sha1_hash64

    if hash_name == "sha1":
        func = sha1_hash64 if scheme == "affine64" else sha1_hash32
        items: list = [s.encode("utf-8") for s in shingles]
    else:
        mask = (1 << 64) - 1 if scheme == "affine64" else 0xFFFFFFFF
        func = lambda s: fast_shingle_hash(s, char_mode) & mask  # noqa: E731
        items = shingles
    m = datasketch.MinHash(num_perm=num_perm, seed=seed, scheme=scheme, hashfunc=func)
    m.update_batch(items)
    return m.digest()


def _batch(texts: list[str | None], language: list[str | None] | None = None) -> pa.Table:
    rows = [{"id": f"d{i}", "text": t, "language": (language or [None] * len(texts))[i]} for i, t in enumerate(texts)]
    return table(rows)


@pytest.mark.parametrize("scheme", ["affine32", "affine64", "legacy"])
def test_permutations_are_datasketch_s(scheme: str) -> None:
    a, b = permutations(112, 1, scheme)
    m = _ds().MinHash(num_perm=112, seed=1, scheme=scheme)
    assert np.array_equal(m.permutations[0], a) and np.array_equal(m.permutations[1], b)


def test_document_shingles_follow_the_documented_rules() -> None:
    for text in TEXTS:
        shingles, _ = document_shingles(text)
        assert shingles == reference_shingles(text), text


@pytest.mark.parametrize("scheme", ["affine32", "affine64", "legacy"])
@pytest.mark.parametrize("hash_name", ["sha1", "xxh3"])
def test_signatures_equal_datasketch(scheme: str, hash_name: str) -> None:
    texts = TEXTS + [make_text(i) for i in range(5)]
    out = MinHashSignatures(num_perm=64, seed=7, scheme=scheme, hash=hash_name)(_batch(texts)).kept
    sigs = out.column("minhash").to_pylist()
    for text, sig in zip(texts, sigs):
        shingles = reference_shingles(text)
        char_mode = document_shingles(text)[1]
        expected = _datasketch(shingles, char_mode, 64, 7, scheme, hash_name)
        assert sig == expected.tolist(), text
    assert out.schema.field("minhash").type == pa.list_(pa.uint64() if scheme == "affine64" else pa.uint32(), 64)


def test_default_is_fineweb_layout_and_datasketch_default_scheme() -> None:
    out = MinHashSignatures()(_batch([PARAGRAPHS[0]])).kept
    assert out.schema.field("minhash").type == pa.list_(pa.uint32(), 112)
    expected = _datasketch(reference_shingles(PARAGRAPHS[0]), False, 112, 1, "affine32", "xxh3")
    assert out.column("minhash")[0].as_py() == expected.tolist()
    assert out.column("minhash_shingles")[0].as_py() == len(PARAGRAPHS[0].split()) - 4


def test_empty_and_short_documents() -> None:
    texts = ["", None, "   \n\t ", "!!! ... ???", "two words", "one", "exactly five words in here"]
    out = MinHashSignatures()(_batch(texts)).kept
    counts = out.column("minhash_shingles").to_pylist()
    assert counts == [0, 0, 0, 0, 1, 1, 1]
    sigs = out.column("minhash").to_pylist()
    for sig in sigs[:4]:  # no shingle: datasketch's empty MinHash
        assert sig == [0xFFFFFFFF] * 112
    assert sigs[4] == _datasketch(["two words"], False, 112, 1, "affine32", "xxh3").tolist()
    assert sigs[5] == _datasketch(["one"], False, 112, 1, "affine32", "xxh3").tolist()
    assert sigs[6] == _datasketch(["exactly five words in here"], False, 112, 1, "affine32", "xxh3").tolist()


def test_cjk_and_thai_are_shingled_by_characters() -> None:
    texts = ["我们今天去公园散步，天气很好。", "ภาษาไทยเขียนติดกัน", "한국어는 띄어쓰기를 사용합니다 그래서 단어 단위로", "abc"]
    for text in texts[:2]:
        shingles, char_mode = document_shingles(text)
        assert char_mode and all(len(s) == 5 for s in shingles)
    shingles, char_mode = document_shingles(texts[2])
    assert not char_mode and shingles[0] == "한국어는 띄어쓰기를 사용합니다 그래서 단어"
    # the language column forces character shingles; segment="words" forces words
    assert document_shingles("abcdef", "zh")[0] == ["abcde", "bcdef"]
    assert document_shingles("abcdef", "zh-Hans")[1]
    out = MinHashSignatures()(_batch(texts, ["zh", None, "ko", "en"])).kept
    assert out.column("minhash_shingles").to_pylist() == [13 - 4, 18 - 4, 2, 1]  # code points - 4
    words = MinHashSignatures(segment="words")(_batch(texts)).kept
    assert words.column("minhash_shingles").to_pylist() == [1, 1, 2, 1]


def test_near_duplicates_estimate_jaccard_and_identical_documents_match() -> None:
    base = " ".join(PARAGRAPHS)
    edited = base.replace("farmers open the old channels", "farmers close the new gates")
    other = make_text(3)
    out = MinHashSignatures(num_perm=256)(_batch([base, edited, base.upper(), other, TEXTS[6]])).kept
    sig = np.array(out.column("minhash").to_pylist())
    shingles = [set(reference_shingles(t)) for t in (base, edited, other)]
    for j in (1, 2):  # a light edit (Jaccard ~0.9) and a shared-paragraphs document (~0.4)
        true_j = len(shingles[0] & shingles[j]) / len(shingles[0] | shingles[j])
        estimate = float(np.mean(sig[0] == sig[1 if j == 1 else 3]))
        assert abs(estimate - true_j) < 0.1, (j, estimate, true_j)
    assert np.array_equal(sig[0], sig[2])  # case is folded
    assert float(np.mean(sig[0] == sig[4])) < 0.05  # unrelated text


def test_huge_document_spans_blocks_and_equals_datasketch() -> None:
    words = [f"w{i % 7919}x{i % 13}" for i in range(60_000)]  # ~60k shingles: several permutation blocks
    text = " ".join(words)
    out = MinHashSignatures(num_perm=32)(_batch([PARAGRAPHS[1], text, PARAGRAPHS[2]])).kept
    assert out.column("minhash_shingles").to_pylist()[1] == 60_000 - 4
    shingles = [" ".join(words[i: i + 5]) for i in range(len(words) - 4)]
    assert out.column("minhash")[1].as_py() == _datasketch(shingles, False, 32, 1, "affine32", "xxh3").tolist()


def test_signature_does_not_depend_on_the_batch() -> None:
    texts = TEXTS + [make_text(i) for i in range(6)]
    stage = MinHashSignatures()
    whole = stage(_batch(texts)).kept.column("minhash").to_pylist()
    alone = [stage(_batch([t])).kept.column("minhash")[0].as_py() for t in texts]
    assert whole == alone


def test_columns_empty_batch_passthrough_and_rerun() -> None:
    stage = MinHashSignatures(num_perm=16)
    empty = stage(_batch([])).kept
    assert empty.num_rows == 0 and empty.schema.field("minhash").type == pa.list_(pa.uint32(), 16)
    t = _batch([PARAGRAPHS[0], PARAGRAPHS[1]]).append_column("keep_me", pa.array([1, 2]))
    once = stage(t).kept
    assert once.column("keep_me").to_pylist() == [1, 2]
    assert once.column("id").to_pylist() == ["d0", "d1"]
    twice = stage(once).kept  # a rerun replaces the columns instead of adding a second copy
    assert twice.column_names.count("minhash") == 1
    assert twice.column("minhash").to_pylist() == once.column("minhash").to_pylist()
    assert "num_perm" in once.schema.field("minhash").metadata[b"dataforge"].decode()
    # large_string, chunked and sliced text columns give the same signatures
    big = t.set_column(t.column_names.index("text"), "text", t.column("text").cast(pa.large_string()))
    assert stage(big).kept.column("minhash").to_pylist() == once.column("minhash").to_pylist()
    chunked = pa.concat_tables([t.slice(0, 1), t.slice(1, 1)])
    assert stage(chunked).kept.column("minhash").to_pylist() == once.column("minhash").to_pylist()
    assert stage(t.slice(1, 1)).kept.column("minhash").to_pylist() == once.column("minhash").to_pylist()[1:]


def test_registered_picklable_and_params_validated() -> None:
    assert registry.get("minhash_v1") is MinHashSignatures
    stage = MinHashSignatures(num_perm=8)
    clone = pickle.loads(pickle.dumps(stage))
    t = _batch([PARAGRAPHS[0]])
    assert clone(t).kept.column("minhash").to_pylist() == stage(t).kept.column("minhash").to_pylist()
    with pytest.raises(ValueError):
        MinHashSignatures(num_perm=0)
    with pytest.raises(ValueError):
        MinHashSignatures(hash="md5")


def test_real_documents_equal_datasketch_sha1() -> None:
    """CCNet documents from the development data: default datasketch hashing (sha1_hash32)."""
    import json

    path = needs_shared("warc", "dolma", "ccnet_jsonl", "cc_en_head-0091.jsonl")
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    out = MinHashSignatures(hash="sha1")(_batch(texts)).kept
    for text, sig in zip(texts, out.column("minhash").to_pylist()):
        shingles, char_mode = document_shingles(text)
        assert shingles == reference_shingles(text)
        assert sig == _datasketch(shingles, char_mode, 112, 1, "affine32", "sha1").tolist()

"""The vectorised tokeniser equals its definition (TOKEN_RE run with RE2), the token hash, the bit filter."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dataforge.stages.decontam.index import INDEX_VERSION, IndexConfig, NgramIndex, bit_filter, may_contain
from dataforge.stages.decontam.benchmarks import BenchmarkSpec
from dataforge.stages.decontam.tokens import LEADING_SEP_RE, TOKEN_RE, byte_hash, ngram_hashes, tokenize

MARK = "\x1f"


def reference(texts: list[str | None]) -> list[list[tuple[int, int, str]]]:
    """Per text: (start, end, normalised token) from the regular expression itself (the slow, obvious way)."""
    arr = pc.fill_null(pa.array(texts, pa.large_string()), "")
    arr = pc.replace_substring(arr, MARK, " ")
    pieces = pc.split_pattern(pc.replace_substring_regex(arr, TOKEN_RE, "\\0" + MARK), MARK).to_pylist()
    out = []
    for doc in pieces:
        toks, pos = [], 0
        for piece in doc[:-1]:  # the last piece is what follows the last token
            tok = pc.replace_substring_regex(pa.array([piece]), LEADING_SEP_RE, "")[0].as_py()
            pos += len(piece)
            norm = pc.utf8_lower(pc.utf8_normalize(pa.array([tok]), "NFKC"))[0].as_py()
            toks.append((pos - len(tok), pos, norm))
        out.append(toks)
    return out


def fuzz_texts(n: int, seed: int = 1) -> list[str]:
    """Random text from pools of ASCII, Latin, combining marks, CJK, Thai, kana, full-width, emoji, controls."""
    rng = random.Random(seed)
    pools = [list(range(32, 127)), list(range(0xA0, 0x250)), list(range(0x300, 0x370)), list(range(0x4E00, 0x4E40)),
             list(range(0x0E00, 0x0E60)), list(range(0x3000, 0x3100)), list(range(0xFF00, 0xFF70)),
             list(range(0x1F300, 0x1F320)), [0x1F, 0x0B, 0x85, 0xA0, 0x200B, 0xAD, 0x2028, 0xFEFF, 9, 10, 13],
             list(range(0x2150, 0x2190)), list(range(0x1100, 0x1180)), list(range(0x1780, 0x1800)),
             [0xFB01, 0x2460, 0x24B6, 0xFDFA, 0x1D400, 0x2126, 0x0130, 0x1E9E, 0xDF, 0x0E3F, 0xBD]]
    return ["".join(chr(rng.choice(rng.choice(pools))) for _ in range(rng.randint(0, 60))) for _ in range(n)]


def check(texts: list[str | None], arr: pa.Array | pa.ChunkedArray | None = None) -> None:
    """tokenize() gives the reference's spans and digit flags, and equal hashes exactly for equal tokens."""
    t = tokenize(pa.array(texts, pa.large_string()) if arr is None else arr)
    ref = reference(texts)
    assert t.counts.tolist() == [len(r) for r in ref]
    flat = [tok for r in ref for tok in r]
    assert t.starts.tolist() == [s for s, _, _ in flat]
    assert t.ends.tolist() == [e for _, e, _ in flat]
    assert t.numeric.tolist() == [bool(tok) and tok.isascii() and tok.isdigit() for _, _, tok in flat]
    norms = [tok for _, _, tok in flat]
    # the hash is a function of the normalised token, and different tokens get different hashes
    assert len(set(zip(norms, t.hashes.tolist()))) == len(set(norms)) == len(set(t.hashes.tolist()))


def test_tokenize_equals_the_expression_on_edge_cases() -> None:
    check(["Héllo, wörld! 中文", "def f(x):\n    return x + 1", "ＡＢＣ１２３ ＡＢＣ abc", "ﬁle ½ ① Ⓐ ™ K Å",
           "ราคา ฿100 บาท", "x\x1fy\u200bz\u00adw", "ÉCOLE école ECOLE", "İstanbul ß ẞ", "", None, "   ",
           "a" * 40 + " " + "B" * 17, "123 4567 12a a12 ٣٤ 12", "かなカナ漢字mixed中文text", "🙂 e\u0301 é",
           # characters that compose with the one before (combining class 0 included): never hashed as they stand
           "cafe\u0301 café CAFÉ Café", "\u1100\u1161 가 \u1100\u1161\u11a8 각", "\u0bc6\u0bbe ொ \u0b47\u0b3e ୋ",
           "Ωmega ωmega ΩMEGA Ωmega", "straße STRASSE ǅ ǆ Ǆ"])


def test_tokenize_equals_the_expression_on_fuzzed_unicode() -> None:
    texts = fuzz_texts(400)
    check(texts)
    # every code point of the BMP and plane 1, once each, in runs and separated
    chars = [chr(c) for c in range(1, 0x20000) if not 0xD800 <= c <= 0xDFFF]
    block = [chars[s:s + 2000] for s in range(0, len(chars), 2000)]
    check(["".join(b) for b in block[::3]] + [" ".join(b) for b in block[1::3]] + ["x".join(b) for b in block[2::3]])


def test_tokenize_accepts_chunked_sliced_and_plain_strings() -> None:
    texts = fuzz_texts(30, seed=2)
    whole = tokenize(pa.array(texts, pa.large_string()))
    chunked = pa.chunked_array([pa.array(texts[:10], pa.string()), pa.array(texts[10:], pa.string())])
    sliced = pa.array(["drop me"] + texts, pa.string()).slice(1)
    for other in (tokenize(chunked), tokenize(sliced), tokenize(pa.array(texts).dictionary_encode())):
        assert np.array_equal(other.offsets, whole.offsets) and np.array_equal(other.hashes, whole.hashes)
        assert np.array_equal(other.starts, whole.starts) and np.array_equal(other.ends, whole.ends)
    empty = tokenize(pa.array([], pa.string()))
    assert empty.offsets.tolist() == [0] and len(empty.hashes) == 0


def test_ngrams_never_cross_documents() -> None:
    t = tokenize(pa.array(["a b c d", "", "e f", "g h i", None, "j k l m n"]))
    g, first = ngram_hashes(t, 3)
    doc = t.doc_of()
    assert first.tolist() == [0, 1, 6, 9, 10, 11]  # tokens 0-3 | - | 4-5 | 6-8 | - | 9-13
    assert (doc[first] == doc[first + 2]).all() and len(set(g.tolist())) == len(g)
    whole, _ = ngram_hashes(tokenize(pa.array(["a b c d"])), 3)
    assert g[:2].tolist() == whole.tolist()  # the same words give the same n-gram hashes in any batch


def test_byte_hash_is_injective_up_to_eight_bytes_and_position_free() -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 4, 20_000).astype(np.uint8)  # few symbols: many equal ranges
    starts = rng.integers(0, 19_900, 30_000)
    lengths = rng.integers(0, 40, 30_000)
    padded = np.concatenate([data, np.zeros(8, np.uint8)])
    h = byte_hash(padded, starts, lengths)
    keys = [data[s:s + n].tobytes() for s, n in zip(starts.tolist(), lengths.tolist())]
    pairs = set(zip(keys, h.tolist()))
    assert len(pairs) == len(set(keys)) == len(set(h.tolist()))
    short = lengths <= 8
    assert len({k for k, s in zip(keys, short) if s}) == len(set(h[short].tolist()))


def test_bit_filter_has_no_false_negatives() -> None:
    rng = np.random.default_rng(1)
    members = np.sort(rng.integers(0, 2**63, 50_000, dtype=np.uint64) * np.uint64(2))
    filt = bit_filter(members)
    assert may_contain(filt, members).all()
    others = rng.integers(0, 2**63, 100_000, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    assert may_contain(filt, others).mean() < 0.06  # ~1/32 expected
    assert not may_contain(bit_filter(np.zeros(0, np.uint64)), others).any()


def test_saved_index_of_another_version_is_refused(tmp_path: Path) -> None:
    spec = BenchmarkSpec(name="s", fields=["q"], items=[{"q": " ".join(f"w{k}" for k in range(20))}])
    NgramIndex.build([spec], IndexConfig()).save(tmp_path / "index")
    assert NgramIndex.load(tmp_path / "index").meta["version"] == INDEX_VERSION
    meta = json.loads((tmp_path / "index" / "index.json").read_text())
    meta["version"] = "decontam-index-v1"
    (tmp_path / "index" / "index.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="rebuild it"):
        NgramIndex.load(tmp_path / "index")

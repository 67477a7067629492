"""dataforge.text.normalize: the vectorised fold equals unicodedata + str.lower on tricky random text."""

from __future__ import annotations

import itertools
import random
import unicodedata

import pyarrow as pa
import pytest

from dataforge.text.normalize import fold, fold_text

# Characters whose normal form depends on their neighbours (combining marks in and out of order,
# composing pairs, conjoining jamo, Indic vowel parts, half-width voiced marks), compatibility
# characters (ligatures, full-width, fractions, squared words), format characters, astral ones.
POOL = list("aeiouAEIOU kstnxyz.,;!?-'\"") + [chr(c) for c in (
    0x0301, 0x0300, 0x0308, 0x0323, 0x0316, 0x0327, 0x0338, 0x0345, 0x00E9, 0x00C5, 0x212B, 0x1E9B, 0x00B4, 0x00A8,
    0x0385, 0x1100, 0x1161, 0x11A8, 0xAC00, 0xAC01, 0x1112, 0x1175, 0x11C2, 0x0915, 0x093C, 0x0928, 0x0929, 0x094D,
    0x093E, 0x0958, 0x09C7, 0x09BE, 0x09D7, 0x09CB, 0x09BC, 0x09A1, 0x09DC, 0x09CD, 0x0B47, 0x0B3E, 0x0BC6, 0x0BBE,
    0x0CC6, 0x0CC2, 0x0CD5, 0x0D46, 0x0D3E, 0x0DD9, 0x0DCF, 0x1025, 0x102E, 0xFF76, 0xFF9E, 0xFF9F, 0x30AB, 0x3099,
    0x309A, 0x304B, 0xFB01, 0x2026, 0x00A0, 0xFF21, 0x00BD, 0x2460, 0x3397, 0x337F, 0xFDFA, 0x2122, 0x00B2, 0x200B,
    0x200D, 0x00AD, 0xFE0F, 0x1F600, 0x1D400, 0x0130, 0x1E9E, 0x01C5, 0x0344, 0x0F73, 0x0F75, 0x0F81, 0x05B4, 0x05B7,
    0x05D0, 0x0627, 0x0653, 0x0654, 0x0655, 0x0622, 0x110BA, 0x11099, 0x1109A, 0x1D15E, 0x1D165, 0x1D16E)]


def reference(text: str, form: str, lowercase: bool, strip: bool) -> str:
    """The documented fold in plain Python (separator runs kept)."""
    out = []
    for ch in text if form == "none" else unicodedata.normalize(form, text):
        cat = unicodedata.category(ch)
        if cat == "Cf":
            continue
        sep = cat[0] == "Z" or cat == "Cc" or (strip and cat[0] in "PS")
        out.append(" " if sep else (ch.lower()[0] if lowercase else ch))
    return "".join(out)


def _collapse(s: str) -> str:
    """Separator runs as one space, none at the ends."""
    return " ".join(part for part in s.split(" ") if part)


@pytest.mark.parametrize("form,lowercase,strip", list(itertools.product(["NFKC", "NFC", "none"], [True, False],
                                                                         [True, False])))
def test_random_tricky_text_matches_unicodedata(form: str, lowercase: bool, strip: bool) -> None:
    rng = random.Random(f"{form}{lowercase}{strip}")
    texts = ["".join(rng.choice(POOL) for _ in range(rng.randint(0, 12))) for _ in range(1500)]
    got = fold_text(pa.array(texts), form, lowercase, strip).to_pylist()
    for text, g in zip(texts, got):
        assert g == _collapse(reference(text, form, lowercase, strip)), [hex(ord(c)) for c in text]


def test_fold_keeps_document_bounds_and_counts_script_letters() -> None:
    texts = ["e\u0301 x", None, "", "東京タワー abc", "ｶﾞ", "plain ascii", "\u200b"]
    f = fold(pa.array(texts))
    docs = [f.data[a:b].tobytes().decode() for a, b in zip(f.bounds[:-1], f.bounds[1:])]
    assert [_collapse(d) for d in docs] == ["é x", "", "", "東京タワー abc", "ガ", "plain ascii", ""]
    assert f.n_script.tolist()[3] == 5 and f.n_chars.tolist()[3] == 8
    assert fold(pa.array([], pa.string())).bounds.tolist() == [0]

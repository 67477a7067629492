"""Vectorised word tokenisation with character offsets, and n-gram hashes over the tokens.

Text and benchmark items go through the same function, so they normalise alike. A token is a
run of letters, digits and combining marks (case-folded, NFKC), or a single character of an
unspaced script (Han, kana, Thai, Lao, Khmer, Myanmar), which gives character n-grams there.
Whitespace, punctuation and symbols only separate tokens: re-indented, re-wrapped or
re-quoted code (``has_close_elements(numbers, 0.3)``) gives the same tokens as the original.
Offsets are in code points (Python ``str`` indices) of the original text, for cutting spans.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataforge.hashing import hash_strings

#: Scripts written without spaces: every character is a token (character n-grams).
UNSPACED = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
#: One token: an unspaced-script character, or a run of anything that is not a separator.
TOKEN_RE = "[" + UNSPACED + "]|[^" + UNSPACED + r"\s\p{P}\p{S}\p{C}\p{Z}]+"
#: Separators before a token inside a piece (the complement of the token characters).
LEADING_SEP_RE = r"^[\s\p{P}\p{S}\p{C}\p{Z}]+"
MARK = "\x1f"

#: Fixed odd multipliers combining token hashes into an n-gram hash (position-dependent).
_MULT = (np.random.default_rng(0x5EED_DECA).integers(1, 2**63, size=64, dtype=np.uint64) * np.uint64(2) + np.uint64(1))
MAX_N = len(_MULT)


@dataclass
class Tokens:
    """Tokens of a batch of texts, flat: per token its hash and [start, end) in code points."""

    offsets: np.ndarray  # int64, len n_docs + 1: doc d owns tokens offsets[d]:offsets[d+1]
    hashes: np.ndarray  # uint64 per token
    starts: np.ndarray  # int64 per token
    ends: np.ndarray  # int64 per token
    numeric: np.ndarray | None = None  # bool per token: digits only

    def all_numeric(self, first: np.ndarray, n: int) -> np.ndarray:
        """Whether each n-gram starting at ``first`` is made of digits only (tables, number lists)."""
        if self.numeric is None or not len(first):
            return np.zeros(len(first), dtype=bool)
        csum = np.concatenate(([0], np.cumsum(self.numeric, dtype=np.int64)))
        return (csum[first + n] - csum[first]) == n

    @property
    def counts(self) -> np.ndarray:
        """Tokens per document."""
        return np.diff(self.offsets)

    def doc_of(self) -> np.ndarray:
        """The document index of every token."""
        return np.repeat(np.arange(len(self.offsets) - 1, dtype=np.int64), self.counts)


def tokenize(texts: pa.Array | pa.ChunkedArray) -> Tokens:
    """Tokenise a string column (nulls are empty) into flat token hashes and code-point offsets."""
    arr = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    arr = pc.fill_null(arr.cast(pa.large_string()), "")
    arr = pc.replace_substring(arr, MARK, " ")  # the marker must not occur in the text itself
    # "a, b" -> "a\x1f, b\x1f": each piece between markers is (separators)(one token); the last is the tail
    pieces = pc.split_pattern(pc.replace_substring_regex(arr, TOKEN_RE, "\\0" + MARK), MARK)
    list_off = np.asarray(pieces.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    flat = pieces.flatten()
    n_docs = len(arr)
    per_doc = np.diff(list_off)  # tokens + 1
    plen = np.asarray(pc.utf8_length(flat).to_numpy(zero_copy_only=False), dtype=np.int64)
    cum = np.cumsum(plen) - plen  # start of each piece in the flat concatenation
    piece_start = cum - np.repeat(cum[list_off[:-1]] if len(plen) else np.zeros(n_docs, np.int64), per_doc)
    is_tail = np.zeros(len(plen), dtype=bool)
    if len(plen):
        is_tail[list_off[1:] - 1] = True
    keep = ~is_tail
    tok = pc.replace_substring_regex(flat.filter(pa.array(keep)), LEADING_SEP_RE, "")
    tlen = np.asarray(pc.utf8_length(tok).to_numpy(zero_copy_only=False), dtype=np.int64)
    norm = pc.utf8_lower(pc.utf8_normalize(tok, "NFKC"))
    ends = piece_start[keep] + plen[keep]
    counts = per_doc - 1
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    numeric = np.asarray(pc.match_substring_regex(norm, r"^\d+$").to_numpy(zero_copy_only=False), dtype=bool)
    return Tokens(offsets=offsets, hashes=hash_strings(norm), starts=ends - tlen, ends=ends, numeric=numeric)


def ngram_hashes(tokens: Tokens, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every n-gram that stays inside one document, and the index of its first token."""
    if not 1 <= n <= MAX_N:
        raise ValueError(f"n-gram size {n} outside 1..{MAX_N}")
    h = tokens.hashes
    total = len(h) - n + 1
    if total <= 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    acc = np.full(total, np.uint64(n), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            acc += h[k:k + total] * _MULT[k]
        acc ^= acc >> np.uint64(29)
        acc *= np.uint64(0xBF58476D1CE4E5B9)
        acc ^= acc >> np.uint64(32)
    first = np.arange(total, dtype=np.int64)
    doc = tokens.doc_of()
    valid = doc[first] == doc[first + n - 1]
    return acc[valid], first[valid]

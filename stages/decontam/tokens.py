"""Vectorised word tokenisation with character offsets, and n-gram hashes over the tokens.

Text and benchmark items go through the same function, so they normalise alike. A token is a
run of letters, digits and combining marks (case-folded, NFKC), or a single character of an
unspaced script (Han, kana, Thai, Lao, Khmer, Myanmar), which gives character n-grams there.
Whitespace, punctuation and symbols only separate tokens: re-indented, re-wrapped or
re-quoted code (``has_close_elements(numbers, 0.3)``) gives the same tokens as the original.
Offsets are in code points (Python ``str`` indices) of the original text, for cutting spans.

The definition is the regular expression :data:`TOKEN_RE` (RE2 syntax): a token is each of its
matches with the separators :data:`LEADING_SEP_RE` removed from its front, and its identity is
``utf8_lower(utf8_normalize(token, "NFKC"))``. :func:`tokenize` computes exactly that without
running an expression over the text, for a whole batch at once with numpy over its UTF-8
bytes: every byte gets the class of its character (the class of each distinct code point is
decided once per process by RE2 with the same character classes), tokens are the runs and
singletons of those classes, tokens of ASCII and of characters that normalising cannot change
(:func:`stable`: most lower-case letters of any script, CJK) are ASCII-lower-cased and hashed
straight from the buffer, and only the others (upper-case non-ASCII letters, compatibility
characters, combining sequences) go through Arrow's NFKC and lower-case kernels. Character offsets are
computed only for the tokens that ask for them (:meth:`Tokens.char_spans`: the matched ones).
tests/stages/decontam/test_tokens.py checks all of it against the expression on fuzzed text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Scripts written without spaces: every character is a token (character n-grams).
UNSPACED = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
#: Separator characters: whitespace, punctuation, symbols, control/format characters, spaces.
SEPARATORS = r"\s\p{P}\p{S}\p{C}\p{Z}"
#: One token: an unspaced-script character, or a run of anything that is not a separator.
TOKEN_RE = "[" + UNSPACED + "]|[^" + UNSPACED + SEPARATORS + "]+"
#: Separators before a token inside a piece (the complement of the token characters).
LEADING_SEP_RE = "^[" + SEPARATORS + "]+"

#: Code point classes. WORD: part of a run token; UNSPACED: a token on its own; EMPTY: an
#: unspaced character that is also a separator (Thai ``฿``): a token whose text is empty, as
#: the expression's token minus its leading separators; SEP: separates tokens.
SEP, WORD, UNSPACED_CHAR, EMPTY = 0, 1, 2, 3
_CONT = 4  # a byte inside a multi-byte character (before its class is known)
_UNKNOWN = 255
_CLASS = np.full(0x110000, _UNKNOWN, dtype=np.uint8)  # filled lazily, per distinct code point seen

#: Fixed odd multipliers combining token hashes into an n-gram hash (position-dependent).
_MULT = (np.random.default_rng(0x5EED_DECA).integers(1, 2**63, size=64, dtype=np.uint64) * np.uint64(2) + np.uint64(1))
MAX_N = len(_MULT)

_NOT_DIGIT = np.ones(256, dtype=np.uint8)
_NOT_DIGIT[0x30:0x3A] = 0
_WORD_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], dtype=np.uint64)
_P1, _P2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9)


@dataclass
class Tokens:
    """Tokens of a batch of texts, flat: per token its hash, byte range, and (on demand) code point range."""

    offsets: np.ndarray  # int64, len n_docs + 1: doc d owns tokens offsets[d]:offsets[d+1]
    hashes: np.ndarray  # uint64 per token
    byte_starts: np.ndarray  # int64 per token, into the batch's UTF-8 bytes
    byte_ends: np.ndarray  # int64 per token
    doc_bytes: np.ndarray  # int64, n_docs + 1: byte offsets of the documents
    continuation: np.ndarray  # int64, sorted byte positions of UTF-8 continuation bytes (empty for ASCII)
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

    def _chars(self, byte_pos: np.ndarray) -> np.ndarray:
        """Code point index of byte positions in the batch: the position minus the continuation bytes before it."""
        if not len(self.continuation):
            return byte_pos
        return byte_pos - np.searchsorted(self.continuation, byte_pos)

    def char_spans(self, tokens: np.ndarray, last: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """[start, end) in code points of each document's text, from token ``tokens`` to token ``last`` (default: itself)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        last = tokens if last is None else np.asarray(last, dtype=np.int64)
        doc = np.searchsorted(self.offsets, tokens, side="right") - 1
        base = self._chars(self.doc_bytes[doc])
        return self._chars(self.byte_starts[tokens]) - base, self._chars(self.byte_ends[last]) - base

    @property
    def starts(self) -> np.ndarray:
        """Start of every token, in code points of its document."""
        return self.char_spans(np.arange(len(self.hashes)))[0]

    @property
    def ends(self) -> np.ndarray:
        """End of every token, in code points of its document."""
        return self.char_spans(np.arange(len(self.hashes)))[1]


def classify(cp: np.ndarray) -> np.ndarray:
    """The class (SEP, WORD, UNSPACED_CHAR, EMPTY) of each code point, as RE2 decides with TOKEN_RE's classes."""
    cls = _CLASS[cp]
    unknown = cls == _UNKNOWN
    if unknown.any():
        new = np.unique(cp[unknown])
        new = new[(new < 0xD800) | (new > 0xDFFF)]  # surrogates never occur in valid UTF-8
        chars = pa.array([chr(int(c)) for c in new], pa.string())
        uns = np.asarray(pc.match_substring_regex(chars, "^[" + UNSPACED + "]$").to_numpy(zero_copy_only=False), bool)
        sep = np.asarray(pc.match_substring_regex(chars, "^[" + SEPARATORS + "]$").to_numpy(zero_copy_only=False), bool)
        _CLASS[new] = np.where(uns, np.where(sep, EMPTY, UNSPACED_CHAR), np.where(sep, SEP, WORD)).astype(np.uint8)
        cls = _CLASS[cp]
    return cls


_STABLE = np.full(0x110000, _UNKNOWN, dtype=np.uint8)  # 1: normalising leaves the character alone in any token


def stable(cp: np.ndarray) -> np.ndarray:
    """Whether each code point is unchanged by NFKC and lower case wherever it stands in a token.

    True for an assigned character with combining class 0 that NFKC and Arrow's ``utf8_lower``
    map to itself and that is never the second of a canonical composition pair (the Unicode
    quick check's "yes", conservatively): a token made of such characters and ASCII is its own
    normal form once ASCII is lower-cased, so it needs no trip through Arrow's kernels.
    """
    known = _STABLE[cp]
    unknown = known == _UNKNOWN
    if unknown.any():
        import unicodedata

        from dataforge.text.normalize import _composition  # noqa: PLC2701 - the engine's composition table

        seconds = _composition()[0]
        new = np.unique(cp[unknown])
        new = new[(new < 0xD800) | (new > 0xDFFF)]
        chars = pa.array([chr(int(c)) for c in new], pa.string())
        same = np.asarray(pc.equal(pc.utf8_lower(pc.utf8_normalize(chars, "NFKC")), chars)
                          .to_numpy(zero_copy_only=False), bool)
        for k, c in enumerate(new.tolist()):
            ch = chr(c)
            same[k] &= (c not in seconds and unicodedata.combining(ch) == 0 and unicodedata.category(ch) != "Cn")
        _STABLE[new] = same.astype(np.uint8)
        known = _STABLE[cp]
    return known == 1


_ASCII_CLASSES: list[np.ndarray] = []


def _ascii_classes() -> np.ndarray:
    """Per byte value: the class of the ASCII character, or _CONT for bytes of multi-byte characters."""
    if not _ASCII_CLASSES:
        table = np.full(256, _CONT, dtype=np.uint8)
        table[:128] = classify(np.arange(128, dtype=np.int64))
        _ASCII_CLASSES.append(table)
    return _ASCII_CLASSES[0]


def _utf8(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes (a view, rebased) and int64 byte offsets per row (rebased to 0) of a string array."""
    bufs = arr.buffers()
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(bufs[1], dtype=width, count=len(arr) + 1, offset=arr.offset * np.dtype(width).itemsize)
    offsets = offsets.astype(np.int64)
    if bufs[2] is None or offsets[-1] == offsets[0]:
        return np.zeros(0, np.uint8), offsets - offsets[0]
    return np.frombuffer(bufs[2], dtype=np.uint8)[offsets[0]:offsets[-1]], offsets - offsets[0]


def _multi_byte(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte position, code point and byte length of every multi-byte UTF-8 character."""
    lead = np.flatnonzero(data >= 0xC0)
    last = len(data) - 1
    b0 = data[lead].astype(np.int32)
    b1, b2, b3 = (data[np.minimum(lead + k, last)].astype(np.int32) & 0x3F for k in (1, 2, 3))
    clen = 2 + (b0 >= 0xE0).astype(np.int64) + (b0 >= 0xF0)
    cp = np.where(b0 < 0xE0, ((b0 & 0x1F) << 6) | b1,
                  np.where(b0 < 0xF0, ((b0 & 0x0F) << 12) | (b1 << 6) | b2,
                           ((b0 & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3))
    return lead, cp, clen


def _all_digits(data: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Whether each non-empty byte range data[start:end] holds ASCII digits only."""
    out = np.zeros(len(start), dtype=bool)
    if not len(data):
        return out
    first_byte = data[np.minimum(start, len(data) - 1)]
    cand = np.flatnonzero((end > start) & (_NOT_DIGIT[first_byte] == 0))  # starts with a digit: few ranges
    if not len(cand):
        return out
    s, n = start[cand], end[cand] - start[cand]
    at = np.repeat(s - np.cumsum(n) + n, n) + np.arange(int(n.sum()), dtype=np.int64)
    out[cand] = np.add.reduceat(_NOT_DIGIT[data[at]], np.cumsum(n) - n, dtype=np.int32) == 0
    return out


def byte_hash(padded: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each byte range ``padded[starts[i]:starts[i] + lengths[i]]``, vectorised.

    ``padded`` must have 8 bytes after the last range. Eight bytes at a time are xor-ed into a
    multiply/xor-shift state seeded by the length, then MurmurHash3's finaliser mixes it: inputs
    of up to 8 bytes (most words) map one-to-one to hashes. Longer ranges loop over the few of
    them that are left, 8 bytes per round.
    """
    words = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,)) if len(padded) >= 8 else None
    lengths = np.asarray(lengths, dtype=np.int64)
    h = lengths.astype(np.uint64) * _P1
    if not len(h) or words is None:
        return _fmix64(h)
    idx: np.ndarray | None = None
    k = 0
    with np.errstate(over="ignore"):
        while True:
            if idx is None:  # first round: every range at once, in place
                w = words[starts]
                w &= _WORD_MASKS[np.minimum(lengths, 8)]
                h ^= w
                h *= _P2
                np.right_shift(h, np.uint64(29), out=w)
                h ^= w
                idx = np.flatnonzero(lengths > 8)
            else:
                if not len(idx):
                    break
                rem = lengths[idx] - 8 * k
                x = (h[idx] ^ (words[starts[idx] + 8 * k] & _WORD_MASKS[np.minimum(rem, 8)])) * _P2
                h[idx] = x ^ (x >> np.uint64(29))
                idx = idx[rem > 8]
            k += 1
    return _fmix64(h)


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, in place."""
    t = np.empty_like(h)
    s = np.uint64(33)
    with np.errstate(over="ignore"):
        h ^= np.right_shift(h, s, out=t)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= np.right_shift(h, s, out=t)
        h *= np.uint64(0xC4CEB9FE1A85EC53)
        h ^= np.right_shift(h, s, out=t)
    return h


def _padded(data: np.ndarray, lower: bool = False) -> np.ndarray:
    """A copy of the bytes (ASCII upper case lowered if ``lower``) with 8 zero bytes after them."""
    out = np.zeros(len(data) + 8, dtype=np.uint8)
    out[:len(data)] = data
    if lower:
        body = out[:len(data)]
        body += ((data - np.uint8(0x41)) < 26).view(np.uint8) << np.uint8(5)  # A-Z -> a-z
    return out


def tokenize(texts: pa.Array | pa.ChunkedArray, numeric: bool = True) -> Tokens:
    """Tokenise a string column (nulls are empty) into flat token hashes and byte offsets (see the module docstring).

    ``numeric=False`` skips the digits-only flags (``Tokens.numeric`` is None), which only
    indexing needs.
    """
    want_numeric = numeric
    arr = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(pa.string())
    arr = pc.fill_null(arr, "")
    n_docs = len(arr)
    data, doc_bytes = _utf8(arr)
    # the class of every byte: ASCII from a table; a multi-byte character's bytes all get its class,
    # except that an unspaced character's continuation bytes get _CONT (they start no token)
    cls = _ascii_classes()[data]
    single_last = np.zeros(0, dtype=np.int64)
    continuation = np.zeros(0, dtype=np.int64)
    lead = np.zeros(0, dtype=np.int64)
    if len(data) and cls.max() == _CONT:  # some byte >= 0x80
        lead, cp, clen = _multi_byte(data)
        c = classify(cp)
        cls[lead] = c
        cont_cls = np.where(c == WORD, WORD, np.where(c == SEP, SEP, _CONT)).astype(np.uint8)
        for k in (1, 2, 3):
            sel = np.flatnonzero(clen > k)
            cls[lead[sel] + k] = cont_cls[sel]
        single = c >= UNSPACED_CHAR
        single_last = lead[single] + clen[single] - 1
        lead = lead[(c != SEP) & ~stable(cp)]  # characters inside tokens that normalising may change
        continuation = np.flatnonzero((data & 0xC0) == 0x80)
    # tokens: maximal runs of word bytes inside one document, and every unspaced character
    word = cls == WORD
    is_start = word.copy()
    is_start[1:] &= ~word[:-1]
    is_end = word.copy()
    is_end[:-1] &= ~word[1:]
    inner = doc_bytes[1:-1]
    inner = inner[(inner > 0) & (inner < len(data))]
    is_start[inner] = word[inner]
    is_end[inner - 1] = word[inner - 1]
    if len(single_last):
        is_start |= cls == UNSPACED_CHAR
        is_start |= cls == EMPTY
        is_end[single_last] = True
    b_start = np.flatnonzero(is_start)
    b_end = np.flatnonzero(is_end) + 1
    doc_tok = np.searchsorted(b_start, doc_bytes, side="left").astype(np.int64)
    doc_tok[-1] = len(b_start)
    if len(single_last):  # the expression's token minus its leading separators is empty: it sits at the end
        empty = np.flatnonzero(cls[b_start] == EMPTY)
        b_start[empty] = b_end[empty]
    hashes = np.empty(len(b_start), dtype=np.uint64)
    digits = np.zeros(len(b_start), dtype=bool)
    if len(b_start):
        # tokens of ASCII and stable characters: only ASCII upper case changes; hashed from the bytes
        plain = np.ones(len(b_start), dtype=bool)
        if len(lead):
            t = np.searchsorted(b_start, lead, side="right") - 1
            plain[t[(t >= 0) & (lead < b_end[np.maximum(t, 0)])]] = False
        b_len = b_end - b_start
        if plain.all():  # no gathers needed
            hashes = byte_hash(_padded(data, lower=True), b_start, b_len)
            a = np.arange(len(b_start))
        else:
            a = np.flatnonzero(plain)
            hashes[a] = byte_hash(_padded(data, lower=True), b_start[a], b_len[a])
        if want_numeric:
            digits[a] = _all_digits(data, b_start[a], b_end[a])
        u = np.flatnonzero(~plain)
        if len(u):  # the others: NFKC, then lower case, in Arrow
            bounds = np.empty(2 * len(u), dtype=np.int64)
            bounds[0::2], bounds[1::2] = b_start[u], b_end[u]
            both = pa.LargeStringArray.from_buffers(2 * len(u) - 1, pa.py_buffer(bounds), pa.py_buffer(data))
            norm = pc.utf8_lower(pc.utf8_normalize(both.take(pa.array(np.arange(0, 2 * len(u), 2))), "NFKC"))
            ndata, noff = _utf8(norm)
            hashes[u] = byte_hash(_padded(ndata), noff[:-1], np.diff(noff))
            if want_numeric:
                digits[u] = np.asarray(pc.match_substring_regex(norm, r"^\d+$").to_numpy(zero_copy_only=False), bool)
    return Tokens(offsets=doc_tok, hashes=hashes, byte_starts=b_start, byte_ends=b_end, doc_bytes=doc_bytes,
                  continuation=continuation, numeric=digits if want_numeric else None)


def ngram_hashes(tokens: Tokens, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every n-gram that stays inside one document, and the index of its first token."""
    if not 1 <= n <= MAX_N:
        raise ValueError(f"n-gram size {n} outside 1..{MAX_N}")
    h = tokens.hashes
    total = len(h) - n + 1
    if total <= 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    acc = np.full(total, np.uint64(n), dtype=np.uint64)
    term = np.empty(total, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            np.multiply(h[k:k + total], _MULT[k], out=term)
            acc += term
        acc ^= acc >> np.uint64(29)
        acc *= np.uint64(0xBF58476D1CE4E5B9)
        acc ^= acc >> np.uint64(32)
    # an n-gram stays inside a document when it starts no later than n - 1 tokens before the document's end
    counts = tokens.counts
    per_doc = np.maximum(counts - n + 1, 0)
    starts = tokens.offsets[:-1]
    if int(per_doc.sum()) == total:
        first = np.arange(total, dtype=np.int64)
        return acc, first
    first = np.repeat(starts - np.cumsum(per_doc) + per_doc, per_doc) + np.arange(int(per_doc.sum()), dtype=np.int64)
    return acc[first], first

"""Vectorised shingling of Arrow text columns: normalise, split into words or characters, hash n-grams.

The whole batch is processed at once with numpy over its UTF-8 bytes, without a Python loop
over documents or words.

1. **Normalise** (:mod:`dataforge.text.normalize`): Unicode NFKC, simple lowercase mapping,
   format characters (category Cf: zero-width spaces, soft hyphens) removed, and
   punctuation, symbols, separators and control characters (categories P*, S*, Z*, Cc)
   treated as word separators, as Python's ``unicodedata`` defines them.
   :func:`normalize` returns this text with separator runs folded to one space.
2. **Segment**: a document is split into *words* (maximal runs of non-separator characters)
   or, if it is written without spaces between words, into *characters* (code points,
   separators dropped). The rule (``segment="auto"``): characters when the ``language``
   column's primary subtag is one of :data:`CHAR_LANGUAGES` (zh, ja, th, lo, km, my, bo, ...),
   or when the letters of the Han, kana, Thai, Lao, Tibetan, Myanmar and Khmer blocks
   (:data:`CHAR_SCRIPT_BLOCKS`) are at least ``char_script_fraction`` (default 0.5) of the
   document's non-separator characters; words otherwise (Korean, which uses spaces, is
   shingled by words).
3. **Shingle**: n consecutive tokens (``ngram`` words, default 5, or ``char_ngram``
   characters, default 5). A document with at least one token but fewer than n gets exactly
   one shingle made of all its tokens; an empty document (nothing left after step 1) has no
   shingle. The *text* of a shingle is its words joined by one space, or its characters
   concatenated: :func:`document_shingles` returns these strings for one document.
4. **Hash** each shingle to 64 bits, with one of two functions of the shingle text:

   * ``"xxh3"`` (fast): every token is hashed with xxh3-64 (seed 0, of its UTF-8 bytes;
     computed with numpy, :mod:`dataforge.text.xxh3`); the shingle hash is ``fmix64(fold)``
     where ``fold`` runs ``h = h * 0x9E3779B97F4A7C15 + token_hash`` (mod 2^64) over the
     shingle's tokens and ``fmix64`` is the MurmurHash3 finaliser. :func:`fast_shingle_hash` is the same function in
     plain Python, for use as a ``hashfunc`` with other tools (datasketch).
   * ``"sha1"``: the first 4 (or 8) bytes of SHA-1 of the shingle's UTF-8 text, read
     little-endian: exactly ``datasketch.hashfunc.sha1_hash32`` (``sha1_hash64``).

Memory grows linearly with the batch's text: about 20 bytes per byte of text at the peak.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataforge.text.normalize import CHAR_SCRIPT_BLOCKS, SPACE, string_array, fold, fold_text  # noqa: F401 (re-export)
from dataforge.text.xxh3 import xxh3_64

#: Languages written without spaces between words (ISO 639-1/639-3 primary subtags): shingled by characters.
CHAR_LANGUAGES: tuple[str, ...] = (
    "zh", "ja", "th", "lo", "km", "my", "bo", "dz", "yue", "wuu", "cmn", "jpn", "tha", "lao", "khm", "mya", "bod",
)
#: Multiplier of the token-hash fold (odd: 2^64 / golden ratio).
FOLD_MULT = 0x9E3779B97F4A7C15

_M64 = (1 << 64) - 1
_FOLD_MULT_NP = np.uint64(FOLD_MULT)


@dataclass(frozen=True)
class ShingleSpec:
    """How documents are normalised, segmented and cut into shingles (see the module docstring)."""

    ngram: int = 5
    char_ngram: int = 5
    lowercase: bool = True
    form: Literal["NFKC", "NFC", "none"] = "NFKC"
    strip_punctuation: bool = True
    segment: Literal["auto", "words", "chars"] = "auto"
    char_languages: tuple[str, ...] = CHAR_LANGUAGES
    char_script_fraction: float = 0.5

    def __post_init__(self) -> None:
        """Reject shingle sizes below one."""
        if self.ngram < 1 or self.char_ngram < 1:
            raise ValueError(f"ngram ({self.ngram}) and char_ngram ({self.char_ngram}) must be at least 1")


@dataclass
class Tokens:
    """The tokens of a batch: byte ranges into the normalised UTF-8 bytes of all documents.

    In ``data`` (the folded text of :func:`dataforge.text.normalize.fold`) separators are
    spaces; token t is ``data[starts[t]:ends[t]]``.
    """

    data: np.ndarray  # uint8
    starts: np.ndarray  # int64, T
    ends: np.ndarray  # int64, T
    doc_tokens: np.ndarray  # int64, n + 1: document i owns tokens doc_tokens[i]:doc_tokens[i + 1]
    char_mode: np.ndarray  # bool, n: True where the document was segmented into characters

    @property
    def num_tokens(self) -> int:
        """Number of tokens in the batch."""
        return len(self.starts)

    def texts(self) -> list[bytes]:
        """Every token's UTF-8 bytes (a Python list: for slow paths and tests)."""
        raw = self.data.tobytes()
        return [raw[s:e] for s, e in zip(self.starts.tolist(), self.ends.tolist())]


@dataclass
class ShingleHashes:
    """One hash per shingle, documents back to back."""

    hashes: np.ndarray  # uint64 (or uint32 for 32-bit sha1), S
    offsets: np.ndarray  # int64, n + 1: document i owns hashes[offsets[i]:offsets[i + 1]]
    char_mode: np.ndarray  # bool, n

    @property
    def counts(self) -> np.ndarray:
        """Shingles per document."""
        return np.diff(self.offsets)


def _char_by_language(language: pa.Array | pa.ChunkedArray | None, n: int, spec: ShingleSpec) -> np.ndarray:
    """Documents whose language column names a language written without spaces."""
    if language is None or not spec.char_languages or n == 0:
        return np.zeros(n, dtype=bool)
    lang = pc.replace_substring_regex(pc.utf8_lower(string_array(language)), r"[-_].*$", "")
    return pc.is_in(lang, value_set=pa.array(list(spec.char_languages), lang.type)).to_numpy(zero_copy_only=False)


def _normalized(
    text: pa.Array | pa.ChunkedArray, language: pa.Array | pa.ChunkedArray | None, spec: ShingleSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1-2: folded UTF-8 bytes (separators as spaces), document bounds (n + 1), character mode."""
    f = fold(text, spec.form, spec.lowercase, spec.strip_punctuation)
    n = len(f.bounds) - 1
    if spec.segment == "words":
        char_mode = np.zeros(n, dtype=bool)
    elif spec.segment == "chars":
        char_mode = np.ones(n, dtype=bool)
    else:
        by_script = (f.n_script > 0) & (f.n_script >= spec.char_script_fraction * np.maximum(f.n_chars, 1))
        char_mode = by_script | _char_by_language(language, n, spec)
    return f.data, f.bounds, char_mode


def normalize(text: pa.Array | pa.ChunkedArray, spec: ShingleSpec = ShingleSpec()) -> pa.LargeStringArray:
    """Step 1 for a batch, as text: separator runs folded to one space, leading and trailing ones removed."""
    return fold_text(text, spec.form, spec.lowercase, spec.strip_punctuation)


def tokenize(
    text: pa.Array | pa.ChunkedArray,
    language: pa.Array | pa.ChunkedArray | None = None,
    spec: ShingleSpec = ShingleSpec(),
) -> Tokens:
    """Steps 1-2 for a whole batch: normalised bytes and token boundaries, found with numpy."""
    data, bounds, is_char = _normalized(text, language, spec)
    word = data != SPACE
    is_start = word.copy()
    is_start[1:] &= ~word[:-1]  # a word starts where a separator ends ...
    is_end = word.copy()
    is_end[:-1] &= ~word[1:]  # ... and ends before the next separator
    nonempty = np.flatnonzero(bounds[1:] > bounds[:-1])
    is_start[bounds[nonempty]] = word[bounds[nonempty]]  # ... and never across documents
    is_end[bounds[nonempty + 1] - 1] = word[bounds[nonempty + 1] - 1]
    if is_char.any():  # in character documents every code point (UTF-8 lead byte) is a token
        lead = word & np.repeat(is_char, np.diff(bounds)) & ((data & 0xC0) != 0x80)
        is_start |= lead
        is_end[:-1] |= lead[1:] & word[:-1]
    starts = np.flatnonzero(is_start)
    ends = np.flatnonzero(is_end) + 1
    doc_tokens = np.searchsorted(starts, bounds, side="left").astype(np.int64)
    return Tokens(data=data, starts=starts, ends=ends, doc_tokens=doc_tokens, char_mode=is_char)


def _shingle_layout(tokens: Tokens, spec: ShingleSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per shingle: first token and length; per document: shingle offsets (n + 1)."""
    m = np.diff(tokens.doc_tokens)
    size = np.where(tokens.char_mode, spec.char_ngram, spec.ngram).astype(np.int64)
    count = np.where(m >= size, m - size + 1, (m > 0).astype(np.int64))
    length = np.minimum(m, size)
    offsets = np.zeros(len(m) + 1, dtype=np.int64)
    np.cumsum(count, out=offsets[1:])
    total = int(offsets[-1])
    doc = np.repeat(np.arange(len(m), dtype=np.int64), count)
    first = tokens.doc_tokens[:-1][doc] + (np.arange(total, dtype=np.int64) - offsets[:-1][doc])
    return first, length[doc], offsets


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, in place on a uint64 array (returned for convenience)."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def token_hashes(tokens: Tokens) -> np.ndarray:
    """xxh3-64 (seed 0) of every token's UTF-8 bytes, vectorised (see :mod:`dataforge.text.xxh3`)."""
    return xxh3_64(tokens.data, tokens.starts, tokens.ends - tokens.starts)


def _fold(token_hash: np.ndarray, first: np.ndarray, length: np.ndarray) -> np.ndarray:
    """fmix64 of the multiply-add fold of each shingle's token hashes."""
    out = np.empty(len(first), dtype=np.uint64)
    if len(first) == 0:
        return out
    t = len(token_hash)
    sizes = np.flatnonzero(np.bincount(length))
    for size in sizes.tolist():
        sel = None if len(sizes) == 1 else np.flatnonzero(length == size)
        starts = first if sel is None else first[sel]
        if len(starts) * 4 > t and size > 1:  # many shingles: roll over the whole token array, then pick
            h = token_hash[: t - size + 1].copy()
            for k in range(1, size):
                h *= _FOLD_MULT_NP
                h += token_hash[k: t - size + 1 + k]
            h = h.take(starts)
        else:
            h = token_hash.take(starts)
            for k in range(1, size):
                h *= _FOLD_MULT_NP
                h += token_hash.take(starts + k)
        if sel is None:
            out = h
        else:
            out[sel] = h
    return fmix64(out)


def _shingle_texts(tokens: Tokens, first: np.ndarray, length: np.ndarray, offsets: np.ndarray) -> list[bytes]:
    """UTF-8 text of every shingle (words joined by one space, characters concatenated); Python, for slow paths."""
    toks = tokens.texts()
    sep = [b"" if c else b" " for c in np.repeat(tokens.char_mode, np.diff(offsets)).tolist()]
    return [s.join(toks[f: f + k]) for s, f, k in zip(sep, first.tolist(), length.tolist())]


def _sha1(shingles: list[bytes], bits: int) -> np.ndarray:
    """SHA-1 of each shingle text, first bits/8 bytes little-endian (datasketch's sha1_hash32/64)."""
    nbytes = bits // 8
    sha1 = hashlib.sha1
    frm = int.from_bytes
    return np.fromiter(
        (frm(sha1(s).digest()[:nbytes], "little") for s in shingles),
        dtype=np.uint32 if bits == 32 else np.uint64,
        count=len(shingles),
    )


def shingle_hashes(
    text: pa.Array | pa.ChunkedArray,
    language: pa.Array | pa.ChunkedArray | None = None,
    spec: ShingleSpec = ShingleSpec(),
    hash: Literal["xxh3", "sha1"] = "xxh3",
    bits: Literal[32, 64] = 64,
) -> ShingleHashes:
    """Steps 1-4 for a whole batch: one hash per shingle (uint64; uint32 for 32-bit sha1)."""
    tokens = tokenize(text, language, spec)
    first, length, offsets = _shingle_layout(tokens, spec)
    if hash == "sha1":
        hashes = _sha1(_shingle_texts(tokens, first, length, offsets), bits)
    elif hash == "xxh3":
        hashes = _fold(token_hashes(tokens), first, length)
    else:
        raise ValueError(f"unknown shingle hash {hash!r}: use 'xxh3' or 'sha1'")
    return ShingleHashes(hashes=hashes, offsets=offsets, char_mode=tokens.char_mode)


def document_shingles(
    text: str, language: str | None = None, spec: ShingleSpec = ShingleSpec()
) -> tuple[list[str], bool]:
    """The shingle texts of one document (in order, repeats kept) and whether it was shingled by characters.

    Feed ``[s.encode() for s in shingles]`` to ``datasketch.MinHash(hashfunc=sha1_hash32)``, or
    the strings themselves with ``hashfunc=lambda s: fast_shingle_hash(s, char_mode) & 0xFFFFFFFF``,
    to get the signatures the ``minhash_v1`` stage computes.
    """
    tokens = tokenize(pa.array([text], pa.string()), None if language is None else pa.array([language]), spec)
    first, length, offsets = _shingle_layout(tokens, spec)
    return [s.decode("utf-8") for s in _shingle_texts(tokens, first, length, offsets)], bool(tokens.char_mode[0])


def fast_shingle_hash(shingle: str, char_mode: bool = False) -> int:
    """The ``"xxh3"`` shingle hash of one shingle text, in plain Python (64-bit; mask for 32)."""
    import xxhash

    parts = list(shingle) if char_mode else shingle.split(" ")
    h = 0
    for i, tok in enumerate(parts):
        t = xxhash.xxh3_64_intdigest(tok.encode("utf-8"))
        h = t if i == 0 else (h * FOLD_MULT + t) & _M64
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M64
    h ^= h >> 33
    return h

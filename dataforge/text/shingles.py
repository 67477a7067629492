"""Vectorised shingling of Arrow text columns: normalise, split into words or characters, hash n-grams.

The whole batch is processed at once with numpy over its code points and UTF-8 bytes; the
only Python loop runs over the documents that need NFKC.

1. **Normalise**: Unicode NFKC (Python's ``unicodedata``; only documents containing a code
   point that NFKC may change are passed to it), simple lowercase mapping, format characters
   (category Cf: zero-width spaces, soft hyphens) removed, and punctuation, symbols,
   separators and control characters (categories P*, S*, Z*, Cc) treated as word separators.
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

   * ``"xxh3"`` (fast): every token is hashed with xxh3-64 (seed 0, of its UTF-8 bytes,
     computed with numpy: :mod:`dataforge.text.xxh3`); the shingle hash is ``fmix64(fold)`` where ``fold`` runs
     ``h = h * 0x9E3779B97F4A7C15 + token_hash`` (mod 2^64) over the shingle's tokens and
     ``fmix64`` is the MurmurHash3 finaliser. :func:`fast_shingle_hash` is the same function in
     plain Python, for use as a ``hashfunc`` with other tools (datasketch).
   * ``"sha1"``: the first 4 (or 8) bytes of SHA-1 of the shingle's UTF-8 text, read
     little-endian: exactly ``datasketch.hashfunc.sha1_hash32`` (``sha1_hash64``).

Memory grows linearly with the batch's text (about 12 bytes per character at the peak).
"""

from __future__ import annotations

import codecs
import hashlib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataforge.text.xxh3 import xxh3_64

#: Languages written without spaces between words (ISO 639-1/639-3 primary subtags): shingled by characters.
CHAR_LANGUAGES: tuple[str, ...] = (
    "zh", "ja", "th", "lo", "km", "my", "bo", "dz", "yue", "wuu", "cmn", "jpn", "tha", "lao", "khm", "mya", "bod",
)
#: Unicode blocks whose letters count as "written without spaces" (Thai, Lao, Tibetan, Myanmar, Khmer, Han, kana).
CHAR_SCRIPT_BLOCKS: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0E7F), (0x0E80, 0x0EFF), (0x0F00, 0x0FFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x19E0, 0x19FF),
    (0x2E80, 0x2FDF), (0x3005, 0x3007), (0x3021, 0x3029), (0x3038, 0x303B), (0x3040, 0x30FF), (0x31F0, 0x31FF),
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F), (0xF900, 0xFAFF), (0xFF66, 0xFF9F),
    (0x1B000, 0x1B16F), (0x20000, 0x323AF),
)
#: Multiplier of the token-hash fold (odd: 2^64 / golden ratio).
FOLD_MULT = 0x9E3779B97F4A7C15

_M64 = (1 << 64) - 1
_FOLD_MULT_NP = np.uint64(FOLD_MULT)
_SPACE, _END = 0x20, 0x0A  # separators become spaces; each document ends with one newline
# flags in the top byte of a code point's table entry (the low 21 bits are its output code point)
_SEP, _FORMAT, _SCRIPT, _SIMPLE, _COMPLEX = 1, 2, 4, 8, 16
_CP_MASK = np.uint32(0x1FFFFF)
_END_UTF32 = "\n".encode("utf-32-le")


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

    In ``data`` every separator character is one space and each document ends with a
    newline; token t is ``data[starts[t]:ends[t]]``.
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


def _as_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous string array (nulls become empty strings)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    return pc.fill_null(col, "")


def _entry(c: int, form: str, lowercase: bool, strip_punctuation: bool) -> tuple[int, str | None]:
    """Table entry of one code point (output code point in the low 21 bits, flags in the top byte) and,
    for a ``_SIMPLE`` one, what ``form`` turns it into."""
    ch = chr(c)
    cat = unicodedata.category(ch)
    flags = 0
    out = c
    if cat[0] == "Z" or cat == "Cc" or (strip_punctuation and cat[0] in "PS"):
        flags |= _SEP
        out = _SPACE
    elif cat == "Cf":
        flags |= _FORMAT
    elif lowercase:
        low = ch.lower()
        out = ord(low[0]) if low else c  # simple (1:1) mapping: U+0130 -> i
    if cat[0] == "L" and any(lo <= c <= hi for lo, hi in CHAR_SCRIPT_BLOCKS):
        flags |= _SCRIPT
    if form == "none":
        return out | (flags << 24), None
    mapped = unicodedata.normalize(form, ch)
    # may combine with a neighbour (quick-check "maybe"): combining marks, Hangul jamo
    combines = cat[0] == "M" or unicodedata.combining(ch) != 0 or 0x1100 <= c <= 0x11FF
    if combines:
        flags |= _COMPLEX
    elif mapped != ch:
        head = mapped[0]
        if c < 0x10000 and unicodedata.combining(head) == 0 and unicodedata.category(head)[0] != "M" \
                and not 0x1100 <= ord(head) <= 0x11FF:
            flags |= _SIMPLE  # maps to a fixed string starting with a starter: replace in place
            return out | (flags << 24), mapped
        flags |= _COMPLEX
    return out | (flags << 24), None


@dataclass(frozen=True)
class _Tables:
    """Per option set: entries of the BMP code points and the replacements of the ``_SIMPLE`` ones."""

    entries: np.ndarray  # uint32, 65,536
    rep_len: np.ndarray  # uint8, 65,536: code points a _SIMPLE code point becomes (0 otherwise)
    rep_off: np.ndarray  # int64, 65,536: where they start in rep_cps
    rep_cps: np.ndarray  # uint32


@lru_cache(maxsize=4)
def _tables(form: str, lowercase: bool, strip_punctuation: bool) -> _Tables:
    """Build the tables once per process and option set (about 0.3 s)."""
    entries = np.zeros(0x10000, dtype=np.uint32)
    rep_len = np.zeros(0x10000, dtype=np.uint8)
    rep_off = np.zeros(0x10000, dtype=np.int64)
    reps: list[int] = []
    for c in range(0x10000):
        entries[c], mapped = _entry(c, form, lowercase, strip_punctuation)
        if mapped is not None:
            rep_len[c], rep_off[c] = len(mapped), len(reps)
            reps.extend(map(ord, mapped))
    return _Tables(entries, rep_len, rep_off, np.array(reps, dtype=np.uint32))


def _lookup(cp: np.ndarray, spec: ShingleSpec) -> np.ndarray:
    """Table entries of code points (the BMP from the table, the few astral ones one by one)."""
    table = _tables(spec.form, spec.lowercase, spec.strip_punctuation).entries
    if len(cp) == 0 or cp.max() < 0x10000:
        return table.take(cp)
    astral = cp >= 0x10000
    v = table.take(np.where(astral, 0, cp))
    uniq, inv = np.unique(cp[astral], return_inverse=True)
    entry = [_entry(int(c), spec.form, spec.lowercase, spec.strip_punctuation)[0] for c in uniq]
    v[astral] = np.array(entry, dtype=np.uint32)[inv]
    return v


def _segment_counts(mask: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Number of True values of a bool mask in each segment [seg[i], seg[i + 1]) (segments non-empty)."""
    return np.add.reduceat(mask.view(np.uint8), seg[:-1], dtype=np.int32).astype(np.int64)


def _encode(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Code points of the documents, each followed by a newline, and the segment offsets (n + 1)."""
    parts = [t.encode("utf-32-le") for t in texts]
    parts.append(b"")
    cp = np.frombuffer(_END_UTF32.join(parts), dtype=np.uint32)
    seg = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1, out=seg[1:])
    return cp, seg


def _has_flag(v: np.ndarray, flag: int) -> np.ndarray:
    """Code points whose entry carries a flag."""
    return (v & np.uint32(flag << 24)) != 0


def _normalize_complex(
    texts: list[str], cp: np.ndarray, v: np.ndarray, seg: np.ndarray, spec: ShingleSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalise with ``unicodedata`` the documents holding a code point that may combine; splice them back."""
    docs = np.flatnonzero(_segment_counts(_has_flag(v, _COMPLEX), seg))
    if len(docs) == 0:
        return cp, v, seg
    fresh = [unicodedata.normalize(spec.form, texts[i]) + "\n" for i in docs.tolist()]
    new_cp = np.frombuffer("".join(fresh).encode("utf-32-le"), dtype=np.uint32)
    new_v = _lookup(new_cp, spec)
    new_len = np.fromiter(map(len, fresh), dtype=np.int64, count=len(fresh))
    new_seg = np.concatenate([[0], np.cumsum(new_len)])
    cps, vs, prev = [], [], 0
    for j, i in enumerate(docs.tolist()):
        cps += [cp[prev: seg[i]], new_cp[new_seg[j]: new_seg[j + 1]]]
        vs += [v[prev: seg[i]], new_v[new_seg[j]: new_seg[j + 1]]]
        prev = seg[i + 1]
    lens = np.diff(seg)
    lens[docs] = new_len
    seg = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=seg[1:])
    return np.concatenate(cps + [cp[prev:]]), np.concatenate(vs + [v[prev:]]), seg


def _normalize_simple(
    cp: np.ndarray, v: np.ndarray, seg: np.ndarray, spec: ShingleSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Replace every ``_SIMPLE`` code point by its normal form (in documents without combining ones)."""
    pos = np.flatnonzero(_has_flag(v, _SIMPLE))
    if len(pos) == 0:
        return v, seg
    t = _tables(spec.form, spec.lowercase, spec.strip_punctuation)
    src = cp[pos]
    k, off = t.rep_len[src].astype(np.int64), t.rep_off[src]
    v = v.copy()
    v[pos] = _lookup(t.rep_cps[off], spec)  # the first replacement code point takes the place of the original
    more = np.flatnonzero(k > 1)
    if len(more) == 0:
        return v, seg
    extra = k[more] - 1
    at = np.repeat(pos[more] + 1, extra)  # the others are inserted right after it, in order
    within = np.arange(int(extra.sum())) - np.repeat(np.cumsum(extra) - extra, extra) + 1
    values = _lookup(t.rep_cps[np.repeat(off[more], extra) + within], spec)
    v = np.insert(v, at, values)
    seg = seg + np.searchsorted(at, seg, side="right")
    return v, seg


def _char_by_language(language: pa.Array | pa.ChunkedArray | None, n: int, spec: ShingleSpec) -> np.ndarray:
    """Documents whose language column names a language written without spaces."""
    if language is None or not spec.char_languages or n == 0:
        return np.zeros(n, dtype=bool)
    lang = pc.replace_substring_regex(pc.utf8_lower(_as_array(language)), r"[-_].*$", "")
    return pc.is_in(lang, value_set=pa.array(list(spec.char_languages), lang.type)).to_numpy(zero_copy_only=False)


def _normalized(
    text: pa.Array | pa.ChunkedArray, language: pa.Array | pa.ChunkedArray | None, spec: ShingleSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1-2: UTF-8 bytes (separators as spaces, a newline after each document), bounds (n + 1), char mode."""
    texts = _as_array(text).to_pylist()
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=np.uint8), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=bool)
    cp, seg = _encode(texts)
    v = _lookup(cp, spec)
    if spec.form != "none":
        cp, v, seg = _normalize_complex(texts, cp, v, seg, spec)
        v, seg = _normalize_simple(cp, v, seg, spec)
    flags = (v >> np.uint32(24)).astype(np.uint8)
    if (flags & _FORMAT).any():
        keep = (flags & _FORMAT) == 0
        lens = _segment_counts(keep, seg)
        v, flags = v[keep], flags[keep]
        seg = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens, out=seg[1:])
    out = v & _CP_MASK
    out[seg[1:] - 1] = _END
    if spec.segment == "words":
        char_mode = np.zeros(n, dtype=bool)
    elif spec.segment == "chars":
        char_mode = np.ones(n, dtype=bool)
    else:
        char_mode = _char_by_language(language, n, spec)
        script = (flags & _SCRIPT) != 0
        if script.any():
            n_script = _segment_counts(script, seg)
            n_word = np.diff(seg) - _segment_counts((flags & _SEP) != 0, seg)
            char_mode |= (n_script > 0) & (n_script >= spec.char_script_fraction * np.maximum(n_word, 1))
    data = np.frombuffer(codecs.utf_32_le_decode(out)[0].encode("utf-8"), dtype=np.uint8)
    bounds = np.zeros(n + 1, dtype=np.int64)
    bounds[1:] = np.flatnonzero(data == _END) + 1
    return data, bounds, char_mode


def normalize(text: pa.Array | pa.ChunkedArray, spec: ShingleSpec = ShingleSpec()) -> pa.LargeStringArray:
    """Step 1 for a batch, as text: separator runs folded to one space, leading and trailing ones removed."""
    data, bounds, _ = _normalized(text, None, spec)
    arr = pa.LargeStringArray.from_buffers(len(bounds) - 1, pa.py_buffer(bounds), pa.py_buffer(data))
    return pc.utf8_trim(pc.replace_substring_regex(arr, r"[ \n]+", " "), " ")


def tokenize(
    text: pa.Array | pa.ChunkedArray,
    language: pa.Array | pa.ChunkedArray | None = None,
    spec: ShingleSpec = ShingleSpec(),
) -> Tokens:
    """Steps 1-2 for a whole batch: normalised bytes and token boundaries, found with numpy."""
    data, bounds, is_char = _normalized(text, language, spec)
    word = (data != _SPACE) & (data != _END)
    is_start = word.copy()
    is_start[1:] &= ~word[:-1]  # a word starts where a separator ends ...
    is_end = word.copy()
    is_end[:-1] &= ~word[1:]  # ... and ends before the next separator
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

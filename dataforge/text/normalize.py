"""Fold a batch of texts for matching, vectorised: NFKC, lowercase, separators to spaces, format characters out.

Every character is mapped on its own through tables built once per process from Python's
``unicodedata``: its NFKC form (``form``), simple (1:1) lowercase mapping, punctuation,
symbols, separators and controls (categories P*, S*, Z*, Cc) to a space (P* and S* only
with ``strip_punctuation``), format characters (Cf: zero-width spaces, soft hyphens)
removed. The result equals doing the same with ``unicodedata.normalize`` and ``str.lower``
on each document (a test checks it).

Two paths produce it:

* **bytes** (nearly every document): the UTF-8 buffer of the Arrow column is rewritten into
  a new one with numpy. ASCII bytes go through a 256-entry table; each multi-byte character is
  decoded and replaced by its folded bytes when they are no longer than the original (a
  separator by spaces, a removed character by a marker byte deleted at the end).
* **code points** (documents holding a character whose normal form depends on its
  neighbours, as the Unicode quick check decides, its "maybe" resolved against the character
  just before: a mark that composes with it or is out of canonical order, conjoining jamo;
  or a compatibility character whose folded form is longer than itself, such as ``½``):
  those documents are normalised whole with ``unicodedata`` and folded over UTF-32.

Runs of separators are left as runs of spaces: tokenisers split on them.
"""

from __future__ import annotations

import bisect
import codecs
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Unicode blocks whose letters count as "written without spaces" (Thai, Lao, Tibetan, Myanmar, Khmer, Han, kana).
CHAR_SCRIPT_BLOCKS: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0E7F), (0x0E80, 0x0EFF), (0x0F00, 0x0FFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x19E0, 0x19FF),
    (0x2E80, 0x2FDF), (0x3005, 0x3007), (0x3021, 0x3029), (0x3038, 0x303B), (0x3040, 0x30FF), (0x31F0, 0x31FF),
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F), (0xF900, 0xFAFF), (0xFF66, 0xFF9F),
    (0x1B000, 0x1B16F), (0x20000, 0x323AF),
)
_SCRIPT_STARTS = [lo for lo, _ in CHAR_SCRIPT_BLOCKS]

SPACE = 0x20
_MARK = 0xFF  # never a byte of UTF-8: marks bytes to delete
_END = 0x0A  # ends each document on the code point path (then turned into a space)
_END_UTF32 = "\n".encode("utf-32-le")
# flags of a character
_SEP, _FORMAT, _SCRIPT, _SIMPLE, _COMPLEX, _COMPOSE, _DECOMP = 1, 2, 4, 8, 16, 32, 64
_SLOW = 255  # folded byte count meaning "take the code point path"
_CP_MASK = np.uint32(0x1FFFFF)


@dataclass
class Folded:
    """Folded UTF-8 bytes of a batch and what the segmentation rule needs per document."""

    data: np.ndarray  # uint8: documents back to back, separators as spaces (runs kept)
    bounds: np.ndarray  # int64, n + 1: document i is data[bounds[i]:bounds[i + 1]]
    n_script: np.ndarray  # int64, n: letters from CHAR_SCRIPT_BLOCKS
    n_chars: np.ndarray  # int64, n: non-separator characters (only filled where n_script > 0)


def _in_script_blocks(c: int) -> bool:
    """Whether a code point lies in one of CHAR_SCRIPT_BLOCKS."""
    i = bisect.bisect_right(_SCRIPT_STARTS, c) - 1
    return i >= 0 and c <= CHAR_SCRIPT_BLOCKS[i][1]


def _entry(c: int, form: str, lowercase: bool, strip_punctuation: bool) -> tuple[int, str | None]:
    """Folded code point (low 21 bits) and flags (top byte) of one character, and its replacement if ``_SIMPLE``."""
    ch = chr(c)
    cat = unicodedata.category(ch)
    flags = 0
    out = c
    if cat[0] == "Z" or cat == "Cc" or (strip_punctuation and cat[0] in "PS"):
        flags |= _SEP
        out = SPACE
    elif cat == "Cf":
        flags |= _FORMAT
    elif lowercase:
        low = ch.lower()
        out = ord(low[0]) if low else c  # simple (1:1) mapping: U+0130 -> i
    if cat[0] == "L" and _in_script_blocks(c):
        flags |= _SCRIPT
    if form == "none":
        return out | (flags << 24), None
    mapped = unicodedata.normalize(form, ch)
    seconds, _ = _composition()
    if c in seconds:
        flags |= _COMPOSE  # may compose with the character before it (quick-check "maybe")
    if unicodedata.decomposition(ch):
        flags |= _DECOMP
    if mapped != ch:
        if all(unicodedata.combining(m) == 0 and unicodedata.category(m)[0] != "M" and ord(m) not in seconds
               for m in mapped):
            return out | ((flags | _SIMPLE) << 24), mapped  # a fixed string of starters: replace in place
        flags |= _COMPLEX
    return out | (flags << 24), None


@lru_cache(maxsize=1)
def _composition() -> tuple[frozenset[int], np.ndarray]:
    """Code points that are the second of a canonical composition pair, and the pairs as sorted uint64 keys
    ``first << 21 | second`` (BMP and SMP; Hangul syllables compose arithmetically and are checked apart)."""
    seconds: set[int] = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul V and T jamo
    keys = []
    for c in range(0x20000):
        d = unicodedata.decomposition(chr(c))
        if not d or d.startswith("<"):
            continue
        parts = d.split()
        if len(parts) == 2:
            a, b = int(parts[0], 16), int(parts[1], 16)
            if unicodedata.normalize("NFC", chr(a) + chr(b)) == chr(c):  # not excluded from composition
                seconds.add(b)
                keys.append((a << 21) | b)
    return frozenset(seconds), np.unique(np.array(keys, dtype=np.uint64))


def _folded_bytes(c: int, form: str, lowercase: bool, strip_punctuation: bool) -> tuple[bytes | None, int]:
    """UTF-8 bytes a character folds to on the bytes path (None: code point path), and its flags."""
    entry, mapped = _entry(c, form, lowercase, strip_punctuation)
    flags = entry >> 24
    if 0xD800 <= c <= 0xDFFF:  # surrogates never occur in UTF-8
        return b"", flags
    if flags & _COMPLEX:
        return None, flags
    if mapped is None:
        if flags & _FORMAT:
            return b"", flags
        if flags & _SEP:
            return b" ", flags
        return chr(entry & 0x1FFFFF).encode("utf-8"), flags
    flags &= ~(_SEP | _FORMAT)  # a replaced character is classified by what replaces it
    parts = []
    for m in mapped:  # the replacement is already normal: fold each of its characters
        e = _entry(ord(m), "none", lowercase, strip_punctuation)[0]
        if not (e >> 24) & _FORMAT:
            parts.append(" " if (e >> 24) & _SEP else chr(e & 0x1FFFFF))
    text = "".join(parts)
    if not text.strip(" "):
        return b" ", flags | _SEP
    return text.encode("utf-8"), flags


@dataclass(frozen=True)
class FoldTables:
    """Per option set: code point entries (code point path) and folded bytes (bytes path) of the BMP."""

    entries: pa.UInt32Array  # 65,536 entries: folded code point | flags << 24
    ascii_out: pa.UInt8Array  # 256: folded byte of each ASCII byte; _MARK for bytes >= 0x80
    fold_bytes: pa.UInt32Array  # 65,536: up to 4 folded UTF-8 bytes, little-endian
    fold_len: np.ndarray  # uint8, 65,536: their number; _SLOW for the code point path
    fold_flags: np.ndarray  # uint8, 65,536
    ccc: np.ndarray  # uint8, 65,536: canonical combining class


@lru_cache(maxsize=4)
def tables(form: str, lowercase: bool, strip_punctuation: bool) -> FoldTables:
    """The folding tables of one option set, built once per process (about half a second)."""
    entries = np.zeros(0x10000, dtype=np.uint32)
    fold_bytes = np.zeros(0x10000, dtype=np.uint32)
    fold_len = np.zeros(0x10000, dtype=np.uint8)
    fold_flags = np.zeros(0x10000, dtype=np.uint8)
    ccc = np.array([unicodedata.combining(chr(c)) for c in range(0x10000)], dtype=np.uint8)
    for c in range(0x10000):
        entries[c] = _entry(c, form, lowercase, strip_punctuation)[0]
        out, flags = _folded_bytes(c, form, lowercase, strip_punctuation)
        fold_flags[c] = flags
        if out is None or len(out) > 4:
            fold_len[c] = _SLOW
        else:
            fold_len[c] = len(out)
            fold_bytes[c] = int.from_bytes(out.ljust(4, b"\0"), "little")
    ascii_out = np.full(256, _MARK, dtype=np.uint8)
    ascii_out[:128] = [fold_bytes[c] & 0xFF if fold_len[c] == 1 else _MARK for c in range(128)]
    return FoldTables(pa.array(entries, pa.uint32()), pa.array(ascii_out, pa.uint8()), pa.array(fold_bytes, pa.uint32()),
                   fold_len, fold_flags, ccc)


def _take(table: pa.Array, idx: np.ndarray) -> np.ndarray:
    """table[idx] with Arrow's take (faster than numpy's for small tables), as a writable numpy array."""
    return pc.take(table, pa.array(idx)).to_numpy(zero_copy_only=False, writable=True)


def _segment_sums(mask: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """True values of a bool mask in each segment [bounds[i], bounds[i + 1]) (empty segments allowed)."""
    out = np.zeros(len(bounds) - 1, dtype=np.int64)
    nonempty = np.flatnonzero(bounds[1:] > bounds[:-1])
    if len(nonempty):  # reduceat over uint8 is several times faster than a cumulative sum of bools
        out[nonempty] = np.add.reduceat(mask.view(np.uint8), bounds[nonempty], dtype=np.int32)
    return out


def string_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous string array (nulls become empty strings)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    return pc.fill_null(col, "")


def _utf8_buffers(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes and int64 offsets (rebased to 0) of a string array, without copying the bytes."""
    n = len(col)
    bufs = col.buffers()
    width = 8 if pa.types.is_large_string(col.type) else 4
    offsets = np.frombuffer(bufs[1], dtype=np.int64 if width == 8 else np.int32, count=n + 1,
                            offset=col.offset * width).astype(np.int64)
    if bufs[2] is None or offsets[-1] == offsets[0]:
        return np.zeros(0, dtype=np.uint8), offsets - offsets[0]
    data = np.frombuffer(bufs[2], dtype=np.uint8)[offsets[0]: offsets[-1]]
    return data, offsets - offsets[0]


# -- the code point path ------------------------------------------------------------------------


def _lookup(cp: np.ndarray, form: str, lowercase: bool, strip: bool) -> np.ndarray:
    """Entries of code points (the BMP from the table, the few astral ones one by one)."""
    table = tables(form, lowercase, strip).entries
    astral = cp > 0xFFFF
    if not astral.any():
        return _take(table, cp)
    v = _take(table, np.minimum(cp, 0xFFFF))
    uniq, inv = np.unique(cp[astral], return_inverse=True)
    v[astral] = np.array([_entry(int(c), form, lowercase, strip)[0] for c in uniq], dtype=np.uint32)[inv]
    return v


def _fold_code_points(texts: list[str], form: str, lowercase: bool, strip: bool) -> Folded:
    """The code point path for a few documents: normalise them whole, fold over UTF-32."""
    n = len(texts)
    if form != "none":
        texts = [unicodedata.normalize(form, t) for t in texts]
    parts = [t.encode("utf-32-le") for t in texts]
    parts.append(b"")
    cp = np.frombuffer(_END_UTF32.join(parts), dtype=np.uint32)
    seg = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=n) + 1, out=seg[1:])
    v = _lookup(cp, form, lowercase, strip)  # normalised text: no character has a mapping left
    flags = (v >> np.uint32(24)).astype(np.uint8)
    keep = (flags & _FORMAT) == 0
    if not keep.all():
        lens = _segment_sums(keep, seg)
        v, flags = v[keep], flags[keep]
        seg = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens, out=seg[1:])
    out = v & _CP_MASK
    out[seg[1:] - 1] = _END
    script = (flags & _SCRIPT) != 0
    n_script = _segment_sums(script, seg)
    n_chars = _segment_sums((flags & _SEP) == 0, seg)
    data = np.frombuffer(codecs.utf_32_le_decode(out)[0].encode("utf-8"), dtype=np.uint8).copy()
    ends = np.flatnonzero(data == _END)
    data[ends] = SPACE
    bounds = np.zeros(n + 1, dtype=np.int64)
    bounds[1:] = ends + 1
    return Folded(data, bounds, n_script, n_chars)


# -- the bytes path -----------------------------------------------------------------------------


def _decode(data: np.ndarray, lead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Code points and byte lengths of the multi-byte UTF-8 characters starting at ``lead``."""
    pad = np.concatenate([data, np.zeros(3, dtype=np.uint8)])
    u = np.uint32
    b0 = pad[lead].astype(u)
    b1, b2, b3 = (pad[lead + k].astype(u) & u(0x3F) for k in (1, 2, 3))
    clen = 2 + (b0 >= 0xE0).astype(u) + (b0 >= 0xF0)
    two = ((b0 & u(0x1F)) << u(6)) | b1
    three = ((b0 & u(0x0F)) << u(12)) | (b1 << u(6)) | b2
    four = ((b0 & u(0x07)) << u(18)) | (b1 << u(12)) | (b2 << u(6)) | b3
    return np.where(clen == 2, two, np.where(clen == 3, three, four)), clen


def _folded_chars(cp: np.ndarray, form: str, lowercase: bool, strip: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Folded bytes (packed), their number (_SLOW: code point path), flags and combining classes of characters."""
    t = tables(form, lowercase, strip)
    bmp = np.minimum(cp, 0xFFFF)
    fbytes, flen, flags, ccc = _take(t.fold_bytes, bmp), t.fold_len[bmp], t.fold_flags[bmp], t.ccc[bmp]
    astral = cp > 0xFFFF
    if astral.any():  # rare (emoji, historic scripts, CJK extensions): one by one per distinct character
        uniq, inv = np.unique(cp[astral], return_inverse=True)
        folded = [_folded_bytes(int(c), form, lowercase, strip) for c in uniq]
        flen[astral] = np.array([_SLOW if b is None or len(b) > 4 else len(b) for b, _ in folded], np.uint8)[inv]
        flags[astral] = np.array([f for _, f in folded], dtype=np.uint8)[inv]
        fbytes[astral] = np.array([int.from_bytes((b or b"")[:4].ljust(4, b"\0"), "little") for b, _ in folded],
                                  dtype=np.uint32)[inv]
        ccc[astral] = np.array([unicodedata.combining(chr(int(c))) for c in uniq], dtype=np.uint8)[inv]
    return fbytes, flen, flags, ccc


def _context_changes(data: np.ndarray, offsets: np.ndarray, lead: np.ndarray, cp: np.ndarray, clen: np.ndarray,
                     flags: np.ndarray, ccc: np.ndarray) -> np.ndarray:
    """Multi-byte characters whose normal form depends on their neighbours, as the Unicode quick check
    decides, with its "maybe" resolved against the character just before: a combining mark out of
    canonical order, or a character that composes with its predecessor."""
    slow = np.zeros(len(lead), dtype=bool)
    adjacent = np.zeros(len(lead), dtype=bool)  # the previous character is the previous multi-byte one
    adjacent[1:] = lead[1:] == lead[:-1] + clen[:-1]
    slow[1:] = adjacent[1:] & (ccc[:-1] > ccc[1:]) & (ccc[1:] > 0)  # canonical reordering
    i = np.flatnonzero((flags & _COMPOSE) != 0)
    if len(i) == 0:
        return slow
    starts = offsets[np.searchsorted(offsets, lead[i], side="right") - 1]
    has_prev = lead[i] > starts
    adj = adjacent[i]
    j = np.maximum(i - 1, 0)
    prev = np.where(adj, cp[j], np.where(has_prev, data[np.maximum(lead[i] - 1, 0)], 0)).astype(np.uint64)
    prev_flags = np.where(adj, flags[j], 0)
    prev_ccc = np.where(adj, ccc[j], 0)
    c = cp[i].astype(np.uint64)
    _, pairs = _composition()
    keys = (prev << np.uint64(21)) | c
    pos = np.minimum(np.searchsorted(pairs, keys), len(pairs) - 1)
    composes = (pairs[pos] == keys) if len(pairs) else np.zeros(len(i), dtype=bool)
    hangul = (((c >= 0x1161) & (c <= 0x1175) & (prev >= 0x1100) & (prev <= 0x1112))
              | ((c >= 0x11A8) & (c <= 0x11C2) & (prev >= 0xAC00) & (prev <= 0xD7A3) & ((prev - 0xAC00) % 28 == 0)))
    after_mark = (ccc[i] > 0) & (prev_ccc > 0)  # could reach a starter further back: take the safe path
    slow[i] |= has_prev & (composes | hangul | after_mark | ((prev_flags & (_SIMPLE | _DECOMP | _COMPLEX)) != 0))
    return slow


def fold(
    text: pa.Array | pa.ChunkedArray, form: str = "NFKC", lowercase: bool = True, strip_punctuation: bool = True
) -> Folded:
    """Fold a batch of texts (see the module docstring); null texts fold to nothing."""
    col = string_array(text)
    n = len(col)
    n_script = np.zeros(n, dtype=np.int64)
    n_chars = np.zeros(n, dtype=np.int64)
    if n == 0:
        return Folded(np.zeros(0, dtype=np.uint8), np.zeros(1, dtype=np.int64), n_script, n_chars)
    data, offsets = _utf8_buffers(col)
    out = _take(tables(form, lowercase, strip_punctuation).ascii_out, data) if len(data) else data.copy()
    slow_docs = np.zeros(0, dtype=np.int64)
    lead = np.flatnonzero(data >= 0xC0)
    if len(lead):  # multi-byte characters: folded bytes over the original ones, then spaces or delete marks
        cp, clen = _decode(data, lead)
        fbytes, flen, flags, ccc = _folded_chars(cp, form, lowercase, strip_punctuation)
        slow = flen > clen  # longer once folded, or mapped to something that needs its neighbours (_SLOW)
        if form != "none":
            slow |= _context_changes(data, offsets, lead, cp, clen, flags, ccc)
        if slow.any():
            slow_docs = np.unique(np.searchsorted(offsets, lead[slow], side="right") - 1)
        sep = (flags & _SEP) != 0
        for k in range(4):
            sel = np.flatnonzero(clen > k)
            byte = (fbytes[sel] >> np.uint32(8 * k)) & np.uint32(0xFF)
            out[lead[sel] + k] = np.where(k < flen[sel], byte, np.where(sep[sel], SPACE, _MARK)).astype(np.uint8)
        script = (flags & _SCRIPT) != 0
        if script.any():
            n_script = np.bincount((np.searchsorted(offsets, lead, side="right") - 1)[script], minlength=n)
            chars = (out != SPACE) & (out != _MARK) & ((out < 0x80) | (out >= 0xC0))
            n_chars = _segment_sums(chars, offsets)
    keep = out != _MARK
    for i in slow_docs.tolist():
        keep[offsets[i]: offsets[i + 1]] = False
    bounds = offsets
    if not keep.all():
        out = out[keep]
        bounds = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(_segment_sums(keep, offsets), out=bounds[1:])
    if len(slow_docs) == 0:
        return Folded(out, bounds, n_script.astype(np.int64), n_chars)
    slow = _fold_code_points(col.take(pa.array(slow_docs)).to_pylist(), form, lowercase, strip_punctuation)
    pieces, prev = [], 0
    for j, i in enumerate(slow_docs.tolist()):
        pieces += [out[bounds[prev]: bounds[i]], slow.data[slow.bounds[j]: slow.bounds[j + 1]]]
        prev = i + 1
    pieces.append(out[bounds[prev]:])
    lens = np.diff(bounds)
    lens[slow_docs] = np.diff(slow.bounds)
    n_script = n_script.astype(np.int64)
    n_script[slow_docs] = slow.n_script
    n_chars[slow_docs] = slow.n_chars
    bounds = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=bounds[1:])
    return Folded(np.concatenate(pieces), bounds, n_script, n_chars)


def fold_text(
    text: pa.Array | pa.ChunkedArray, form: str = "NFKC", lowercase: bool = True, strip_punctuation: bool = True
) -> pa.LargeStringArray:
    """The folded texts as strings, with separator runs collapsed to one space and trimmed."""
    f = fold(text, form, lowercase, strip_punctuation)
    arr = pa.LargeStringArray.from_buffers(len(f.bounds) - 1, pa.py_buffer(f.bounds), pa.py_buffer(f.data))
    return pc.utf8_trim(pc.replace_substring_regex(arr, " +", " "), " ")

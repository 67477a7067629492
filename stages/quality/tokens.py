"""Words of a whole Arrow batch as flat NumPy arrays, for vectorised rule signals.

The text column is split at whitespace by Arrow (``utf8_split_whitespace``, the same
boundaries as Python's ``str.split()``), the chunks are dictionary-encoded, and only the
*distinct* chunks of the batch go through the Python word splitter (itself cached across
batches). Each document's words then come out as a slice of one ``int64`` array of token ids
(``BatchWords.ids[offsets[i]:offsets[i + 1]]``), and per-token attributes (length, "has a
letter", "is not only punctuation") are NumPy lookups, so per-document counts are cumulative
sums rather than Python loops.

Documents in languages written without spaces are split by character first (a space is put
around every CJK/Thai-script character), as described in :mod:`.words`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .punctuation import PUNCTUATION_SET
from .words import _NOSPACE_CHARS, WordSplitter, default_splitter

#: The vocabulary is emptied before a batch once it holds this many distinct tokens.
VOCAB_LIMIT = 500_000


class Vocabulary:
    """Token strings to dense ids, with the per-token attributes the rules need, per worker."""

    def __init__(self, splitter: WordSplitter) -> None:
        """Start empty; ``splitter`` turns a whitespace-free chunk into tokens."""
        self.splitter = splitter
        self.reset()

    def reset(self) -> None:
        """Forget every token and chunk (ids are only meaningful within one batch)."""
        self._ids: dict[str, int] = {}
        self._chunks: dict[str, tuple[int, ...]] = {}
        self.tokens: list[str] = []
        self._length: list[int] = []
        self._word: list[bool] = []
        self._alpha: list[bool] = []
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        """Number of distinct tokens seen."""
        return len(self.tokens)

    def token_id(self, token: str) -> int:
        """The id of ``token``, adding it (and its attributes) if new."""
        i = self._ids.get(token)
        if i is None:
            i = len(self.tokens)
            self._ids[token] = i
            self.tokens.append(token)
            self._length.append(len(token))
            self._word.append(not PUNCTUATION_SET.issuperset(token))
            self._alpha.append(any(map(str.isalpha, token)))
            self._arrays = None
        return i

    @property
    def cached_chunks(self) -> dict[str, tuple[int, ...]]:
        """Chunks already split, mapped to their token ids."""
        return self._chunks

    def lookup(self, token: str) -> int | None:
        """The id of ``token`` if it has been seen, else None."""
        return self._ids.get(token)

    def chunk_ids(self, chunk: str) -> tuple[int, ...]:
        """Token ids of one whitespace-free chunk (cached)."""
        ids = self._chunks.get(chunk)
        if ids is None:
            get = self._ids.get
            out = []
            for t in self.splitter.tokenize_chunk(chunk):
                i = get(t)
                out.append(self.token_id(t) if i is None else i)
            ids = tuple(out)
            self._chunks[chunk] = ids
        return ids

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-token-id arrays: character length, "not only punctuation", "has an alphabetic character"."""
        if self._arrays is None:
            self._arrays = (
                np.asarray(self._length, dtype=np.int64),
                np.asarray(self._word, dtype=bool),
                np.asarray(self._alpha, dtype=bool),
            )
        return self._arrays


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    """The process-wide vocabulary, shared by every quality stage of a worker."""
    return Vocabulary(default_splitter())


@dataclass
class BatchWords:
    """The words of every document of a batch, as token ids in one flat array."""

    ids: np.ndarray  # int64 token ids, documents back to back
    offsets: np.ndarray  # int64, n_docs + 1: document i is ids[offsets[i]:offsets[i + 1]]
    vocab: Vocabulary

    @property
    def counts(self) -> np.ndarray:
        """Words per document."""
        return np.diff(self.offsets)

    def doc_sum(self, values: np.ndarray) -> np.ndarray:
        """Per-document sums of a per-token array (integer or boolean)."""
        cs = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(values, out=cs[1:])
        return cs[self.offsets[1:]] - cs[self.offsets[:-1]]

    def doc_index(self) -> np.ndarray:
        """For every token, the index of its document."""
        return np.repeat(np.arange(len(self.offsets) - 1, dtype=np.int64), self.counts)

    def lengths(self) -> np.ndarray:
        """Character length of every token."""
        return self.vocab.arrays()[0][self.ids]

    def distinct_present(self, words: list[str]) -> np.ndarray:
        """Per document, how many of ``words`` (exact, case-sensitive) occur in it."""
        n = len(self.offsets) - 1
        wanted = [i for i in (self.vocab.lookup(w) for w in set(words)) if i is not None]
        if not wanted or len(self.ids) == 0:
            return np.zeros(n, dtype=np.int64)
        pos = np.flatnonzero(np.isin(self.ids, np.asarray(wanted, dtype=np.int64)))
        if len(pos) == 0:
            return np.zeros(n, dtype=np.int64)
        doc = np.searchsorted(self.offsets, pos, side="right") - 1
        pairs = np.unique(doc * (len(self.vocab) + 1) + self.ids[pos])
        return np.bincount(pairs // (len(self.vocab) + 1), minlength=n).astype(np.int64)


def segment_unsegmented(text: pa.ChunkedArray | pa.Array, mask: np.ndarray | None) -> pa.ChunkedArray | pa.Array:
    """Put spaces around every CJK/Thai-script character of the rows where ``mask`` is true."""
    if mask is None or not mask.any():
        return text
    spaced = pc.replace_substring_regex(text, f"([{_re2_class(_NOSPACE_CHARS)}])", r" \1 ")
    return pc.if_else(pa.array(mask), spaced, text)


def _re2_class(chars: str) -> str:
    """Rewrite a Python character-class body (literal characters and ``-`` ranges) for RE2."""
    return "".join(f"\\x{{{ord(c):x}}}" if c != "-" else "-" for c in chars)


def batch_words(text: pa.ChunkedArray | pa.Array, unsegmented: np.ndarray | None = None,
                vocab: Vocabulary | None = None) -> BatchWords:
    """Split every document of ``text`` (nulls are empty) into words; see the module docstring."""
    vocab = default_vocabulary() if vocab is None else vocab
    if len(vocab) > VOCAB_LIMIT:
        vocab.reset()
    text = pc.fill_null(text, "")
    text = segment_unsegmented(text, unsegmented)
    chunks = pc.utf8_split_whitespace(text)
    if isinstance(chunks, pa.ChunkedArray):
        chunks = chunks.combine_chunks()
    chunk_offsets = chunks.offsets.to_numpy().astype(np.int64)
    chunk_offsets = chunk_offsets - chunk_offsets[0]
    flat = chunks.flatten()
    n_docs = len(chunk_offsets) - 1
    if len(flat) == 0:
        return BatchWords(np.zeros(0, np.int64), np.zeros(n_docs + 1, np.int64), vocab)
    enc = pc.dictionary_encode(flat)
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    distinct = enc.dictionary.to_pylist()
    per_chunk = list(map(vocab.cached_chunks.get, distinct))  # C-speed for chunks seen before
    if None in per_chunk:
        for k, ids in enumerate(per_chunk):
            if ids is None:
                per_chunk[k] = vocab.chunk_ids(distinct[k])
    n_tok = np.fromiter(map(len, per_chunk), dtype=np.int64, count=len(per_chunk))
    starts = np.zeros(len(per_chunk) + 1, dtype=np.int64)
    np.cumsum(n_tok, out=starts[1:])
    pool = np.fromiter(chain.from_iterable(per_chunk), dtype=np.int64, count=int(starts[-1]))
    # gather: every chunk occurrence contributes its chunk's token ids, in order
    occ_len = n_tok[codes]
    occ_end = np.cumsum(occ_len)
    total = int(occ_end[-1]) if len(occ_end) else 0
    shift = np.repeat(starts[codes] - (occ_end - occ_len), occ_len)
    ids = pool[np.arange(total, dtype=np.int64) + shift]
    # token offsets per document: tokens before each document's first chunk
    occ_cum = np.zeros(len(codes) + 1, dtype=np.int64)
    occ_cum[1:] = occ_end
    offsets = occ_cum[chunk_offsets]
    return BatchWords(ids, offsets, vocab)

"""Repeated word n-gram statistics for a whole batch, vectorised with NumPy.

Gopher's repetition rules (Rae et al. 2021, App. A.1.1) in datatrove's exact definitions:

- *top n-gram share* (n = 2, 3, 4): characters of the most frequent n-gram (words joined by one
  space) times its count, over the document's characters; among equally frequent n-grams the
  one that occurs first wins (``Counter.most_common(1)``).
- *duplicated n-gram share* (n = 5 ... 10): scanning left to right, an n-gram already seen adds
  its characters (words joined without spaces) and the scan jumps past it; n-grams jumped over
  are not remembered.

n-grams are identified by a 64-bit hash of their token ids and their document. Sizes are
processed in increasing order, and an n-gram can only occur twice where its (n-1)-gram prefix
does, so after the smallest size only the positions of repeated (n-1)-grams are hashed and
sorted: the batch pays one full sort, then sorts that shrink quickly. The left-to-right scan is
sequential by nature; it visits only positions whose n-gram occurs at least twice.
"""

from __future__ import annotations

from bisect import bisect_left

import numpy as np

from .tokens import BatchWords

_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xBF58476D1CE4E5B9)
_K3 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, element-wise (wrapping uint64 arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _K2
    x = x ^ (x >> np.uint64(27))
    x = x * _K3
    return x ^ (x >> np.uint64(31))


def _group(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group equal keys: per element its group id; per group its size and its first element index."""
    order = np.argsort(keys)
    sk = keys[order]
    new = np.ones(len(sk), dtype=bool)
    new[1:] = sk[1:] != sk[:-1]
    starts = np.flatnonzero(new)
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    counts = np.diff(np.append(starts, len(sk)))
    first = np.minimum.reduceat(order, starts)
    return inverse, counts, first


class NgramStats:
    """Per-document n-gram statistics of one batch, computed for increasing n in one pass."""

    def __init__(self, words: BatchWords) -> None:
        """Prepare token ids, lengths and document boundaries."""
        self.ids = words.ids.astype(np.uint64)
        self.offsets = words.offsets
        self.n_docs = len(self.offsets) - 1
        self.doc = words.doc_index()
        self.doc_end = self.offsets[1:][self.doc] if len(self.doc) else np.zeros(0, np.int64)
        lengths = words.lengths()
        self.len_cum = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.len_cum[1:])

    def chars(self, start: np.ndarray, n: int) -> np.ndarray:
        """Characters of the n tokens from each start (without separators)."""
        return self.len_cum[start + n] - self.len_cum[start]

    def compute(self, top_sizes: list[int],
                dup_sizes: list[int]) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """Per size, per document: top n-gram characters x count, and duplicated n-gram characters."""
        top: dict[int, np.ndarray] = {}
        dup: dict[int, np.ndarray] = {}
        sizes = sorted(set(top_sizes) | set(dup_sizes))
        if not sizes:
            return top, dup
        cand = np.arange(len(self.ids), dtype=np.int64)  # positions whose n-gram may repeat
        with np.errstate(over="ignore"):
            hashes = _mix(self.ids * _K1 + np.uint64(1))
            for n in range(1, sizes[-1] + 1):
                if n > 1:
                    nxt = np.zeros_like(hashes)
                    nxt[: len(hashes) - (n - 1)] = self.ids[n - 1:]
                    hashes = _mix(hashes * _K1 + nxt)
                if n < sizes[0]:
                    continue
                cand = cand[cand + n <= self.doc_end[cand]]
                keys = _mix(hashes[cand] ^ (self.doc[cand].astype(np.uint64) * _K2))
                inverse, counts, first = _group(keys) if len(cand) else (cand, cand, cand)
                if n in top_sizes:
                    top[n] = self._top(n, cand, counts, first)
                repeated = counts[inverse] >= 2 if len(cand) else np.zeros(0, dtype=bool)
                if n in dup_sizes:
                    dup[n] = self._duplicates(n, cand[repeated], inverse[repeated])
                cand = cand[repeated]
        return top, dup

    def _top(self, n: int, cand: np.ndarray, counts: np.ndarray, first: np.ndarray) -> np.ndarray:
        """Most frequent n-gram's characters (space-joined) times its count, first occurrence on ties."""
        out = np.zeros(self.n_docs, dtype=np.int64)
        # documents with at least n tokens: a singleton n-gram, the first one, unless one repeats
        long_enough = np.flatnonzero(np.diff(self.offsets) >= n)
        starts = self.offsets[:-1][long_enough]
        out[long_enough] = self.chars(starts, n) + (n - 1)
        rep = np.flatnonzero(counts >= 2)
        if len(rep) == 0:
            return out
        pos = cand[first[rep]]
        g_doc = self.doc[pos]
        order = np.lexsort((pos, -counts[rep], g_doc))
        lead = np.ones(len(order), dtype=bool)
        lead[1:] = g_doc[order][1:] != g_doc[order][:-1]
        best = order[lead]
        out[g_doc[best]] = (self.chars(pos[best], n) + (n - 1)) * counts[rep][best]
        return out

    def _duplicates(self, n: int, pos: np.ndarray, key: np.ndarray) -> np.ndarray:
        """datatrove's left-to-right scan over the positions of repeated n-grams (in position order)."""
        out = np.zeros(self.n_docs, dtype=np.int64)
        if len(pos) == 0:
            return out
        docs = self.doc[pos]
        bounds = np.flatnonzero(np.diff(docs)) + 1
        starts = np.concatenate([[0], bounds]).tolist()
        ends = np.concatenate([bounds, [len(pos)]]).tolist()
        c_pos = pos.tolist()
        c_key = key.tolist()
        c_chars = self.chars(pos, n).tolist()
        for a, b, d in zip(starts, ends, docs[starts].tolist()):
            out[d] = _scan(c_pos, c_key, c_chars, a, b, n)
        return out


def _scan(pos: list[int], key: list[int], chars: list[int], a: int, b: int, n: int) -> int:
    """Duplicated n-gram characters of one document's candidates ``a:b``: an n-gram seen before
    counts and the scan resumes n tokens on (the first candidate there is at most n entries on)."""
    seen: set[int] = set()
    add = seen.add
    total = 0
    j = a
    while j < b:
        k = key[j]
        if k in seen:
            total += chars[j]
            hi = j + n + 1
            j = bisect_left(pos, pos[j] + n, j + 1, hi if hi < b else b)
        else:
            add(k)
            j += 1
    return total

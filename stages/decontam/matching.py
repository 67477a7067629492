"""Match a batch of documents against the n-gram index and cut matched spans (GPT-3 decontamination).

The work is vectorised over the whole batch (tokenise, hash n-grams, search the index, count
per document); only documents with a hit go through per-document code that computes character
spans, merges them and names the items, and those are rare in real data. A clean document
costs no Python at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from dataforge.stages.decontam.index import NgramIndex
from dataforge.stages.decontam.tokens import MAX_N, tokenize

#: Most items and spans listed per document in details (the counts are always complete).
LIST_LIMIT = 20
EXCERPT_CHARS = 200


@dataclass
class DocMatch:
    """One contaminated document: the items it overlaps, its matched spans and counts."""

    row: int
    matched_ngrams: int
    items: list[tuple[str, str]]  # (benchmark, item id), sorted
    spans: list[tuple[int, int]]  # merged [start, end) in code points
    excerpt: str

    @property
    def longest(self) -> int:
        """Longest matched span in characters."""
        return max((e - s for s, e in self.spans), default=0)

    @property
    def benchmarks(self) -> list[str]:
        """Benchmarks the document overlaps, sorted."""
        return sorted({b for b, _ in self.items})

    def describe(self, **extra: Any) -> dict[str, Any]:
        """A JSON-able record of the match (reject detail, ``decontam`` column)."""
        out = {
            "benchmark": self.benchmarks[0], "benchmarks": self.benchmarks,
            "items": [f"{b}/{i}" for b, i in self.items[:LIST_LIMIT]], "items_total": len(self.items),
            "spans": [list(s) for s in self.spans[:LIST_LIMIT]], "matched_ngrams": self.matched_ngrams,
            "longest_span": self.longest, "excerpt": self.excerpt,
        }
        out.update(extra)
        return out


@dataclass
class BatchMatch:
    """A batch's matches: per-row counts (vectorised) and details of the contaminated rows."""

    matched_ngrams: np.ndarray  # int64 per row (n-gram occurrences that hit any item)
    longest: np.ndarray  # int64 per row, characters
    docs: dict[int, DocMatch]  # row -> details, contaminated rows only


def match_texts(texts: pa.Array | pa.ChunkedArray, index: NgramIndex, min_matches: int = 1) -> BatchMatch:
    """Find benchmark n-grams in each text; a row is contaminated when one item has >= min_matches of them."""
    n_rows = len(texts)
    tokens = tokenize(texts, numeric=False)  # digit-only flags matter when indexing, not when matching
    hits = index.lookup(tokens)
    counts = np.zeros(n_rows, dtype=np.int64)
    longest = np.zeros(n_rows, dtype=np.int64)
    docs: dict[int, DocMatch] = {}
    if not len(hits.first):
        return BatchMatch(counts, longest, docs)
    doc = np.searchsorted(tokens.offsets, hits.first, side="right") - 1
    occ = hits.first * (MAX_N + 1) + hits.n  # one key per n-gram occurrence (its first token fixes its row)
    # distinct n-gram occurrences per row (an occurrence shared by several items counts once)
    uniq_occ = np.unique(occ)
    counts += np.bincount(np.searchsorted(tokens.offsets, uniq_occ // (MAX_N + 1), side="right") - 1, minlength=n_rows)
    # per (row, item): distinct matched n-grams, to apply min_matches
    order = np.lexsort((occ, hits.item, doc))
    d, it, o = doc[order], hits.item[order], occ[order]
    new_triple = np.ones(len(order), dtype=bool)
    new_triple[1:] = (d[1:] != d[:-1]) | (it[1:] != it[:-1]) | (o[1:] != o[:-1])
    d, it = d[new_triple], it[new_triple]
    new_pair = np.ones(len(d), dtype=bool)
    new_pair[1:] = (d[1:] != d[:-1]) | (it[1:] != it[:-1])
    starts = np.flatnonzero(new_pair)
    per_pair = np.diff(np.append(starts, len(d)))
    enough = per_pair >= min_matches
    good = np.stack([d[starts][enough], it[starts][enough]])  # (row, item), sorted by row then item
    good_rows = np.unique(good[0])
    if not len(good_rows):
        counts[:] = 0
        return BatchMatch(counts, longest, docs)
    # per contaminated row (rare): its hits of the items it matches, as character spans
    sel = np.isin(doc, good_rows)
    order = np.flatnonzero(sel)[np.argsort(doc[sel], kind="stable")]
    h_doc, h_item = doc[order], hits.item[order]
    h_start, h_end = tokens.char_spans(hits.first[order], (hits.first + hits.n - 1)[order])
    h_bounds = np.searchsorted(h_doc, np.append(good_rows, n_rows))
    g_bounds = np.searchsorted(good[0], np.append(good_rows, n_rows))
    for k, r in enumerate(good_rows.tolist()):
        items_idx = good[1, g_bounds[k]:g_bounds[k + 1]]
        lo, hi = h_bounds[k], h_bounds[k + 1]
        mine = np.isin(h_item[lo:hi], items_idx)
        spans = _merge(np.stack([h_start[lo:hi][mine], h_end[lo:hi][mine]], axis=1))
        text = texts[r].as_py() or ""
        s0, e0 = max(spans, key=lambda se: se[1] - se[0])
        names = sorted({(index.benchmark[i], index.item_id[i]) for i in items_idx.tolist()})
        dm = DocMatch(r, int(counts[r]), names, spans, text[s0:e0][:EXCERPT_CHARS])
        docs[r] = dm
        longest[r] = dm.longest
    clean = np.ones(n_rows, dtype=bool)
    clean[good_rows] = False
    counts[clean] = 0  # below min_matches for every item: not a match
    return BatchMatch(counts, longest, docs)


def _merge(spans: np.ndarray) -> list[tuple[int, int]]:
    """Merge overlapping or touching [start, end) spans."""
    if not len(spans):
        return []
    spans = spans[np.lexsort((spans[:, 1], spans[:, 0]))]
    out: list[list[int]] = []
    for s, e in spans.tolist():
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


@dataclass
class Cut:
    """What cutting did to one document: the kept text (None: drop it), the removed spans, the pieces."""

    text: str | None
    removed: list[tuple[int, int]]
    pieces: int
    why: str


def cut_document(text: str, spans: list[tuple[int, int]], margin: int = 200, min_fragment: int = 200,
                 max_pieces: int = 10) -> Cut:
    """GPT-3: remove each matched span with ``margin`` characters each side; the rest splits into pieces.

    Pieces shorter than ``min_fragment`` are discarded; a document split into more than
    ``max_pieces`` pieces, or with nothing left, is dropped (``text`` None). Kept pieces are
    joined with a blank line.
    """
    n = len(text)
    grown = _merge(np.array([[max(0, s - margin), min(n, e + margin)] for s, e in spans], dtype=np.int64).reshape(-1, 2))
    pieces, pos = [], 0
    for s, e in grown:
        if s > pos:
            pieces.append((pos, s))
        pos = e
    if pos < n:
        pieces.append((pos, n))
    if len(pieces) > max_pieces:
        return Cut(None, grown, len(pieces), f"cut into {len(pieces)} pieces (more than {max_pieces})")
    kept = [text[s:e].strip() for s, e in pieces if e - s >= min_fragment]
    kept = [k for k in kept if k]
    if not kept:
        return Cut(None, grown, len(pieces), f"nothing of at least {min_fragment} characters left after cutting")
    return Cut("\n\n".join(kept), grown, len(pieces), f"cut {len(grown)} span(s), kept {len(kept)} piece(s)")


def detail_json(obj: dict[str, Any]) -> str:
    """Compact, key-sorted JSON for details and the ``decontam`` column."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

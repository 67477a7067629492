"""The benchmark n-gram index: sorted uint64 n-gram hashes with item ids, saved as memory-mappable arrays.

Built once (on the driver) from benchmark items, written as a folder of ``.npy`` files that
every worker memory-maps, so the pages are shared between workers of a node instead of copied.
Lookups are vectorised over a whole batch: every n-gram hash first checks one bit of a
one-hash Bloom filter (32 bits per indexed n-gram, saved beside the hashes), which turns away
~97% of the n-grams of clean text with one independent memory read each; only the survivors,
sorted, are binary-searched (``np.searchsorted``) in the sorted hashes for the exact match.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataforge.stages.decontam.benchmarks import BenchmarkSpec, Item, LoadStats, content_fingerprint, load_items
from dataforge.stages.decontam.tokens import MAX_N, Tokens, ngram_hashes, tokenize

INDEX_VERSION = "decontam-index-v2"  # v2: byte_hash token hashes, bit filters
EXCERPT_CHARS = 160


@dataclass
class IndexConfig:
    """How items become n-grams (GPT-3 decontamination defaults)."""

    ngram: int | str = 13  # an int, or "auto": the 5th-percentile item length bounded to min_ngram..max_ngram
    min_ngram: int = 8
    max_ngram: int = 13
    max_items_per_ngram: int = 10
    max_item_chars: int = 100_000

    def key(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (for fingerprints)."""
        return {"ngram": self.ngram, "min_ngram": self.min_ngram, "max_ngram": self.max_ngram,
                "max_items_per_ngram": self.max_items_per_ngram, "max_item_chars": self.max_item_chars}


def benchmark_fingerprint(spec: BenchmarkSpec, cfg: IndexConfig) -> str:
    """A benchmark's identity for idempotent regeneration: its content, declaration and index settings."""
    payload = json.dumps({"v": INDEX_VERSION, "content": content_fingerprint(spec), "cfg": cfg.key()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass
class NgramIndex:
    """Per n-gram size: sorted hashes and the item of each; plus the items' names and excerpts."""

    tables: dict[int, tuple[np.ndarray, np.ndarray]]  # n -> (uint64 hashes sorted, int32 item index)
    benchmark: list[str]  # per item
    item_id: list[str]  # per item
    excerpt: list[str]  # per item
    meta: dict[str, Any] = field(default_factory=dict)
    filters: dict[int, np.ndarray] = field(default_factory=dict)  # n -> bit filter (see prefilter)

    @property
    def nbytes(self) -> int:
        """Bytes of the lookup arrays (sorted hashes, item ids and the bit filters)."""
        return int(sum(h.nbytes + i.nbytes for h, i in self.tables.values()) + sum(f.nbytes for f in self.filters.values()))

    def filter_for(self, n: int) -> np.ndarray:
        """The bit filter of the n-gram size ``n``, built on first use when the saved index has none."""
        f = self.filters.get(n)
        if f is None:
            f = self.filters[n] = bit_filter(self.tables[n][0])
        return f

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def build(cls, specs: list[BenchmarkSpec], default: IndexConfig) -> "NgramIndex":
        """Load every benchmark and index its items' n-grams; too-common n-grams are dropped."""
        per_n: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        bench, ids, excerpts = [], [], []
        meta_b: dict[str, Any] = {}
        names = [s.name for s in specs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            from dataforge.stages.decontam.benchmarks import BenchmarkError

            raise BenchmarkError(f"benchmark name(s) {dup} declared twice; give each benchmark its own name")
        for spec in specs:
            items, stats = load_items(spec, default.max_item_chars)
            cfg = IndexConfig(**{**default.key(), **({"ngram": spec.ngram} if spec.ngram is not None else {})})
            base = len(bench)
            info = _index_items(items, cfg, base, per_n)
            bench += [it.benchmark for it in items]
            ids += [it.item_id for it in items]
            excerpts += [it.text[:EXCERPT_CHARS] for it in items]
            meta_b[spec.name] = {**info, "records": stats.records, "items": stats.items, "skipped": stats.skipped,
                                 "files": stats.files, "layout": spec.layout, "fields": spec.protected_fields(),
                                 "fingerprint": benchmark_fingerprint(spec, default)}
        tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        ignored = 0
        for n, parts in sorted(per_n.items()):
            h = np.concatenate([p[0] for p in parts])
            it = np.concatenate([p[1] for p in parts])
            order = np.lexsort((it, h))
            h, it = h[order], it[order]
            if len(h):
                first = np.ones(len(h), dtype=bool)
                first[1:] = (h[1:] != h[:-1]) | (it[1:] != it[:-1])
                h, it = h[first], it[first]  # one entry per (n-gram, item)
                starts = np.flatnonzero(np.concatenate(([True], h[1:] != h[:-1])))
                sizes = np.diff(np.append(starts, len(h)))
                common = np.repeat(sizes > default.max_items_per_ngram, sizes)
                ignored += int((sizes > default.max_items_per_ngram).sum())
                h, it = h[~common], it[~common]
            tables[n] = (np.ascontiguousarray(h, dtype=np.uint64), np.ascontiguousarray(it, dtype=np.int32))
        meta = {"version": INDEX_VERSION, "config": default.key(), "benchmarks": meta_b, "items": len(bench),
                "ngrams": {str(n): int(len(t[0])) for n, t in tables.items()}, "ignored_common_ngrams": ignored}
        return cls(tables, bench, ids, excerpts, meta)

    # -- files ------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write the index as .npy arrays, items.parquet and index.json (atomically renamed folder)."""
        folder = Path(folder)
        tmp = folder.with_name("." + folder.name + ".tmp")
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        for n, (h, it) in self.tables.items():
            np.save(tmp / f"hashes-{n}.npy", h)
            np.save(tmp / f"items-{n}.npy", it)
            np.save(tmp / f"filter-{n}.npy", self.filter_for(n))
        pq.write_table(pa.table({"benchmark": self.benchmark, "item_id": self.item_id, "excerpt": self.excerpt}),
                       tmp / "items.parquet")
        (tmp / "index.json").write_text(json.dumps(self.meta, indent=2, sort_keys=True) + "\n")
        if folder.exists():
            import shutil

            shutil.rmtree(folder)
        os.replace(tmp, folder)

    @classmethod
    def load(cls, folder: Path) -> "NgramIndex":
        """Memory-map a saved index."""
        folder = Path(folder)
        meta = json.loads((folder / "index.json").read_text())
        if meta.get("version") != INDEX_VERSION:
            raise ValueError(f"decontamination index {folder} is {meta.get('version')!r}, this dataforge reads {INDEX_VERSION!r} "
                             "(token hashes changed); rebuild it: rerun the pipeline (decontaminate_v1's config hash includes the "
                             "index version, so the stage and its index round run again) or NgramIndex.build(...).save(...)")
        def mapped(name: str) -> np.ndarray:
            return np.load(folder / name, mmap_mode="r").view(np.ndarray)  # plain views of the map: cheaper indexing

        tables = {int(n): (mapped(f"hashes-{n}.npy"), mapped(f"items-{n}.npy")) for n in meta["ngrams"]}
        filters = {n: mapped(f"filter-{n}.npy") for n in tables if (folder / f"filter-{n}.npy").exists()}
        items = pq.read_table(folder / "items.parquet")
        return cls(tables, items.column("benchmark").to_pylist(), items.column("item_id").to_pylist(),
                   items.column("excerpt").to_pylist(), meta, filters)

    # -- lookup -----------------------------------------------------------------------------
    def lookup(self, tokens: Tokens) -> "Hits":
        """Every n-gram of the tokens found in the index: first token, n, and item (one row per item)."""
        firsts, ns, items = [], [], []
        for n, (h, it) in self.tables.items():
            if not len(h):
                continue
            g, first = ngram_hashes(tokens, n)
            maybe = np.flatnonzero(may_contain(self.filter_for(n), g))  # one bit per n-gram: most are out
            if not len(maybe):
                continue
            order = maybe[np.argsort(g[maybe], kind="stable")]  # sorted keys: the binary searches share cache lines
            g, first = g[order], first[order]
            lo = np.searchsorted(h, g, side="left")
            ok = lo < len(h)
            ok[ok] = h[lo[ok]] == g[ok]
            if not ok.any():
                continue
            g, first, lo = g[ok], first[ok], lo[ok]
            hi = np.searchsorted(h, g, side="right")
            k = hi - lo
            rows = np.repeat(np.arange(len(g)), k)
            pos = np.repeat(lo - np.cumsum(k) + k, k) + np.arange(int(k.sum()))
            firsts.append(first[rows])
            ns.append(np.full(len(rows), n, dtype=np.int64))
            items.append(np.asarray(it[pos], dtype=np.int64))
        if not firsts:
            z = np.zeros(0, np.int64)
            return Hits(z, z, z)
        return Hits(np.concatenate(firsts), np.concatenate(ns), np.concatenate(items))


#: Filter bits per indexed n-gram: a clean n-gram passes the filter with probability ~1/32.
FILTER_BITS_PER_NGRAM = 32
#: Filter size bounds, in bits (8 KB .. 256 MB).
FILTER_MIN_BITS, FILTER_MAX_BITS = 1 << 16, 1 << 31


def bit_filter(hashes: np.ndarray) -> np.ndarray:
    """A one-hash Bloom filter of sorted n-gram hashes: bit ``h >> (64 - k)`` set, packed little-endian in bytes.

    The size is 2^k bits, the power of two nearest above FILTER_BITS_PER_NGRAM bits per
    hash (bounded to FILTER_MIN_BITS..FILTER_MAX_BITS), so that ``may_contain`` passes about
    1/32 of the n-grams that are not in the index on to the exact binary search.
    """
    want = max(FILTER_MIN_BITS, min(FILTER_MAX_BITS, FILTER_BITS_PER_NGRAM * max(len(hashes), 1)))
    k = int(np.ceil(np.log2(want)))
    out = np.zeros(1 << (k - 3), dtype=np.uint8)
    if len(hashes):
        bit = np.asarray(hashes, dtype=np.uint64) >> np.uint64(64 - k)  # sorted, as the hashes are
        byte = (bit >> np.uint64(3)).astype(np.int64)
        mask = np.left_shift(np.uint8(1), (bit & np.uint64(7)).astype(np.uint8))
        first = np.flatnonzero(np.concatenate(([True], byte[1:] != byte[:-1])))
        out[byte[first]] = np.bitwise_or.reduceat(mask, first)
    return out


def may_contain(filt: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Per hash: False when it is certainly not in the filter's set, True when it may be."""
    k = int(len(filt)).bit_length() - 1 + 3
    bit = hashes >> np.uint64(64 - k)
    return ((filt[(bit >> np.uint64(3)).astype(np.int64)] >> (bit & np.uint64(7)).astype(np.uint8)) & 1).astype(bool)


@dataclass
class Hits:
    """Matched n-grams of a batch, one row per (n-gram occurrence, item)."""

    first: np.ndarray  # first token index (flat, into Tokens)
    n: np.ndarray  # n-gram size
    item: np.ndarray  # item index


def _index_items(items: list[Item], cfg: IndexConfig, base: int, per_n: dict[int, list[tuple[np.ndarray, np.ndarray]]]) -> dict[str, Any]:
    """Add one benchmark's n-grams to ``per_n``; returns the n used and how many items were too short."""
    tokens = tokenize(pa.array([it.text for it in items], pa.large_string()))
    lengths = tokens.counts
    if cfg.ngram == "auto":
        n = int(np.clip(int(np.percentile(lengths, 5)), cfg.min_ngram, cfg.max_ngram)) if len(lengths) else cfg.max_ngram
    else:
        n = int(cfg.ngram)
    n = min(n, MAX_N)
    doc = tokens.doc_of()
    g, first = ngram_hashes(tokens, n)
    words = ~tokens.all_numeric(first, n)  # runs of bare numbers (tables, lists) are not evidence of a copy
    per_n.setdefault(n, []).append((g[words], (doc[first[words]] + base).astype(np.int32)))
    # An item shorter than n is protected as one n-gram of its full length (if at least min_ngram tokens).
    short = (lengths < n) & (lengths >= min(cfg.min_ngram, n))
    for length in sorted(set(lengths[short].tolist())):
        g, first = ngram_hashes(tokens, length)
        d = doc[first]
        whole = (first == tokens.offsets[d]) & (lengths[d] == length) & ~tokens.all_numeric(first, length)
        per_n.setdefault(length, []).append((g[whole], (d[whole] + base).astype(np.int32)))
    return {"ngram": n, "numeric_ngrams_skipped": int((~words).sum()), "items_whole_item_ngram": int(short.sum()),
            "items_too_short": int((lengths < min(cfg.min_ngram, n)).sum()),
            "item_tokens_p5": float(np.percentile(lengths, 5)) if len(lengths) else 0.0}

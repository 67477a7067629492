"""Seeded, platform-independent hashing of string columns (xxh3-64), for ids, sampling and dedup."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import xxhash


def hash_strings(col: pa.Array | pa.ChunkedArray, seed: int = 0) -> np.ndarray:
    """xxh3-64 of each UTF-8 string (null hashes as the empty string), as uint64."""
    values = col.to_pylist()
    h = xxhash.xxh3_64_intdigest
    return np.fromiter((h((v or "").encode("utf-8"), seed) for v in values), dtype=np.uint64, count=len(values))


def unit_interval(col: pa.Array | pa.ChunkedArray, seed: int = 0) -> np.ndarray:
    """A uniform draw in [0, 1) per string, a pure function of (seed, string)."""
    return (hash_strings(col, seed) >> np.uint64(11)).astype(np.float64) / float(1 << 53)

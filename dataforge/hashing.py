"""Seeded, platform-independent hashing of string columns (xxh3-64), for ids, sampling and dedup."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from dataforge.text.xxh3 import xxh3_64


def hash_strings(col: pa.Array | pa.ChunkedArray, seed: int = 0) -> np.ndarray:
    """xxh3-64 of each UTF-8 string (null hashes as the empty string), as uint64.

    Seed 0 hashes straight from the Arrow buffers with the vectorised xxh3 (no per-row Python);
    other seeds go through the ``xxhash`` package row by row. Both give the package's values.
    """
    if seed == 0:
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        arr = pc.fill_null(arr.cast(pa.large_string()), "")
        _, offsets_buf, data_buf = arr.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
        return xxh3_64(data, offsets[:-1], np.diff(offsets))
    values = col.to_pylist()
    h = xxhash.xxh3_64_intdigest
    return np.fromiter((h((v or "").encode("utf-8"), seed) for v in values), dtype=np.uint64, count=len(values))


def unit_interval(col: pa.Array | pa.ChunkedArray, seed: int = 0) -> np.ndarray:
    """A uniform draw in [0, 1) per string, a pure function of (seed, string)."""
    return (hash_strings(col, seed) >> np.uint64(11)).astype(np.float64) / float(1 << 53)

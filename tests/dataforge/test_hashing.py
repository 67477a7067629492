"""hash_strings: the vectorised path and the seeded path both give the xxhash package's values."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
import xxhash

from dataforge.hashing import hash_strings, unit_interval


@pytest.mark.parametrize("seed", [0, 7])
def test_equals_xxhash_on_chunked_sliced_and_null_strings(seed: int) -> None:
    rnd = random.Random(seed)
    vals = [None, "", "a", "héllo wörld", "日本語" * 300] + [
        "".join(chr(rnd.randrange(32, 0x3000)) for _ in range(rnd.randrange(0, 300))) for _ in range(500)]
    expected = np.array([xxhash.xxh3_64_intdigest((v or "").encode(), seed) for v in vals], dtype=np.uint64)
    chunked = pa.chunked_array([pa.array(vals[:200]), pa.array(vals[200:])])
    assert (hash_strings(chunked, seed) == expected).all()
    assert (hash_strings(pa.array(vals).slice(3), seed) == expected[3:]).all()
    u = unit_interval(pa.array(vals), seed)
    assert ((u >= 0) & (u < 1)).all()

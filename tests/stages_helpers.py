"""Helpers shared by stage tests (not fixtures): reference signatures through datasketch."""

from __future__ import annotations

import re

import numpy as np


def shingles(text: str, n: int = 5) -> set[bytes]:
    """Word 5-gram shingles after lowercasing and folding punctuation (the test's own reference)."""
    words = re.sub(r"[^\w\s]", " ", text.lower()).split()
    if len(words) < n:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i:i + n]).encode() for i in range(len(words) - n + 1)}


def datasketch_signatures(texts: list[str], num_perm: int = 112, seed: int = 1) -> np.ndarray:
    """(n, num_perm) MinHash signatures computed by datasketch, as uint64."""
    from datasketch import MinHash

    out = np.zeros((len(texts), num_perm), dtype=np.uint64)
    for i, t in enumerate(texts):
        m = MinHash(num_perm=num_perm, seed=seed)
        for s in shingles(t or ""):
            m.update(s)
        out[i] = m.hashvalues
    return out

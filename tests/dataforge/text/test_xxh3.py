"""dataforge.text.xxh3: the numpy XXH3-64 equals the xxhash package on every input length."""

from __future__ import annotations

import numpy as np
import xxhash

from dataforge.text.xxh3 import xxh3_64


def test_random_bytes_of_every_length_match_xxhash() -> None:
    rng = np.random.default_rng(7)
    data = rng.integers(0, 256, 20_000, dtype=np.uint8)
    lengths = np.repeat(np.arange(0, 70), 40)
    starts = rng.integers(0, len(data) - 70, len(lengths))
    got = xxh3_64(data, starts, lengths)
    raw = data.tobytes()
    expected = [xxhash.xxh3_64_intdigest(raw[s: s + n]) for s, n in zip(starts.tolist(), lengths.tolist())]
    assert got.tolist() == expected


def test_words_at_the_end_of_the_buffer_and_utf8() -> None:
    words = ["a", "to", "the", "über", "naïve", "東京", "straße", "internationalisation", "x" * 16, "😀"]
    raw = " ".join(words).encode("utf-8")
    starts, pos = [], 0
    for w in words:
        starts.append(pos)
        pos += len(w.encode("utf-8")) + 1
    lengths = [len(w.encode("utf-8")) for w in words]
    got = xxh3_64(np.frombuffer(raw, dtype=np.uint8), np.array(starts), np.array(lengths))
    assert got.tolist() == [xxhash.xxh3_64_intdigest(w.encode("utf-8")) for w in words]
    assert xxh3_64(np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)).size == 0

"""Shingle sets and paired Jaccard: equal to Python sets when whole, a close estimate when truncated."""

from __future__ import annotations

import numpy as np

from dataforge.stages.dedup.jaccard import SET_BITS, bottom_k_sets, paired_jaccard


def _docs(rng: np.random.Generator, sizes: list[int], pool: int) -> tuple[np.ndarray, np.ndarray]:
    """Random 64-bit hashes (with repeats inside documents) drawn from a shared pool, documents back to back."""
    values = rng.integers(0, 2**64 - 1, size=pool, dtype=np.uint64, endpoint=True)
    hashes = np.concatenate([rng.choice(values, size=s) for s in sizes]) if sizes else np.zeros(0, np.uint64)
    return hashes, np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)


def _python_sets(hashes: np.ndarray, offsets: np.ndarray) -> list[set[int]]:
    shift = 64 - SET_BITS
    return [{int(h) >> shift for h in hashes[offsets[i]:offsets[i + 1]]} for i in range(len(offsets) - 1)]


def test_bottom_k_sets_are_sorted_unique_and_truncated() -> None:
    rng = np.random.default_rng(0)
    hashes, offsets = _docs(rng, [0, 1, 5, 300, 40], pool=400)
    vals, offs, trunc = bottom_k_sets(hashes, offsets, k=50)
    ref = _python_sets(hashes, offsets)
    for i, s in enumerate(ref):
        got = vals[offs[i]:offs[i + 1]].tolist()
        assert got == sorted(s)[:50]
        assert trunc[i] == (len(s) > 50)
    assert trunc.tolist() == [False, False, False, True, False]


def test_paired_jaccard_is_exact_for_whole_sets() -> None:
    rng = np.random.default_rng(1)
    a_h, a_o = _docs(rng, [0, 3, 100, 250, 80, 7], pool=300)
    b_h, b_o = _docs(rng, [0, 3, 120, 240, 0, 7], pool=300)
    av, ao, at = bottom_k_sets(a_h, a_o, k=1000)
    bv, bo, bt = bottom_k_sets(b_h, b_o, k=1000)
    got = paired_jaccard(av, ao, at, bv, bo, bt)
    sa, sb = _python_sets(a_h, a_o), _python_sets(b_h, b_o)
    want = [len(x & y) / len(x | y) if x | y else 0.0 for x, y in zip(sa, sb)]
    assert np.allclose(got, want)
    assert got[0] == 0.0 and got[4] == 0.0  # an empty side is never a duplicate


def test_identical_sets_have_jaccard_one_even_when_truncated() -> None:
    rng = np.random.default_rng(2)
    h, o = _docs(rng, [5000], pool=100_000)
    v, off, t = bottom_k_sets(h, o, k=256)
    assert t[0]
    assert paired_jaccard(v, off, t, v, off, t).tolist() == [1.0]


def test_bottom_k_estimate_is_close_for_large_documents() -> None:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 2**63, size=20_000, dtype=np.uint64)
    other = base.copy()
    other[:2_000] = rng.integers(0, 2**63, size=2_000, dtype=np.uint64)  # J = 18000 / 22000 = 0.818
    v, o, t = bottom_k_sets(np.concatenate((base, other)), np.array([0, 20_000, 40_000]), k=2048)
    est = paired_jaccard(v[o[0]:o[1]], o[:2] - o[0], t[:1], v, o[1:] - 0, t[1:])
    assert abs(est[0] - 18_000 / 22_000) < 0.03


def test_empty_inputs() -> None:
    v, o, t = bottom_k_sets(np.zeros(0, np.uint64), np.zeros(1, np.int64), k=10)
    assert len(v) == 0 and o.tolist() == [0] and len(t) == 0
    assert len(paired_jaccard(v, o, t, v, o, t)) == 0


def test_many_pairs_are_compared_in_slices_with_the_same_result(monkeypatch) -> None:  # noqa: ANN001
    import dataforge.stages.dedup.jaccard as jac

    rng = np.random.default_rng(4)
    a_h, a_o = _docs(rng, list(rng.integers(0, 60, size=300)), pool=500)
    b_h, b_o = _docs(rng, list(rng.integers(0, 60, size=300)), pool=500)
    av, ao, at = bottom_k_sets(a_h, a_o, k=40)
    bv, bo, bt = bottom_k_sets(b_h, b_o, k=40)
    whole = paired_jaccard(av, ao, at, bv, bo, bt)
    monkeypatch.setattr(jac, "_PAIR_BLOCK", 97)
    assert np.array_equal(paired_jaccard(av, ao, at, bv, bo, bt), whole)

"""minhash_dedup_v1: banding, verification, connected components, survivors, annotations."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from conftest import PARAGRAPHS, table
from stages_helpers import datasketch_signatures
from dataforge.stages.dedup.lsh import MinHashDedup, _unique_edges


VOCAB = sorted({w.strip(".,:") for p in PARAGRAPHS for w in p.split()})


def make_text(i: int, paragraphs: int = 3) -> str:
    """A document of random words (seeded by i): distinct documents share almost no 5-grams."""
    rnd = random.Random(i)
    return " ".join(rnd.choice(VOCAB) for _ in range(60 * paragraphs))


def perturb(text: str, rate: float, seed: int) -> str:
    rnd = random.Random(seed)
    words = text.split()
    return " ".join(w if rnd.random() > rate else rnd.choice(["alpha", "beta", "gamma", "delta"]) for w in words)


def corpus() -> pa.Table:
    rows = []
    for i in range(30):
        base = make_text(i, paragraphs=4)
        rows.append({"id": f"a{i:03d}", "text": base})
        if i % 3 == 0:  # near copies: a few words changed
            rows.append({"id": f"b{i:03d}", "text": perturb(base, 0.004, i)})
            rows.append({"id": f"c{i:03d}", "text": perturb(base, 0.008, i + 100)})
    rows.append({"id": "empty1", "text": ""})
    rows.append({"id": "empty2", "text": ""})
    return table(rows)


def with_sigs(t: pa.Table, num_perm: int = 112) -> pa.Table:
    sig = datasketch_signatures(t.column("text").to_pylist(), num_perm=num_perm)
    return t.append_column("minhash", pa.FixedSizeListArray.from_arrays(pa.array(sig.ravel(), pa.uint64()), num_perm))


def test_near_copies_removed_and_clusters_annotated() -> None:
    t = with_sigs(corpus())
    res = MinHashDedup({"threshold": 0.8})(t)
    dropped = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("detail").to_pylist()))
    expected = {f"{p}{i:03d}": f"a{i:03d}" for i in range(0, 30, 3) for p in "bc"}
    assert dropped == expected
    assert set(res.dropped.column("reason").to_pylist()) == {"near_duplicate"}
    kept = res.kept
    assert kept.num_rows == 32
    sizes = dict(zip(kept.column("id").to_pylist(), kept.column("cluster_size").to_pylist()))
    assert sizes["a000"] == 3 and sizes["a001"] == 1 and sizes["empty1"] == 1 and sizes["empty2"] == 1
    assert kept.column("cluster_id").to_pylist()[:2] == ["a000", "a001"]


def test_priority_picks_the_survivor() -> None:
    t = with_sigs(corpus())
    score = [1.0 if i.startswith("c") else 0.0 for i in t.column("id").to_pylist()]
    t = t.append_column("quality", pa.array(score))
    res = MinHashDedup({"priority": "quality"})(t)
    assert "c000" in res.kept.column("id").to_pylist() and "a000" in res.dropped.column("id").to_pylist()


def test_identical_documents_by_the_thousand_make_one_cluster() -> None:
    text = make_text(1, paragraphs=3)
    t = with_sigs(table([{"id": f"x{i:05d}", "text": text} for i in range(1500)] + [{"id": "other", "text": make_text(2)}]))
    res = MinHashDedup()(t)
    assert res.kept.column("id").to_pylist() == ["x00000", "other"]
    assert res.dropped.num_rows == 1499
    assert res.kept.column("cluster_size").to_pylist() == [1500, 1]


def test_verification_removes_false_candidates() -> None:
    # Two texts sharing many words but below the threshold: with verification they stay apart.
    a = make_text(3, paragraphs=4)
    b = perturb(a, 0.15, 7)
    t = with_sigs(table([{"id": "a", "text": a}, {"id": "b", "text": b}]))
    kept_verified = MinHashDedup({"threshold": 0.8, "verify": "signature"})(t).kept.num_rows
    assert kept_verified == 2


def test_chain_is_one_component() -> None:
    """A~B, B~C, C~D with A !~ D is still one cluster (connected components, not pairs)."""
    from dataforge.stages.dedup.lsh import MinHashDedup as M

    stage = M({"verify": "none", "confirm": False})
    stage.ensure_setup()
    # hand-made signatures: consecutive docs share bands, ends share none
    n, perm = 4, 112
    sig = np.arange(n * perm, dtype=np.uint64).reshape(n, perm) * 1000
    for i in range(n - 1):
        sig[i + 1, (i % 14) * 8:(i % 14) * 8 + 8] = sig[i, (i % 14) * 8:(i % 14) * 8 + 8]
    t = table([{"id": f"d{i}", "text": "some text here"} for i in range(n)])
    t = t.append_column("minhash", pa.FixedSizeListArray.from_arrays(pa.array(sig.ravel()), perm))
    res = stage(t)
    assert res.kept.column("id").to_pylist() == ["d0"]
    assert res.kept.column("cluster_size").to_pylist() == [4]


def test_unique_edges() -> None:
    u, v = _unique_edges(np.array([3, 1, 3, 1]), np.array([1, 0, 1, 2]))
    assert u.tolist() == [1, 1, 3] and v.tolist() == [0, 2, 1]


def test_wrong_signature_width_is_a_clear_error() -> None:
    t = with_sigs(corpus(), num_perm=64)
    with pytest.raises(Exception):
        MinHashDedup().process(t)

"""minhash_dedup_v1: banding, verification, connected components, survivors, annotations."""

from __future__ import annotations

import json
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


@pytest.mark.parametrize("params", [{}, {"verify": "exact", "signature_margin": 1000.0}, {"verify": "signature"},
                                    {"verify": "none"}])
def test_identical_documents_by_the_thousand_make_one_cluster(params: dict) -> None:
    """1,500 copies: one cluster of 1,500 (star edges, never all pairs), whatever the verification."""
    text = make_text(1, paragraphs=3)
    t = with_sigs(table([{"id": f"x{i:05d}", "text": text} for i in range(1500)] + [{"id": "other", "text": make_text(2)}]))
    res = MinHashDedup(params)(t)
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


def test_exact_verification_keeps_sets_and_matches_brute_force() -> None:
    """verify=exact: clusters are exactly the pairs whose shingle-set Jaccard reaches the threshold."""
    a = make_text(11, paragraphs=4)
    rows = [{"id": "a", "text": a}]
    for k, rate in enumerate((0.005, 0.02, 0.05, 0.3)):
        rows.append({"id": f"p{k}", "text": perturb(a, rate, 50 + k)})
    t = with_sigs(table(rows))
    res = MinHashDedup({"threshold": 0.8, "verify": "exact"})(t)
    from stages_helpers import shingles

    ref = shingles(a)
    expected = {}
    for r in rows[1:]:
        s = shingles(r["text"])
        if len(ref & s) / len(ref | s) >= 0.8:
            expected[r["id"]] = "a"
    got = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("detail").to_pylist())) if res.dropped else {}
    assert got == expected and "p3" not in got and "p0" in got


def test_documents_shorter_than_one_shingle() -> None:
    """Fewer words than a shingle: one shingle of all words; equal short texts are duplicates, others are not."""
    t = with_sigs(table([{"id": "s1", "text": "hello world"}, {"id": "s2", "text": "Hello, world!"},
                         {"id": "s3", "text": "hello there"}, {"id": "e1", "text": ""}, {"id": "e2", "text": "  "}]))
    res = MinHashDedup()(t)
    assert res.kept.column("id").to_pylist() == ["s1", "s3", "e1", "e2"]
    assert res.dropped.column("id").to_pylist() == ["s2"] and res.dropped.column("detail").to_pylist() == ["s1"]


def test_one_huge_document_and_its_near_copy() -> None:
    """A 400,000-word document keeps a bottom-k set (bounded memory) and still finds its near copy."""
    rnd = random.Random(9)
    words = [f"w{rnd.randrange(50_000)}" for _ in range(400_000)]
    copy = list(words)
    for i in range(0, len(copy), 500):
        copy[i] = "edited"
    t = table([{"id": "huge", "text": " ".join(words)}, {"id": "copy", "text": " ".join(copy)},
               {"id": "other", "text": make_text(4)}])
    stage = MinHashDedup({"signature_column": "minhash", "max_shingles": 1024})
    res = stage(t)  # no signature column: the stage computes signatures itself
    assert res.kept.column("id").to_pylist() == ["copy", "other"]  # the smaller id survives
    assert res.dropped.column("id").to_pylist() == ["huge"] and res.dropped.column("detail").to_pylist() == ["copy"]
    stage.ensure_setup()
    sets, trunc = stage._shingle_sets(t, np.array([True, True, True]))
    assert [len(s) for s in sets.to_pylist()][:2] == [1024, 1024] and trunc.to_pylist()[:2] == [True, True]


def test_signature_verification_is_still_available() -> None:
    t = with_sigs(corpus())
    res = MinHashDedup({"threshold": 0.8, "verify": "signature"})(t)
    assert sorted(res.dropped.column("id").to_pylist()) == sorted(f"{p}{i:03d}" for i in range(0, 30, 3) for p in "bc")


def test_exact_verification_shingles_only_documents_in_undecided_pairs() -> None:
    """Margin 0 decides every pair by signature (no sets), a huge margin checks every candidate exactly."""
    from dataforge.shuffle import InMemoryContext

    t = with_sigs(corpus())
    ids = t.column("id").to_pylist()
    expected = sorted(f"{p}{i:03d}" for i in range(0, 30, 3) for p in "bc")
    in_pairs = sorted(f"{p}{i:03d}" for i in range(0, 30, 3) for p in "abc")
    for margin, shingled_ids in ((0.0, []), (4.5, None), (1000.0, in_pairs)):
        stage = MinHashDedup({"threshold": 0.8, "verify": "exact", "signature_margin": margin})
        stage.ensure_setup()
        ctx = InMemoryContext(stage, t)
        stage.run_dataset(ctx)
        sets = ctx.rows_for_unit("sets")
        got = [] if sets is None else sorted(ids[n & 0xFFFFFFFF] for n in sets.column("node").to_pylist())
        if shingled_ids is None:  # the default margin: only some of the pairs are near enough to need sets
            assert set(got) < set(in_pairs) and got
        else:
            assert got == shingled_ids
        assert sorted(ctx.rows_for_unit("decisions").column("id").to_pylist()) == expected
        rounds = json.loads((ctx.folder / "rounds.json").read_text())["rounds"]
        assert [r["method"] for r in rounds][:6] == ["shard_bands", "partition_edges", "partition_verify_first",
                                                     "partition_prefilter", "shard_sets", "partition_verify_first"]


def test_prefilter_drops_bucket_collisions_before_shingling() -> None:
    """Hand-made signatures sharing one band but nothing else: a candidate pair, dropped before the exact check."""
    n, perm = 2, 112
    sig = np.arange(n * perm, dtype=np.uint64).reshape(n, perm) * 1000
    sig[1, :8] = sig[0, :8]  # one band in common: a candidate; 8/112 agreement: far below 0.8
    t = table([{"id": "x", "text": "the same words in both documents here"},
               {"id": "y", "text": "the same words in both documents here"}])
    t = t.append_column("minhash", pa.FixedSizeListArray.from_arrays(pa.array(sig.ravel()), perm))
    from dataforge.shuffle import InMemoryContext

    stage = MinHashDedup({"verify": "exact"})
    stage.ensure_setup()
    ctx = InMemoryContext(stage, t)
    stage.run_dataset(ctx)
    assert ctx.rows_for_unit("sets") is None and ctx.rows_for_unit("decisions") is None

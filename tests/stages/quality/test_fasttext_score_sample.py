"""score_sample_v1: GPT-3 Pareto and linear keep rules, seeded by hash(seed, id), monotone in the score."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from dataforge.hashing import unit_interval
from dataforge.stages.quality.score_sample import ScoreSample, ScoreSampleParams, keep_mask, keep_probability


def _batch(ids: list[str], scores: list[float | None]) -> pa.Table:
    return pa.table({"id": ids, "text": ["t"] * len(ids), "quality_hq": pa.array(scores, pa.float64())})


def _kept(stage: ScoreSample, batch: pa.Table) -> set[str]:
    return set(stage(batch).kept.column("id").to_pylist())


IDS = [f"doc-{i:05d}" for i in range(20_000)]


def test_decisions_depend_only_on_seed_id_and_score() -> None:
    stage = ScoreSample({"column": "quality_hq", "seed": 3})
    scores = [(i % 100) / 100.0 for i in range(len(IDS))]
    whole = _kept(stage, _batch(IDS, scores))
    # another batching and order of the same documents gives the same decisions
    order = np.random.default_rng(1).permutation(len(IDS))
    parts = set()
    for chunk in np.array_split(order, 7):
        parts |= _kept(ScoreSample({"column": "quality_hq", "seed": 3}),
                       _batch([IDS[i] for i in chunk], [scores[i] for i in chunk]))
    assert parts == whole
    other_seed = _kept(ScoreSample({"column": "quality_hq", "seed": 4}), _batch(IDS, scores))
    assert other_seed != whole


@pytest.mark.parametrize("rule", ["pareto", "linear"])
def test_a_higher_score_never_turns_a_keep_into_a_drop(rule: str) -> None:
    levels = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0]
    kept = [_kept(ScoreSample({"column": "quality_hq", "rule": rule}), _batch(IDS, [s] * len(IDS))) for s in levels]
    for lower, higher in zip(kept, kept[1:]):
        assert lower <= higher
    assert len(kept[-1]) == len(IDS)  # score 1 is always kept by both rules
    assert [len(k) for k in kept] == sorted(len(k) for k in kept)


def test_pareto_keep_rate_follows_gpt3_rule() -> None:
    p = ScoreSampleParams(column="quality_hq")
    u = unit_interval(pa.array(IDS), seed=0)
    for s in (0.0, 0.5, 0.8, 0.95):
        rate = keep_mask(np.full(len(IDS), s), u, p).mean()
        expected = (2.0 - s) ** -9  # P(pareto(9) > 1 - s)
        assert abs(rate - expected) < 4 * np.sqrt(expected * (1 - expected) / len(IDS)) + 1e-4
        assert keep_probability(np.array([s]), p)[0] == pytest.approx(expected)


def test_inverse_cdf_draws_match_numpy_pareto() -> None:
    u = unit_interval(pa.array(IDS), seed=0)
    draws = (1.0 - u) ** (-1.0 / 9.0) - 1.0
    reference = np.random.default_rng(0).pareto(9.0, 200_000)
    qs = [10, 25, 50, 75, 90, 99]
    assert np.allclose(np.percentile(draws, qs), np.percentile(reference, qs), rtol=0.05, atol=1e-3)


def test_linear_rule_and_reasons() -> None:
    stage = ScoreSample({"column": "quality_hq", "rule": "linear", "low": 0.2, "high": 0.6})
    n = len(IDS)
    assert _kept(stage, _batch(IDS, [0.2] * n)) == set()
    assert len(_kept(stage, _batch(IDS, [0.6] * n))) == n
    rate = len(_kept(stage, _batch(IDS, [0.4] * n))) / n
    assert abs(rate - 0.5) < 0.02
    res = stage(_batch(["a", "b", "c"], [0.1, None, 0.9]))
    assert res.kept.column("id").to_pylist() == ["c"]
    assert Counter(res.dropped.column("reason").to_pylist()) == {"sampled_out": 1, "score_missing": 1}
    assert res.dropped.column("detail").to_pylist()[0] == "keep probability 0"


def test_missing_scores_can_be_kept_and_params_are_checked() -> None:
    stage = ScoreSample({"column": "quality_hq", "missing": "keep"})
    assert _kept(stage, _batch(["a", "b"], [None, 1.0])) == {"a", "b"}
    with pytest.raises(ValueError):
        ScoreSample({"column": "quality_hq", "rule": "linear", "low": 0.5, "high": 0.5})
    with pytest.raises(ValueError):
        ScoreSample({"column": "quality_hq", "alpha": 0})
    assert ScoreSample({"column": "quality_hq"})(_batch([], [])).kept.num_rows == 0

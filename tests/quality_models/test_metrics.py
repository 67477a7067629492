"""Held-out metrics: ROC AUC with ties, precision/recall at a threshold, percentile tables."""

from __future__ import annotations

import numpy as np

from dataforge.quality_models.metrics import at_threshold, percentile_of, quantiles, roc_auc, value_at_top_percent


def test_auc_matches_the_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 10, 300) / 10.0  # many ties
    positive = rng.random(300) < scores
    pos, neg = scores[positive], scores[~positive]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert abs(roc_auc(scores, positive) - pairs / (pos.size * neg.size)) < 1e-12


def test_auc_edge_cases() -> None:
    assert roc_auc(np.array([0.1, 0.9]), np.array([False, True])) == 1.0
    assert roc_auc(np.array([0.9, 0.1]), np.array([False, True])) == 0.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([False, True])) == 0.5
    assert roc_auc(np.array([0.5, 0.6]), np.array([True, True])) is None


def test_precision_recall_at_threshold() -> None:
    scores = np.array([0.9, 0.8, 0.4, 0.7, 0.2, 0.1])
    positive = np.array([True, True, True, False, False, False])
    r = at_threshold(scores, positive, 0.5)
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (2, 1, 1, 2)
    assert r["precision"] == 2 / 3 and r["recall"] == 2 / 3 and abs(r["f1"] - 2 / 3) < 1e-12


def test_percentile_tables() -> None:
    v = np.arange(101, dtype=float)
    q = quantiles(v)
    assert q["p1"] == 1.0 and q["p50"] == 50.0 and q["p99"] == 99.0
    assert quantiles(np.array([np.nan])) == {}
    assert percentile_of(v, 10.0) == 100 * 10 / 101
    table = quantiles(v, range(0, 101))
    assert value_at_top_percent(table, 10) == 90.0
    assert value_at_top_percent(table, 12.5) == 87.5  # interpolated between p87 and p88

"""Held-out metrics of a binary quality classifier: precision, recall, F1, ROC AUC, score quantiles."""

from __future__ import annotations

from typing import Any

import numpy as np

#: Percentiles the cards and ``dataforge stats --signals`` report.
REPORT_PERCENTILES: tuple[int, ...] = (1, 5, 10, 25, 50, 75, 90, 95, 99)


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); None without both classes."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = int(positive.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranked = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    # average rank of each run of equal scores
    starts = np.r_[0, np.flatnonzero(np.diff(ranked)) + 1]
    ends = np.r_[starts[1:], ranked.size]
    avg = (starts + ends + 1) / 2.0  # 1-based ranks
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def at_threshold(scores: np.ndarray, positive: np.ndarray, threshold: float) -> dict[str, Any]:
    """Precision, recall, F1 and accuracy of ``score >= threshold`` as the positive decision."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    pred = scores >= threshold
    tp = int(np.sum(pred & positive))
    fp = int(np.sum(pred & ~positive))
    fn = int(np.sum(~pred & positive))
    tn = int(np.sum(~pred & ~positive))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = tp + fp + fn + tn
    return {"threshold": threshold, "precision": precision, "recall": recall, "f1": f1,
            "accuracy": (tp + tn) / n if n else 0.0, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def quantiles(values: np.ndarray, percentiles: tuple[int, ...] | range = REPORT_PERCENTILES) -> dict[str, float]:
    """``{"p1": ..., "p50": ...}`` of the finite values (linear interpolation); empty without any."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {}
    qs = np.percentile(v, list(percentiles))
    return {f"p{p}": float(q) for p, q in zip(percentiles, qs)}


def percentile_of(values: np.ndarray, threshold: float) -> float:
    """Share of values strictly below ``threshold``, in percent: where the threshold sits in the distribution."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(100.0 * np.mean(v < threshold)) if v.size else float("nan")


def value_at_top_percent(table: dict[str, float], top_percent: float) -> float:
    """The score above which ``top_percent`` of a distribution lies, read from a ``{"p0".."p100"}`` table.

    Linear interpolation between the two tabulated percentiles around ``100 - top_percent``.
    """
    points = sorted((float(k[1:]), float(v)) for k, v in table.items() if k.startswith("p"))
    if not points:
        raise ValueError("empty percentile table")
    xs = np.array([p for p, _ in points])
    ys = np.array([v for _, v in points])
    return float(np.interp(100.0 - top_percent, xs, ys))

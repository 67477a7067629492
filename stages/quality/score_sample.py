"""Keep documents at random with a probability that grows with their score, seeded by hash(seed, id)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from dataforge.hashing import unit_interval
from dataforge.stage import Filter, StageError, StageParams
from dataforge.stages.quality.scores import ScoreColumnError, missing_detail, score_values


class ScoreSampleParams(StageParams):
    """The score column, the keep rule and the seed."""

    column: str = Field(description="numeric score column in [0, 1], e.g. quality_hq from fasttext_classify_v1")
    rule: Literal["pareto", "linear"] = Field(
        "pareto", description="pareto: GPT-3's keep rule (pareto(alpha) > 1 - score); linear: keep with probability "
                              "(score - low) / (high - low), clipped to [0, 1]")
    alpha: float = Field(9.0, gt=0, description="Pareto shape (GPT-3, Brown et al. 2020: 9)")
    low: float = Field(0.0, description="linear: score at which the keep probability is 0")
    high: float = Field(1.0, description="linear: score at which the keep probability is 1")
    seed: int = Field(0, description="the draw of each document is a pure function of (seed, id)")
    missing: Literal["drop", "keep"] = Field("drop", description="documents without a score (null, NaN, no column)")

    @model_validator(mode="after")
    def _range(self) -> "ScoreSampleParams":
        """A linear rule needs high > low."""
        if self.rule == "linear" and not self.high > self.low:
            raise ValueError(f"high ({self.high}) must be greater than low ({self.low})")
        return self


def keep_probability(scores: np.ndarray, params: ScoreSampleParams) -> np.ndarray:
    """The probability that a document with each score is kept (NaN stays NaN)."""
    s = np.asarray(scores, dtype=np.float64)
    if params.rule == "pareto":
        # P(X > 1 - s) for X ~ Lomax(alpha) = (1 + (1 - s)) ** -alpha, capped at 1 for s > 1
        return np.minimum(1.0, np.power(np.maximum(2.0 - s, 1.0), -params.alpha))
    return np.clip((s - params.low) / (params.high - params.low), 0.0, 1.0)


def keep_mask(scores: np.ndarray, u: np.ndarray, params: ScoreSampleParams) -> np.ndarray:
    """Keep decisions from scores and uniform draws ``u`` in [0, 1); monotone in the score for a fixed draw.

    Pareto: GPT-3 keeps a document when ``np.random.pareto(alpha) > 1 - score``; the Pareto
    (Lomax) draw is made deterministic by its inverse CDF, ``(1 - u) ** (-1 / alpha) - 1``.
    Linear: keep when ``u < (score - low) / (high - low)``.
    """
    s = np.asarray(scores, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        if params.rule == "pareto":
            draw = np.power(1.0 - u, -1.0 / params.alpha) - 1.0
            keep = draw > 1.0 - s
        else:
            keep = u < np.clip((s - params.low) / (params.high - params.low), 0.0, 1.0)
    return keep & ~np.isnan(s)


class ScoreSample(Filter):
    """Sample documents by score, deterministically: GPT-3's Pareto rule or a linear keep probability.

    GPT-3 (Brown et al. 2020, appendix A) kept a Common Crawl document when
    ``np.random.pareto(9) > 1 - document_score``, so mostly high-scoring documents survive and
    some low-scoring ones still do. Here the random draw is ``u = hash(seed, id)`` mapped
    through the Pareto inverse CDF, never a global generator: the same id and seed give the same
    decision on any number of workers, and for a given document a higher score never turns a
    keep into a drop. ``rule: linear`` keeps with probability ``(score - low) / (high - low)``.
    Dropped documents get ``sampled_out`` with their keep probability in the detail; documents
    without a score get ``score_missing`` unless ``missing: keep``.
    """

    name = "score_sample_v1"
    Params = ScoreSampleParams
    batch_size = 8192
    example = {"column": "quality_hq"}

    def reasons(self, batch: pa.Table) -> tuple[pa.Array, pa.Array]:
        """``sampled_out`` or ``score_missing`` per row, with the keep probability in the detail."""
        p: ScoreSampleParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        if n == 0:
            return pa.nulls(0, pa.string()), pa.nulls(0, pa.string())
        try:
            scores, present = score_values(batch, p.column, self.name)
        except ScoreColumnError as exc:
            raise StageError(str(exc)) from None
        if "id" not in batch.column_names:
            raise StageError(f"{self.name}: the batch has no id column to seed the draws from")
        u = unit_interval(batch.column("id"), seed=p.seed)
        missing = np.isnan(scores)
        keep = keep_mask(scores, u, p)
        out = ~keep & ~missing
        drop_missing = missing if p.missing == "drop" else np.zeros(n, dtype=bool)
        prob = keep_probability(np.where(missing, 0.0, scores), p)
        shown = pc.cast(pc.round(pa.array(prob), 6), pa.string())
        detail_out = pc.binary_join_element_wise(pa.scalar("keep probability "), shown, "")
        null = pa.scalar(None, pa.string())
        out_arr, miss_arr = pa.array(out), pa.array(drop_missing)
        reason = pc.if_else(miss_arr, pa.scalar("score_missing"), pc.if_else(out_arr, pa.scalar("sampled_out"), null))
        detail = pc.if_else(miss_arr, pa.scalar(missing_detail(p.column, present)), pc.if_else(out_arr, detail_out, null))
        return reason, detail

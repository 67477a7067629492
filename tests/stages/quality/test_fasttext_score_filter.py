"""score_filter_v1: thresholds, percentiles fixed from reference data or a model card, missing scores."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from dataforge.stage import StageError
from dataforge.stages.quality.score_filter import ScoreFilter, threshold_from_values


def _batch(scores: list[float | None], column: str = "quality_hq") -> pa.Table:
    return pa.table({"id": [f"d{i}" for i in range(len(scores))], "text": ["t"] * len(scores),
                     column: pa.array(scores, pa.float32()), "zz_extra": list(range(len(scores)))})


def _run(stage: ScoreFilter, batch: pa.Table) -> tuple[list[str], Counter, list[str]]:
    res = stage(batch)
    dropped = res.dropped
    reasons = Counter(dropped.column("reason").to_pylist()) if dropped is not None else Counter()
    details = dropped.column("detail").to_pylist() if dropped is not None else []
    return res.kept.column("id").to_pylist(), reasons, details


def test_threshold_keeps_scores_at_or_above_it() -> None:
    stage = ScoreFilter({"column": "quality_hq", "threshold": 0.5})
    kept, reasons, details = _run(stage, _batch([0.9, 0.5, 0.49, None, float("nan"), 0.0, 1.0]))
    assert kept == ["d0", "d1", "d6"]
    assert reasons == {"score_below_threshold": 2, "score_missing": 2}
    assert "quality_hq=0.49 < 0.5" in details
    assert stage.versions() == {"score_filter_threshold": "0.5", "score_filter_threshold_origin": "threshold"}


def test_keep_low_and_keep_missing() -> None:
    stage = ScoreFilter({"column": "toxicity", "threshold": 0.2, "keep": "low", "missing": "keep"})
    kept, reasons, _ = _run(stage, _batch([0.1, 0.2, 0.3, None], column="toxicity"))
    assert kept == ["d0", "d1", "d3"]
    assert reasons == {"score_above_threshold": 1}


def test_absent_column_drops_everything_as_missing_with_the_fix_in_the_detail() -> None:
    stage = ScoreFilter({"column": "quality_hq", "threshold": 0.5})
    batch = pa.table({"id": ["a", "b"], "text": ["x", "y"]})
    kept, reasons, details = _run(stage, batch)
    assert kept == [] and reasons == {"score_missing": 2}
    assert "run fasttext_classify_v1" in details[0]


def test_non_numeric_column_is_a_stage_error() -> None:
    stage = ScoreFilter({"column": "text", "threshold": 0.5})
    with pytest.raises(StageError, match="not a number"):
        stage(_batch([0.1, 0.2, 0.3, 0.4]))


def test_keep_percent_from_reference_files_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    scores = rng.permutation(np.arange(1000) / 1000.0)
    ref = tmp_path / "run" / "stages" / "01-fasttext_classify_v1" / "data"
    ref.mkdir(parents=True)
    for k in range(4):  # several shard files; only the column is read
        part = scores[k * 250:(k + 1) * 250]
        pq.write_table(pa.table({"id": [f"r{k}-{i}" for i in range(250)], "quality_hq": part}),
                       ref / f"part-{k:05d}.parquet")
    stage = ScoreFilter({"column": "quality_hq", "keep_percent": 10, "reference": [str(ref)]})
    kept, reasons, _ = _run(stage, _batch(scores.tolist()))
    assert len(kept) == 100 and reasons == {"score_below_threshold": 900}
    assert stage.versions()["score_filter_threshold"] == repr(0.9)
    low = ScoreFilter({"column": "quality_hq", "keep_percent": 25, "keep": "low", "reference": [str(ref)]})
    kept, reasons, _ = _run(low, _batch(scores.tolist()))
    assert len(kept) == 250 and reasons == {"score_above_threshold": 750}


def test_threshold_from_values_with_ties() -> None:
    values = np.array([0.1, 0.5, 0.5, 0.5, 0.9, np.nan])
    assert threshold_from_values(values, 40, "high") == (0.5, 5)  # 2 of 5 -> the 2nd largest; ties keep 4
    assert threshold_from_values(values, 20, "low") == (0.1, 5)
    t, n = threshold_from_values(values, 1, "high")  # rounds to keeping none
    assert t == float("inf") and n == 5


def test_keep_percent_from_the_model_card(tmp_path: Path) -> None:
    table = {f"p{i}": i / 100.0 for i in range(101)}
    card = {"heldout_metrics": {"model": {"score_table": table}}}
    (tmp_path / "card.json").write_text(json.dumps(card))
    (tmp_path / "card.md").write_text("# card\n")
    (tmp_path / "manifest.json").write_text(json.dumps({"models": [
        {"name": "m", "version": "1", "file": "model.bin", "sha256": "0" * 64, "labels": ["hq", "cc"],
         "positive_label": "hq", "card": "card.md"}]}))
    stage = ScoreFilter({"column": "quality_hq", "keep_percent": 30, "model": "m@1",
                         "manifest": str(tmp_path / "manifest.json")})
    kept, reasons, _ = _run(stage, _batch([0.69, 0.7, 0.71, 0.95]))
    assert float(stage.versions()["score_filter_threshold"]) == pytest.approx(0.7)
    assert kept == ["d1", "d2", "d3"] and reasons == {"score_below_threshold": 1}
    wrong = ScoreFilter({"column": "quality_cc", "keep_percent": 30, "model": "m@1",
                         "manifest": str(tmp_path / "manifest.json")})
    with pytest.raises(StageError, match="label 'hq'"):
        wrong.ensure_setup()


def test_params_need_one_rule_and_one_percentile_source() -> None:
    for bad in ({"column": "q"}, {"column": "q", "threshold": 0.5, "keep_percent": 10},
                {"column": "q", "keep_percent": 10}, {"column": "q", "keep_percent": 10, "model": "a@1", "reference": ["x"]},
                {"column": "q", "threshold": 0.5, "model": "a@1"}, {"column": "q", "keep_percent": 0, "model": "a@1"},
                {"column": "q", "threshold": float("inf")}):
        with pytest.raises(ValidationError):
            ScoreFilter(bad)


def test_empty_batch_and_pass_through() -> None:
    stage = ScoreFilter({"column": "quality_hq", "threshold": 0.5})
    assert stage(_batch([])).kept.num_rows == 0
    res = stage(_batch([0.7, 0.2]))
    assert res.kept.column("zz_extra").to_pylist() == [0]
    assert res.dropped.column("zz_extra").to_pylist() == [1]

"""reward_score_v1 and reward_filter_v1: real scores from a tiny Qwen reward model, best-of-n, thresholds."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import ValidationError

from dataforge.stages.synth.rephrase import Rephrase
from dataforge.stages.synth.reward_filter import RewardFilter
from dataforge.stages.synth.reward_score import RewardScore

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "inference"))
from tiny_models import tiny  # noqa: E402


def scored(rewards: list[float | None], groups: list[str | None]) -> pa.Table:
    n = len(rewards)
    return pa.table({"id": [f"r{i}" for i in range(n)], "text": ["t"] * n, "source_id": groups,
                     "reward": pa.array(rewards, pa.float64())})


def reasons(res) -> dict[str, str]:
    if res.dropped is None:
        return {}
    return dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("reason").to_pylist()))


def test_best_of_n_per_group_ties_to_smaller_id() -> None:
    t = scored([0.1, 0.9, 0.5, 0.7, 0.7, None, 0.2], ["a", "a", "a", "b", "b", "b", None])
    res = RewardFilter({"mode": "best_of_n"})(t)
    assert sorted(res.kept.column("id").to_pylist()) == ["r1", "r3", "r6"]  # r6 has no group: its own group
    assert reasons(res) == {"r0": "not_best_of_n", "r2": "not_best_of_n", "r4": "not_best_of_n", "r5": "no_reward"}
    detail = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("detail").to_pylist()))
    assert detail["r0"] == "r1" and detail["r4"] == "r3"
    res = RewardFilter({"mode": "best_of_n", "top_k": 2, "threshold": 0.3})(t)
    assert sorted(res.kept.column("id").to_pylist()) == ["r1", "r2", "r3", "r4"]
    assert reasons(res) == {"r0": "reward_below_threshold", "r5": "no_reward", "r6": "reward_below_threshold"}


def test_threshold_and_percentile() -> None:
    t = scored([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], ["a", "a", "a", "a", "b", "b", "b", "b"])
    res = RewardFilter({"mode": "threshold", "threshold": 0.45})(t)
    assert res.kept.column("id").to_pylist() == ["r4", "r5", "r6", "r7"]
    assert set(reasons(res).values()) == {"reward_below_threshold"}
    res = RewardFilter({"mode": "percentile", "percentile": 50, "group_column": None})(t)
    assert res.kept.column("id").to_pylist() == ["r4", "r5", "r6", "r7"]
    res = RewardFilter({"mode": "percentile", "percentile": 50})(t)  # per source_id group
    assert res.kept.column("id").to_pylist() == ["r2", "r3", "r6", "r7"]
    assert set(reasons(res).values()) == {"reward_below_percentile"}


def test_filter_params_need_their_mode_values() -> None:
    with pytest.raises(ValidationError, match="needs threshold"):
        RewardFilter({"mode": "threshold"})
    with pytest.raises(ValidationError, match="needs percentile"):
        RewardFilter({"mode": "percentile"})


def test_missing_reward_column_drops_with_a_reason_that_says_the_fix() -> None:
    res = RewardFilter({"mode": "best_of_n"})(pa.table({"id": ["a"], "text": ["x"], "source_id": ["s"]}))
    assert reasons(res) == {"a": "no_reward"} and "reward_score_v1" in res.dropped.column("detail")[0].as_py()


def test_reward_score_with_tiny_qwen_reward_model(tmp_path_factory: pytest.TempPathFactory) -> None:
    rm = str(tiny(tmp_path_factory, "reward"))
    t = pa.table({"id": ["a", "b", "c"], "prompt": ["2+2?", "2+2?", "Name a river"], "text": ["4", "five", "Nile"],
                  "zz": [1, 2, 3]})
    res = RewardScore({"backend": {"engine": "transformers", "model": rm}})(t)
    r = res.kept.column("reward").to_pylist()
    assert len(r) == 3 and all(math.isfinite(x) for x in r) and res.kept.column("zz").to_pylist() == [1, 2, 3]
    assert set(res.kept.column("reward_model").to_pylist()) == {rm}


def test_reward_score_quarantines_unscored_rows() -> None:
    class Half:
        model_id = "half"

        def score(self, pairs):
            self.last_score_errors = [None, "HTTP 503 (gave up after 4 retries)"]
            return [0.5, math.nan]

    st = RewardScore({"backend": {"engine": "echo"}})
    st.ensure_setup()
    st.backend = Half()
    res = st(pa.table({"id": ["a", "b"], "prompt": ["p", "p"], "text": ["x", "y"]}))
    assert res.kept.column("id").to_pylist() == ["a"]
    q = res.quarantined.to_pylist()[0]
    assert q["id"] == "b" and q["reason"] == "score_error" and "503" in q["detail"]


def test_generate_score_best_of_n_end_to_end_tiny_models(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Generation, reward scoring and best-of-n selection for real through the transformers backend."""
    gen, rm = str(tiny(tmp_path_factory)), str(tiny(tmp_path_factory, "reward"))
    docs = pa.table({"id": ["d0", "d1"], "text": ["Rivers shape valleys.", "Bees make honey."],
                     "url": ["u0", "u1"]})
    synth = Rephrase({"backend": {"engine": "transformers", "model": gen}, "min_chars": 1,
                      "sampling": {"n": 3, "max_tokens": 8, "seed": 3, "temperature": 1.0, "top_p": 1.0}})(docs).kept
    assert synth.num_rows == 6
    scored_rows = RewardScore({"backend": {"engine": "transformers", "model": rm}})(synth).kept
    best = RewardFilter({"mode": "best_of_n"})(scored_rows)
    assert sorted(best.kept.column("source_id").to_pylist()) == ["d0", "d1"]
    rows = scored_rows.to_pylist()
    for row in best.kept.to_pylist():
        group = [r["reward"] for r in rows if r["source_id"] == row["source_id"]]
        assert row["reward"] == max(group)
    assert best.dropped.num_rows == 4


def test_generate_score_best_of_n_through_http_server(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The same chain through the HTTP backend against the local server serving the tiny models."""
    pytest.importorskip("fastapi", reason="fastapi/uvicorn are needed for the test server")
    from dataforge.inference.server import ServerThread, make_app

    s = ServerThread(make_app(str(tiny(tmp_path_factory)), str(tiny(tmp_path_factory, "reward"))))
    try:
        http = {"engine": "http", "base_url": s.url, "model": "tiny", "concurrency": 4}
        docs = pa.table({"id": ["d0", "d1"], "text": ["Rivers shape valleys.", "Bees make honey."]})
        synth = Rephrase({"backend": http, "min_chars": 1,
                          "sampling": {"n": 2, "max_tokens": 6, "seed": 3, "temperature": 1.0}})(docs).kept
        assert synth.num_rows == 4 and set(synth.column("synth_model").to_pylist()) == {"tiny"}
        scored_rows = RewardScore({"backend": http})(synth).kept
        assert all(math.isfinite(x) for x in scored_rows.column("reward").to_pylist())
        best = RewardFilter({"mode": "best_of_n"})(scored_rows)
        assert sorted(best.kept.column("source_id").to_pylist()) == ["d0", "d1"]
    finally:
        s.stop()

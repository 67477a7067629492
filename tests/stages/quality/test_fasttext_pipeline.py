"""Model scoring, thresholding and sampling on Ray: the same bytes as in-process, whatever the worker count."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fasttext")

from conftest import docs, write_jsonl  # noqa: E402
from quality_model_helpers import navigation  # noqa: E402

from dataforge import spec as spec_mod  # noqa: E402
from dataforge.executor import LocalExecutor, RayExecutor  # noqa: E402
from dataforge.runner import make_plan, run  # noqa: E402


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.parquet"))}


def test_classify_filter_sample_on_ray_matches_local(tmp_path: Path, ray_local: Any) -> None:
    rows = docs(300) + [{"id": f"menu{i}", "text": navigation(i)} for i in range(60)] + [{"id": "empty", "text": ""}]
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    outs = []
    for label, executor, workers in (("local", LocalExecutor(), None), ("w1", RayExecutor(), 1), ("w2", RayExecutor(), 2)):
        p = spec_mod.from_dict({
            "name": "q",
            "input": {"format": "jsonl", "paths": [str(data)], "id_field": "id", "split_bytes": 30_000},
            "output": {"path": str(tmp_path / f"out-{label}")},
            "stages": [
                {"stage": "fasttext_classify_v1", "params": {"model": "web-content@1"}},
                {"stage": "score_filter_v1", "params": {"column": "quality_hq", "threshold": 0.5}},
                {"stage": "score_sample_v1", "params": {"column": "quality_hq", "seed": 7}},
            ],
        })
        if workers:
            p = p.model_copy(update={"workers": workers})
        res = run(make_plan(p, tmp_path / f"run-{label}"), executor)
        s = res.summary
        assert s["totals"]["balanced"] and s["shards"] >= 3
        by_stage = {x["stage"]: x for x in s["stages"]}
        assert by_stage["score_filter_v1"]["dropped"].get("score_missing") == 1  # the empty document
        assert by_stage["score_filter_v1"]["dropped"]["score_below_threshold"] >= 50  # the menus
        outs.append(_digest(tmp_path / f"out-{label}"))
    assert outs[0] and outs[0] == outs[1] == outs[2]

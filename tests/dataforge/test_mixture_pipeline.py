"""The shipped mixture pipeline end to end on Ray: targets met, shards identical across workers, readable elsewhere."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from dataforge import spec as spec_mod
from dataforge.executor import LocalExecutor, RayExecutor
from dataforge.runner import make_plan, run
from dataforge.samples import build_sample_corpus


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mix") / "sample.jsonl.gz"
    build_sample_corpus(path, docs=1200)
    return path


def test_mixture_targets_shards_and_readers(sample: Path, tmp_path: Path, ray_local: Any) -> None:
    outs = []
    for label, executor, workers in (("w1", RayExecutor(), 1), ("w2", RayExecutor(), 2), ("local", LocalExecutor(), None)):
        p = spec_mod.load(REPO / "pipelines/mixture.yaml", sets=[f"DATA={sample}", f"OUT={tmp_path / label}",
                                                                  "input.split_bytes=200000"])
        if workers:
            p = p.model_copy(update={"workers": workers})
        res = run(make_plan(p, tmp_path / f"run-{label}"), executor)
        assert res.summary["totals"]["balanced"]
        outs.append(digest(tmp_path / label / "mixture"))
    assert outs[0] == outs[1] == outs[2]
    summary = res.summary
    mix = next(s for s in summary["stages"] if s["stage"] == "mix_v1")["report"]["mixture"]
    import pyarrow.dataset as pads

    tok = next(s for s in summary["stages"] if s["stage"] == "qwen_tokenize_v1")
    docs_in = pads.dataset(str(tmp_path / "run-local" / "stages" / tok["folder"] / "data")).to_table(
        columns=["mix_domain", "n_tokens"])
    biggest = {r["mix_domain"]: r["n_tokens_max"] for r in docs_in.group_by("mix_domain").aggregate(
        [("n_tokens", "max")]).to_pylist()}
    for name, m in mix["mixtures"].items():
        for d in m["domains"]:
            if d["target_share"] and not d["shortfall_tokens"]:
                # exact prefix selection: off by at most half of the domain's largest document
                assert abs(d["tokens_after"] - d["tokens_target"]) <= biggest[d["domain"]] / 2 + 1, (name, d)
                if biggest[d["domain"]] < 0.01 * m["total_tokens_target"]:
                    assert abs(d["share_after"] - d["target_share"]) <= 0.01, (name, d)
    long_code = next(d for d in mix["mixtures"]["long"]["domains"] if d["domain"] == "code")
    assert long_code["repeat_factor"] > 1.0  # up-sampled

    out = tmp_path / "local" / "mixture"
    manifest = json.loads((out / "general" / "manifest.json").read_text())
    import duckdb

    n, toks = duckdb.sql(f"select count(*), sum(n_tokens) from '{out}/general/*.parquet'").fetchall()[0]
    assert n == manifest["documents"] and toks == manifest["tokens"]
    by_dom = dict(duckdb.sql(f"select mix_domain, sum(len(tokens)) from '{out}/general/*.parquet' group by 1").fetchall())
    assert by_dom == manifest["tokens_by_domain"]

    torch = pytest.importorskip("torch")
    from dataforge.torch_data import TokenShards

    rows = list(TokenShards(out / "general", verify=True))
    assert len(rows) == n and rows[0]["tokens"].dtype == torch.long
    halves = [{(r["id"], r["repeat"]) for r in TokenShards(out / "general", rank=k, world_size=2)} for k in (0, 1)]
    assert not halves[0] & halves[1] and len(halves[0]) + len(halves[1]) == n  # ranks split, never overlap

    report = tmp_path / "report.html"
    from dataforge.report import build_report

    report.write_text(build_report(tmp_path / "run-local"))
    text = report.read_text()
    assert "<svg" in text and "Mixture &#x27;general&#x27;" in text and "Funnel" in text

"""The CLI as a user meets it: the shipped quickstart on embedded Ray, stats, describe, list-stages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

PIPELINES = REPO / "pipelines"


def df(*args: str, cwd: Path = REPO, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dataforge", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_quickstart_on_embedded_ray_and_stats(tmp_path: Path) -> None:
    data = tmp_path / "sample.jsonl.gz"
    r = df("sample-corpus", str(data), "--docs", "400")
    assert r.returncode == 0, r.stderr
    r = df("run", str(PIPELINES / "quickstart.yaml"), "--set", f"DATA={data}", "--set", f"OUT={tmp_path / 'out'}",
           "--run-dir", str(tmp_path / "run"), "--num-cpus", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "balanced" in r.stdout
    r = df("stats", str(tmp_path / "run"), "--json")
    summary = json.loads(r.stdout)
    t = summary["totals"]
    assert t["balanced"] and t["quarantined"] == 3 and t["kept"] > 0
    assert summary["dropped"]["exact_dedup_v1.exact_duplicate"] > 0
    r = df("stats", str(tmp_path / "run"))
    assert r.returncode == 0 and "exact_dedup_v1" in r.stdout
    r = df("stats", str(tmp_path / "nothing"))
    assert r.returncode == 2 and "summary.json not found" in r.stderr


@pytest.mark.parametrize("pipeline", sorted(p.name for p in PIPELINES.glob("*.yaml")))
def test_shipped_pipelines_validate(pipeline: str) -> None:
    r = df("validate", str(PIPELINES / pipeline), "--set", "DATA=/data", "--set", "OUT=/out")
    assert r.returncode == 0, r.stderr


def test_list_and_describe() -> None:
    r = df("list-stages")
    assert r.returncode == 0 and "length_filter_v1" in r.stdout
    r = df("describe", "length_filter_v1", "--json")
    info = json.loads(r.stdout)
    assert info["params"]["min_words"]["default"] == 50 and "Gopher" in info["doc"]
    r = df("describe", "length_filtr_v1")
    assert r.returncode == 2 and "did you mean length_filter_v1" in r.stderr

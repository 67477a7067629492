"""Signal distributions of a run: quantiles, kept/removed histograms, removals per rule, `stats --signals`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataforge.signals import BINS, signal_distributions, sparkline


def _write(folder: Path, name: str, table: pa.Table) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)


@pytest.fixture()
def run(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A run with an annotator (scores 0..999 / 1000, one null) and a filter that removed scores under 0.3."""
    rng = np.random.default_rng(0)
    scores = rng.permutation(1000) / 1000.0
    words = rng.integers(1, 500, 1000)
    ann = tmp_path / "stages" / "01-annotate_v1"
    ids = [f"d{i}" for i in range(1000)]
    base = {"id": ids, "text": ["x"] * 1000, "language_score": pa.array(scores, pa.float32()),
            "word_count": pa.array(words, pa.int64()), "flag": [True] * 1000}
    _write(ann / "data", "part-00000.parquet", pa.table(base).slice(0, 600))
    _write(ann / "data", "part-00001.parquet", pa.table(base).slice(600))
    extra = pa.table({"id": ["null"], "text": ["x"], "language_score": pa.array([None], pa.float32()),
                      "word_count": pa.array([3], pa.int64()), "flag": [False]})
    _write(ann / "data", "part-00002.parquet", extra)
    flt = tmp_path / "stages" / "02-threshold_v1"
    table = pa.table(base)
    keep = scores >= 0.3
    _write(flt / "data", "part-00000.parquet", table.filter(pa.array(keep)))
    removed = table.filter(pa.array(~keep))
    removed = removed.append_column("reason", pa.array(["too_low"] * removed.num_rows))
    _write(flt / "rejects", "part-00000.parquet", removed)
    (tmp_path / "stages" / "00-read").mkdir()
    return tmp_path, scores, words


def test_quantiles_histograms_and_missing(run: tuple[Path, np.ndarray, np.ndarray]) -> None:
    root, scores, words = run
    r = signal_distributions(root)
    first = r["stages"][1]
    assert first["stage"] == "annotate_v1" and first["rows"] == {"data": 1001, "rejects": 0}
    assert set(first["signals"]) == {"language_score", "word_count"}  # numeric, not core, not boolean
    ls = first["signals"]["language_score"]
    assert ls["count"] == 1000 and ls["missing"] == 1 and ls["quantiles_exact"]
    want = np.percentile(scores.astype(np.float32).astype(np.float64), [1, 5, 10, 25, 50, 75, 90, 95, 99])
    assert np.allclose(list(ls["quantiles"].values()), want)
    assert sum(ls["histogram"]["data"]) == 1000 and len(ls["histogram"]["data"]) == BINS
    assert ls["histogram"]["edges"][0] == 0.0 and ls["histogram"]["edges"][-1] == pytest.approx(0.999)
    wc = first["signals"]["word_count"]
    assert wc["count"] == 1001 and wc["min"] == min(words.min(), 3) and wc["mean"] == pytest.approx((words.sum() + 3) / 1001)


def test_a_filter_stage_shows_what_it_removed_and_why(run: tuple[Path, np.ndarray, np.ndarray]) -> None:
    root, scores, _ = run
    second = signal_distributions(root)["stages"][2]
    assert second["removed"] == {"too_low": int((scores < 0.3).sum())}
    h = second["signals"]["language_score"]["histogram"]
    assert sum(h["rejects"]) == 300 and sum(h["data"]) == 700
    edges = np.array(h["edges"])
    cut = np.searchsorted(edges, 0.3, side="right") - 1
    assert sum(h["rejects"][cut + 1:]) == 0  # nothing removed above the threshold's bin


def test_strided_quantiles_beyond_max_values(run: tuple[Path, np.ndarray, np.ndarray]) -> None:
    root, scores, _ = run
    ls = signal_distributions(root, max_values=100)["stages"][1]["signals"]["language_score"]
    assert not ls["quantiles_exact"]
    assert ls["count"] == 1000  # counts and histograms stay exact
    assert abs(ls["quantiles"]["p50"] - 0.5) < 0.1


def test_removed_counts_come_from_the_summary_when_there_is_one(run: tuple[Path, np.ndarray, np.ndarray]) -> None:
    root, _, _ = run
    (root / "summary.json").write_text(json.dumps({"stages": [{"index": 2, "dropped": {"too_low": 7}}]}))
    assert signal_distributions(root)["stages"][2]["removed"] == {"too_low": 7}


def test_not_a_run_dir(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run directory"):
        signal_distributions(tmp_path)


def test_sparkline() -> None:
    assert sparkline([0, 0]) == "  "
    line = sparkline([0, 1, 100])
    assert line[0] == " " and line[1] != " " and line[2] == "█"


def test_stats_signals_after_a_local_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """classify with the shipped model, threshold, then `dataforge stats --signals` shows the distribution."""
    pytest.importorskip("fasttext")
    from conftest import docs, write_jsonl

    from dataforge.cli import main as cli

    data = write_jsonl(tmp_path / "in.jsonl", docs(20) + [{"id": "menu", "text": "Home\nLogin\nCart\nImpressum"}])
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        "name: q\ninput: {format: jsonl, paths: ['${DATA}']}\noutput: {path: '${OUT}/q'}\nstages:\n"
        "  - stage: fasttext_classify_v1\n"
        "  - stage: score_filter_v1\n    params: {column: quality_hq, threshold: 0.5}\n")
    run_dir = tmp_path / "run"
    assert cli(["run", str(pipeline), "--set", f"DATA={data}", "--set", f"OUT={tmp_path / 'out'}",
                "--run-dir", str(run_dir), "--local", "--quiet"]) == 0
    capsys.readouterr()
    assert cli(["stats", str(run_dir), "--signals"]) == 0
    out = capsys.readouterr().out
    assert "quality_hq" in out and "score_below_threshold=1" in out
    assert cli(["stats", str(run_dir), "--signals", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    stages = {s["stage"]: s for s in summary["signals"]["stages"]}
    assert stages["fasttext_classify_v1"]["signals"]["quality_hq"]["count"] == 21
    assert stages["score_filter_v1"]["removed"] == {"score_below_threshold": 1}

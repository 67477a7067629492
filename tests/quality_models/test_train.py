"""Training quality classifiers: determinism, DCLM-manner split and balance, card, manifest, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("fasttext")

from quality_model_helpers import SMALL, toy_corpus, train_toy, write_jsonl  # noqa: E402

from dataforge.cli import main as cli  # noqa: E402
from dataforge.hashing import unit_interval  # noqa: E402
from dataforge.quality_models.manifest import file_sha256, read_manifest, resolve  # noqa: E402
from dataforge.quality_models.train import TrainConfig, TrainingError, train  # noqa: E402


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One toy model (hq/cc), quantized, with its card."""
    root = tmp_path_factory.mktemp("toy")
    return root, train_toy(root, quantize=True, cutoff=2000)


def test_two_trainings_give_byte_identical_models(tmp_path: Path, toy: tuple[Path, dict]) -> None:
    root, card = toy
    again = train_toy(tmp_path, quantize=True, cutoff=2000)
    first = root / "models" / "toy-v1"
    second = tmp_path / "models" / "toy-v1"
    assert file_sha256(first / "model.bin") == file_sha256(second / "model.bin")
    assert file_sha256(first / "model.ftz") == file_sha256(second / "model.ftz")
    assert again["sha256"] == card["sha256"]
    assert again["heldout_metrics"] == card["heldout_metrics"]


def test_card_has_heldout_metrics_and_distribution(toy: tuple[Path, dict]) -> None:
    root, card = toy
    on_disk = json.loads((root / "models" / "toy-v1" / "card.json").read_text())
    m = on_disk["heldout_metrics"]["model"]
    assert m["file"] == "model.ftz"  # the quantized model is the one registered and evaluated
    assert 0.9 <= m["auc"] <= 1.0  # prose against menus is easy
    t = m["at_threshold"]
    assert t["threshold"] == 0.5
    for key in ("precision", "recall", "f1", "accuracy"):
        assert 0.0 <= t[key] <= 1.0
    assert t["tp"] + t["fn"] == m["documents"]["positive"]
    assert t["fp"] + t["tn"] == m["documents"]["negative"]
    assert 0.0 <= m["threshold_percentile"] <= 100.0
    assert {f"p{i}" for i in range(101)} == set(m["score_table"])
    assert set(m["score_percentiles"]) == {"p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99"}
    assert m["score_percentiles_positive"]["p50"] > m["score_percentiles_negative"]["p50"]
    assert "unquantized" in on_disk["heldout_metrics"]
    assert on_disk["hyperparameters"]["wordNgrams"] == 2 and on_disk["hyperparameters"]["thread"] == 1
    md = (root / "models" / "toy-v1" / "card.md").read_text()
    for needle in ("ROC AUC", "precision at threshold", "threshold's percentile", "## Limits", card["sha256"]):
        assert needle in md


def test_split_is_by_id_hash_and_classes_are_balanced(toy: tuple[Path, dict]) -> None:
    _, card = toy
    pos, neg = toy_corpus()
    d = card["data"]
    held_pos = int(np.sum(unit_interval(pa.array([r["id"] for r in pos]), seed=42) < 0.1))
    held_neg = int(np.sum(unit_interval(pa.array([r["id"] for r in neg]), seed=42) < 0.1))
    assert d["before_balance"]["heldout"] == {"positive": held_pos, "negative": held_neg}
    assert d["before_balance"]["train"] == {"positive": len(pos) - held_pos, "negative": len(neg) - held_neg}
    assert d["train"]["positive"] == d["train"]["negative"] == min(len(pos) - held_pos, len(neg) - held_neg)
    assert d["heldout"]["positive"] == d["heldout"]["negative"] == min(held_pos, held_neg)


def test_manifest_entry_points_at_model_with_its_sha(toy: tuple[Path, dict]) -> None:
    root, card = toy
    manifest = root / "models" / "manifest.json"
    entry = resolve("toy@1", manifest)
    assert entry.path == (root / "models" / "toy-v1" / "model.ftz").resolve()
    assert entry.sha256 == file_sha256(entry.path) == card["sha256"]
    assert entry.labels == ["hq", "cc"] and entry.positive_label == "hq"
    assert json.loads(manifest.read_text())["models"][0]["file"] == "toy-v1/model.ftz"  # relative to the manifest


def test_duplicates_kept_once_and_texts_in_both_classes_dropped(tmp_path: Path) -> None:
    pos, neg = toy_corpus(120, 120)
    pos += [dict(pos[0], id="p-dup")]  # exact copy inside the class
    shared = "This very sentence appears in both classes and must not be learnt from."
    pos.append({"id": "p-both", "text": shared})
    neg.append({"id": "n-both", "text": shared})
    neg.append({"id": "n-empty", "text": "   \n  "})
    cfg = TrainConfig(name="d", version="1", out_dir=str(tmp_path / "m"), heldout=0.2,
                      positive=[str(write_jsonl(tmp_path / "p.jsonl", pos))],
                      negative=[str(write_jsonl(tmp_path / "n.jsonl", neg))], **SMALL)
    d = train(cfg, log=lambda m: None)["data"]
    assert d["duplicates_positive"] == 1 and d["duplicates_negative"] == 0
    assert d["in_both_classes"] == 1
    assert d["too_short"] == {"positive": 0, "negative": 1}
    assert d["usable"] == {"positive": 120, "negative": 120}


def test_negatives_from_a_run_s_rejects_filtered_by_reason(tmp_path: Path) -> None:
    pos, neg = toy_corpus(150, 150)
    run_stage = tmp_path / "run" / "stages" / "02-some_filter_v1"
    rejects = pa.table({
        "id": [r["id"] for r in neg] + ["x1", "x2"],
        "text": [r["text"] for r in neg] + ["kept for another reason one", "kept for another reason two"],
        "reason": ["menu_like"] * len(neg) + ["too_short", "too_short"],
        "detail": [None] * (len(neg) + 2),
    })
    (run_stage / "rejects").mkdir(parents=True)
    pq.write_table(rejects, run_stage / "rejects" / "part-00000.parquet")
    (run_stage / "data").mkdir()
    pq.write_table(pa.table({"id": [r["id"] for r in pos], "text": [r["text"] for r in pos]}),
                   run_stage / "data" / "part-00000.parquet")
    cfg = TrainConfig(name="r", version="1", out_dir=str(tmp_path / "m"), positive=[str(run_stage / "data")],
                      negative=[str(run_stage / "rejects")], negative_reasons=["menu_like"], **SMALL)
    card = train(cfg, log=lambda m: None)
    src = card["sources"]["negative"][0]
    assert src["format"] == "parquet" and src["documents"] == 150 and src["skipped_by_reason"] == 2
    assert card["sources"]["positive"][0]["documents"] == 150


def test_empty_class_is_an_error_that_names_it(tmp_path: Path) -> None:
    pos, _ = toy_corpus(50, 0)
    cfg = TrainConfig(name="e", version="1", out_dir=str(tmp_path / "m"),
                      positive=[str(write_jsonl(tmp_path / "p.jsonl", pos))],
                      negative=[str(write_jsonl(tmp_path / "n.jsonl", [{"id": "a", "text": ""}]))], **SMALL)
    with pytest.raises(TrainingError, match="no usable negative documents"):
        train(cfg, log=lambda m: None)


def test_cli_trains_registers_and_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pos, neg = toy_corpus(150, 150)
    p = write_jsonl(tmp_path / "pos.jsonl", pos)
    n = write_jsonl(tmp_path / "neg.jsonl", neg)
    out = tmp_path / "models" / "cli-v2"
    rc = cli(["train-quality", "--name", "cli", "--version", "2", "--out", str(out), "--positive", str(p),
              "--negative", str(n), "--dim", "16", "--bucket", "20000", "--quantize", "--cutoff", "1000", "--drop-bin"])
    assert rc == 0
    assert (out / "model.ftz").exists() and not (out / "model.bin").exists()
    card = json.loads((out / "card.json").read_text())
    assert card["command"].startswith("dataforge train-quality --name cli --version 2")
    assert "--dim 16" in card["command"] and "--drop-bin" in card["command"]
    entries = read_manifest(tmp_path / "models" / "manifest.json")
    assert [e.ref for e in entries] == ["cli@2"]
    capsys.readouterr()
    assert cli(["train-quality", "--list", "--manifest", str(tmp_path / "models" / "manifest.json")]) == 0
    assert "cli@2" in capsys.readouterr().out
    assert cli(["train-quality", "--name", "x"]) == 2
    assert "--version" in capsys.readouterr().err


def test_divergence_is_reported_with_the_fix(tmp_path: Path) -> None:
    pos, neg = toy_corpus(100, 100)
    cfg = TrainConfig(name="nan", version="1", out_dir=str(tmp_path / "m"), lr=10_000.0,
                      positive=[str(write_jsonl(tmp_path / "p.jsonl", pos))],
                      negative=[str(write_jsonl(tmp_path / "n.jsonl", neg))], **SMALL)
    with pytest.raises(TrainingError, match="lower --lr"):
        train(cfg, log=lambda m: None)

"""Training multi-class domain models: group split, per-class caps, determinism, card and manifest entry."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("fasttext")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages" / "mix"))
from domain_toy import toy_docs, train_toy_domains  # noqa: E402

from dataforge.hashing import unit_interval  # noqa: E402
from dataforge.quality_models.manifest import file_sha256, resolve  # noqa: E402
from dataforge.quality_models.train import TrainingError  # noqa: E402
from dataforge.quality_models.train_domain import DomainTrainConfig, prepare, split, train_domains  # noqa: E402


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("toy-domain")
    return root, train_toy_domains(root)


def test_card_confusion_and_manifest(toy: tuple[Path, dict]) -> None:
    root, card = toy
    m = card["heldout_metrics"]["model"]
    assert m["labels"] == ["code", "math", "web"]
    cm = np.array(m["confusion"])
    assert cm.shape == (3, 3) and cm.sum() == m["documents"] == sum(card["data"]["heldout"].values())
    assert [m["per_class"][x]["support"] for x in m["labels"]] == cm.sum(axis=1).tolist()
    assert m["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert m["accuracy"] >= 0.9  # templates this different are easy
    entry = resolve("toy-domain@1", root / "models" / "manifest.json")
    assert entry.labels == ["code", "math", "web"] and entry.positive_label is None
    assert entry.sha256 == file_sha256(entry.path) == card["sha256"]
    md = (root / "models" / "toy-domain" / "card.md").read_text()
    assert "Confusion matrix" in md and "| math |" in md and card["sha256"] in md


def test_same_documents_give_the_same_model(tmp_path: Path, toy: tuple[Path, dict]) -> None:
    assert train_toy_domains(tmp_path)["sha256"] == toy[1]["sha256"]


def test_split_keeps_groups_together_and_caps_classes() -> None:
    docs = toy_docs(60)
    # two documents per group: they must land in the same split
    docs = pa.concat_tables([docs, docs.set_column(0, "id", pa.array([f"{i}-b" for i in docs.column("id").to_pylist()]))
                             .set_column(3, "text", pa.array([t + " again" for t in docs.column("text").to_pylist()]))])
    cfg = DomainTrainConfig(name="t", version="1", out_dir="unused", max_per_class=25, max_heldout_per_class=1000,
                            min_chars=5, heldout=0.3)
    prepared, stats = prepare(docs, cfg)
    assert stats["duplicates"] == 0 and stats["ambiguous_texts"] == 0
    train_t, held_t, info = split(prepared, cfg)
    assert not set(train_t.column("group").to_pylist()) & set(held_t.column("group").to_pylist())
    held_groups = set(held_t.column("group").to_pylist())
    expected = {g for g, u in zip(prepared.column("group").to_pylist(), unit_interval(prepared.column("group"), 42)) if u < 0.3}
    assert held_groups == expected
    counts = {r["label"]: r["count_all"] for r in train_t.group_by("label").aggregate([([], "count_all")]).to_pylist()}
    assert counts == {"code": 25, "math": 25, "web": 25}


def test_ambiguous_texts_are_dropped_from_every_label() -> None:
    docs = pa.table({"id": ["a", "b", "c", "d"], "group": ["a", "b", "c", "d"], "label": ["web", "math", "web", "web"],
                     "text": ["same text here", "same text here", "other text here", "other text here"]})
    prepared, stats = prepare(docs, DomainTrainConfig(name="t", version="1", out_dir="x", min_chars=5))
    assert prepared.column("id").to_pylist() == ["c"]
    assert stats["ambiguous_texts"] == 1 and stats["duplicates"] == 1


def test_a_label_without_heldout_documents_is_an_error(tmp_path: Path) -> None:
    docs = toy_docs(3)
    with pytest.raises(TrainingError, match="every label needs training and held-out"):
        train_domains(docs, DomainTrainConfig(name="t", version="1", out_dir=str(tmp_path / "m"), min_chars=5),
                      log=lambda s: None)

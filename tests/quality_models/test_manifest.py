"""The quality-model manifest and the model the project ships."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from dataforge.quality_models.manifest import (
    SHIPPED_MANIFEST,
    ModelEntry,
    ModelNotFound,
    file_sha256,
    read_manifest,
    resolve,
    write_entry,
)


def test_shipped_model_resolves_by_name_and_version_and_its_sha256_matches() -> None:
    entry = resolve("web-content@1")
    assert entry.path.is_file()
    assert entry.path.suffix == ".ftz" and entry.path.stat().st_size < 4 * 1024 * 1024  # small enough to ship
    assert file_sha256(entry.path) == entry.sha256
    assert entry.labels == ["hq", "cc"] and entry.positive_label == "hq"
    card = entry.card_json()
    assert card is not None and card["sha256"] == entry.sha256
    m = card["heldout_metrics"]["model"]
    assert m["auc"] > 0.8 and m["documents"]["positive"] == m["documents"]["negative"] > 100
    assert "Limits" in entry.card_path.read_text()  # type: ignore[union-attr]


def test_shipped_model_scores_through_the_stage_by_name() -> None:
    pytest.importorskip("fasttext")
    from dataforge import registry

    stage = registry.get("fasttext_classify_v1")({"model": "web-content@1"})
    batch = pa.table({
        "id": ["prose", "menu"],
        "text": ["The committee met on Tuesday to review the budget for the coming year. After a long debate the "
                 "members agreed to fund the new library and to delay the repairs of the bridge until the autumn.",
                 "Home\nAbout us\nContact\nImpressum\nDatenschutz\nLogin\nWarenkorb"],
    })
    out = stage(batch).kept
    hq = out.column("quality_hq").to_pylist()
    assert hq[0] > 0.5 > hq[1]
    assert stage.versions() == {"quality_model": "web-content@1", "quality_model_sha256": resolve("web-content@1").sha256}


def test_references_need_a_version_and_unknown_ones_list_what_exists() -> None:
    with pytest.raises(ModelNotFound, match="name@version"):
        resolve("web-content")
    with pytest.raises(ModelNotFound, match="web-content@1"):
        resolve("nope@1")


def test_write_entry_replaces_same_version_and_stores_relative_paths(tmp_path: Path) -> None:
    model = tmp_path / "m" / "model.bin"
    model.parent.mkdir()
    model.write_bytes(b"not really a model")
    manifest = tmp_path / "manifest.json"
    for desc in ("first", "second"):
        write_entry(ModelEntry(name="a", version="1", file=str(model), sha256=file_sha256(model), labels=["hq", "cc"],
                               description=desc, base=tmp_path), manifest)
    write_entry(ModelEntry(name="a", version="0", file="/elsewhere/x.bin", sha256="0" * 64, labels=["x"]), manifest)
    rows = json.loads(manifest.read_text())["models"]
    assert [(r["name"], r["version"], r["description"]) for r in rows] == [("a", "0", ""), ("a", "1", "second")]
    assert rows[1]["file"] == "m/model.bin" and rows[0]["file"] == "/elsewhere/x.bin"
    assert resolve("a@1", manifest).path == model.resolve()


def test_yaml_manifest_for_models_on_disk(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text(
        "models:\n"
        "  - {name: dclm-oh-eli5, version: '1', file: /models/openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train.bin,\n"
        "     sha256: " + "a" * 64 + ", labels: [hq, cc], positive_label: hq}\n")
    entries = read_manifest(tmp_path / "models.yaml")
    assert entries[0].ref == "dclm-oh-eli5@1"
    assert str(entries[0].path).endswith("openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train.bin")


def test_malformed_manifest_is_reported_with_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "manifest.json"
    bad.write_text('{"models": [{"name": "a"}]}')
    with pytest.raises(ModelNotFound, match="malformed"):
        read_manifest(bad)
    bad.write_text("{not json")
    with pytest.raises(ModelNotFound, match=str(bad)):
        read_manifest(bad)


def test_shipped_manifest_lists_only_files_that_exist() -> None:
    for e in read_manifest(SHIPPED_MANIFEST):
        assert e.path.is_file(), f"{e.ref}: {e.path} is missing"
        assert e.card_path is not None and e.card_path.is_file()

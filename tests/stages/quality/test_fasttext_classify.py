"""fasttext_classify_v1: probability columns, DCLM preprocessing, public label conventions, bad input."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("fasttext")

from quality_model_helpers import edu_examples, navigation, prose, train_labels, train_toy  # noqa: E402

from dataforge.quality_models.manifest import file_sha256  # noqa: E402
from dataforge.quality_models.predict import load_fasttext  # noqa: E402
from dataforge.stage import StageError  # noqa: E402
from dataforge.stages.quality.fasttext_classifier import FastTextClassify, column_suffix  # noqa: E402


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A DCLM-convention (hq/cc) model trained by train-quality, registered in its own manifest."""
    root = tmp_path_factory.mktemp("clf")
    card = train_toy(root)
    return {"manifest": str(root / "models" / "manifest.json"), "bin": root / "models" / "toy-v1" / "model.bin",
            "card": card}


@pytest.fixture(scope="module")
def edu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FineWeb-Edu-style model with integer score labels 0, 1, 2."""
    return train_labels(tmp_path_factory.mktemp("edu") / "edu.bin", edu_examples(), epoch=25, lr=0.5)


def _docs(texts: list[str | None]) -> pa.Table:
    return pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": pa.array(texts, pa.string()),
                     "zz_extra": list(range(len(texts)))})


def test_writes_one_probability_column_per_label_summing_to_one(toy: dict) -> None:
    stage = FastTextClassify({"model": "toy@1", "manifest": toy["manifest"]})
    texts = [prose(1000 + i) for i in range(5)] + [navigation(1000 + i) for i in range(5)]
    out = stage(_docs(texts)).kept
    assert out.column_names[:3] == ["id", "text", "zz_extra"]
    assert out.column("quality_hq").type == pa.float32()
    hq = np.array(out.column("quality_hq").to_pylist())
    cc = np.array(out.column("quality_cc").to_pylist())
    assert np.allclose(hq + cc, 1.0, atol=1e-4)  # softmax, plus fastText's 1e-5 per label
    assert (hq[:5] > 0.5).all() and (hq[5:] < 0.5).all()
    assert out.column("zz_extra").to_pylist() == list(range(10))


def test_scores_equal_dclm_style_single_predictions(toy: dict) -> None:
    """Batched scores equal DCLM's per-document ``predict(" ".join(text.splitlines()))`` (label order aside)."""
    model = load_fasttext(str(toy["bin"]))
    texts = [prose(7), navigation(7), "line one\r\nline two\u2028line three\x85four\fend", "  padded  \n\n text "]
    stage = FastTextClassify({"model_path": str(toy["bin"])})
    out = stage(_docs(texts)).kept
    for i, text in enumerate(texts):
        labels, probs = model.predict(" ".join(text.strip().splitlines()), k=-1)
        want = dict(zip(labels, probs))
        assert out.column("quality_hq")[i].as_py() == pytest.approx(float(want["__label__hq"]), abs=1e-7)
        assert out.column("quality_cc")[i].as_py() == pytest.approx(float(want["__label__cc"]), abs=1e-7)


def test_model_path_with_sha256_check(toy: dict) -> None:
    ok = FastTextClassify({"model_path": str(toy["bin"]), "model_sha256": file_sha256(toy["bin"])})
    ok.ensure_setup()
    assert ok.versions()["quality_model_sha256"] == file_sha256(toy["bin"])
    bad = FastTextClassify({"model_path": str(toy["bin"]), "model_sha256": "0" * 64})
    with pytest.raises(StageError, match="sha256"):
        bad.ensure_setup()
    with pytest.raises(StageError, match="not a file"):
        FastTextClassify({"model_path": str(toy["bin"]) + ".missing"}).ensure_setup()
    with pytest.raises(StageError, match="no quality model 'nope@1'"):
        FastTextClassify({"model": "nope@1", "manifest": toy["manifest"]}).ensure_setup()


def test_not_a_model_file_is_reported(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(StageError, match="junk.bin"):
        FastTextClassify({"model_path": str(junk)}).ensure_setup()


def test_prefix_and_label_subset(toy: dict) -> None:
    stage = FastTextClassify({"model_path": str(toy["bin"]), "prefix": "dclm_", "labels": ["__label__hq"]})
    out = stage(_docs([prose(3)])).kept
    assert [c for c in out.column_names if c.startswith("dclm_")] == ["dclm_hq"]
    with pytest.raises(StageError, match=r"\['wiki'\] are not labels"):
        FastTextClassify({"model_path": str(toy["bin"]), "labels": ["wiki"]}).ensure_setup()


def test_fineweb_edu_style_labels_and_expected_score(edu: Path) -> None:
    weights = {"0": 0.0, "1": 1.0, "2": 2.0}
    stage = FastTextClassify({"model_path": str(edu), "prefix": "edu_", "score_weights": weights})
    out = stage(_docs([prose(5000), navigation(5000), None])).kept
    cols = {c: out.column(c).to_pylist() for c in ("edu_0", "edu_1", "edu_2", "edu_score")}
    for i in range(2):
        expected = sum(w * cols[f"edu_{k}"][i] for k, w in weights.items())
        assert cols["edu_score"][i] == pytest.approx(expected, abs=1e-5)
        assert sum(cols[f"edu_{k}"][i] for k in weights) == pytest.approx(1.0, abs=1e-4)
    assert cols["edu_score"][0] > 1.5 > 0.5 > cols["edu_score"][1]
    assert cols["edu_score"][2] is None and cols["edu_2"][2] is None


def test_bad_input_gets_defined_scores(toy: dict) -> None:
    stage = FastTextClassify({"model_path": str(toy["bin"])})
    huge = ("word " * 4_000_000)[:20_000_000]  # a single 20 MB line
    texts = ["", None, "  \n\t \n", "😀🎉🔥" * 50, huge, "混合 scripts ﻿العربية mixed Кириллица 123", "\x00\x00"]
    out = stage(_docs(texts)).kept
    hq = out.column("quality_hq").to_pylist()
    cc = out.column("quality_cc").to_pylist()
    assert hq[:3] == [None, None, None] and cc[:3] == [None, None, None]  # no words: no score
    for i in (3, 4, 5):
        assert hq[i] is not None and np.isfinite(hq[i]) and 0.0 <= hq[i] <= 1.0 + 1e-4
        assert hq[i] + cc[i] == pytest.approx(1.0, abs=1e-4)
    assert hq[6] is None  # NUL characters only: whitespace to fastText
    again = stage(_docs(texts)).kept
    assert again.column("quality_hq").to_pylist() == hq  # deterministic


def test_max_chars_and_lowercase(toy: dict) -> None:
    text = prose(11) + " " + "Home Login Cart " * 200
    head = FastTextClassify({"model_path": str(toy["bin"]), "max_chars": 200})(_docs([text, text[:200]])).kept
    a, b = head.column("quality_hq").to_pylist()
    assert a == b
    low = FastTextClassify({"model_path": str(toy["bin"]), "lowercase": True})(_docs([text, text.lower()])).kept
    a, b = low.column("quality_hq").to_pylist()
    assert a == b


def test_empty_batch_gets_typed_columns_and_stage_pickles_before_setup(toy: dict) -> None:
    stage = FastTextClassify({"model": "toy@1", "manifest": toy["manifest"]})
    clone = pickle.loads(pickle.dumps(stage))
    out = clone(_docs([])).kept
    assert out.num_rows == 0
    assert out.schema.field("quality_hq").type == pa.float32() and "quality_cc" in out.column_names


def test_existing_columns_are_replaced_not_duplicated(toy: dict) -> None:
    batch = _docs([prose(1)]).append_column("quality_hq", pa.array([0.123], pa.float32()))
    out = FastTextClassify({"model_path": str(toy["bin"])})(batch).kept
    assert out.column_names.count("quality_hq") == 1
    assert out.column("quality_hq")[0].as_py() != pytest.approx(0.123)


def test_column_suffix() -> None:
    assert column_suffix("__label__hq") == "hq"
    assert column_suffix("High-Quality") == "high_quality"
    assert column_suffix("__label__0") == "0"

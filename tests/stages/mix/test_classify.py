"""domain_classify_v1: rules first (or the classifier first), min_score fallback, rename, the shipped web-domain@1."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pyarrow as pa
import pytest

pytest.importorskip("fasttext")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from domain_toy import train_toy_domains  # noqa: E402

from dataforge.quality_models.manifest import file_sha256, resolve  # noqa: E402
from dataforge.stage import StageError  # noqa: E402
from dataforge.stages.mix.classify import DomainClassify  # noqa: E402
from dataforge.stages.mix.domains import DomainRules  # noqa: E402

MATH = "If a train travels 40 miles per hour for 3 hours, the distance is 120 miles; compute the average."
CODE = "def f9(x):\n    return x * 4 + 2\n\nfor i in range(9):\n    print(f9(i))"
WEB = "The weekend festival brings music, food stalls and 12 local artists to the old market square."


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("toy-domain-stage")
    train_toy_domains(root)
    return str(root / "models" / "manifest.json")


def batch() -> pa.Table:
    return pa.table({
        "id": ["m", "c", "w", "gh", "empty"],
        "text": [MATH, CODE, WEB, MATH, ""],
        "url": ["https://a.org/x", "https://b.org/y", "https://c.org/z", "https://github.com/o/r", "https://d.org/"],
        "source": ["crawl"] * 5,
        "extra": [1, 2, 3, 4, 5],
    })


def rules() -> DomainRules:
    return DomainRules({"rules": [{"domain": "code", "hosts": ["github.com"]}], "fallback": None})


def test_rules_first_then_classifier_then_fallback(manifest: str) -> None:
    labelled = rules().annotate(batch())
    assert labelled.column("mix_domain").to_pylist() == [None, None, None, "code", None]
    st = DomainClassify({"model": "toy-domain@1", "manifest": manifest})
    out = st(labelled).kept
    assert out.column("mix_domain").to_pylist() == ["math", "code", "web", "code", "web"]
    assert out.column("mix_domain_by").to_pylist() == ["classifier", "classifier", "classifier", "rule", "fallback"]
    score = out.column("mix_domain_score").to_pylist()
    assert all(0.5 < s <= 1.0001 for s in score[:3]) and score[3] is None and score[4] is None
    assert out.column("extra").to_pylist() == [1, 2, 3, 4, 5]  # unknown columns pass through
    assert st.versions()["domain_model"] == "toy-domain@1"


def test_classifier_precedence_overrides_rules(manifest: str) -> None:
    labelled = rules().annotate(batch())
    out = DomainClassify({"model": "toy-domain@1", "manifest": manifest, "precedence": "classifier"})(labelled).kept
    assert out.column("mix_domain").to_pylist()[3] == "math"  # the model is sure it is math, the host says code
    assert out.column("mix_domain_by").to_pylist()[3] == "classifier"


def test_min_score_sends_unsure_rows_to_fallback_and_rename(manifest: str) -> None:
    scores = DomainClassify({"model": "toy-domain@1", "manifest": manifest})(batch()).kept.column(
        "mix_domain_score").to_pylist()[:4]
    cut = sorted(scores)[1] + 1e-9  # the two least sure rows fall under it
    out = DomainClassify({"model": "toy-domain@1", "manifest": manifest, "min_score": min(cut, 1.0),
                          "fallback": "general"})(batch()).kept
    unsure = [s < cut for s in scores]
    assert sum(unsure) >= 2
    assert [d == "general" for d in out.column("mix_domain").to_pylist()[:4]] == unsure
    assert [b == "fallback" for b in out.column("mix_domain_by").to_pylist()[:4]] == unsure
    out = DomainClassify({"model": "toy-domain@1", "manifest": manifest, "rename": {"web": "general"},
                          "by_column": None})(batch()).kept
    assert out.column("mix_domain").to_pylist()[:3] == ["math", "code", "general"]
    assert "mix_domain_by" not in out.column_names


def test_empty_batch_pickling_and_errors(manifest: str, tmp_path: Path) -> None:
    st = DomainClassify({"model": "toy-domain@1", "manifest": manifest})
    pickle.dumps(st)  # before setup
    out = st(batch().slice(0, 0)).kept
    assert out.num_rows == 0 and {"mix_domain", "mix_domain_score", "mix_domain_by"} <= set(out.column_names)
    with pytest.raises(StageError, match="not labels of"):
        DomainClassify({"model": "toy-domain@1", "manifest": manifest, "rename": {"poetry": "x"}}).setup()
    with pytest.raises(StageError, match="no quality model"):
        DomainClassify({"model": "nope@1", "manifest": manifest}).setup()
    path = resolve("toy-domain@1", manifest).path
    with pytest.raises(StageError, match="sha256"):
        DomainClassify({"model_path": str(path), "model_sha256": "0" * 64}).setup()


def test_shipped_model_is_checked_and_knows_obvious_math_and_code() -> None:
    entry = resolve("web-domain@1")
    assert entry.path.is_file() and file_sha256(entry.path) == entry.sha256
    assert entry.path.stat().st_size <= 2 * 1024 * 1024
    assert {"web", "math", "code", "knowledge"} <= set(entry.labels)
    card = entry.card_path.read_text()
    assert "Confusion matrix" in card and "build_web_domain" in card
    texts = [
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
        "How many clips did Natalia sell altogether in April and May? She sold 48 / 2 = 24 clips in May, "
        "so 48 + 24 = 72 clips in total.",
        "def fibonacci(n: int) -> int:\n    if n < 2:\n        return n\n    a, b = 0, 1\n    for _ in range(n - 1):\n"
        "        a, b = b, a + b\n    return b\n\n\nclass Cache(dict):\n    def __missing__(self, key):\n"
        "        value = self[key] = fibonacci(key)\n        return value\n",
        "#include <stdio.h>\nint main(void) {\n    for (int i = 0; i < 10; i++) {\n        printf(\"%d\\n\", i);\n"
        "    }\n    return 0;\n}\n",
    ]
    t = pa.table({"id": ["math", "py", "c"], "text": texts})
    out = DomainClassify()(t).kept
    assert out.column("mix_domain").to_pylist() == ["math", "code", "code"]

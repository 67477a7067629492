"""language_id_v1: labels and scores on real sentences, the keep/min_score filter, empty text, options."""

from __future__ import annotations

import pickle
from collections import Counter

import pyarrow as pa
import pytest
from pydantic import ValidationError

pytest.importorskip("fasttext")

from dataforge.stage import StageError  # noqa: E402
from dataforge.stages.language.langid import LanguageId, default_model_path  # noqa: E402
from dataforge.stages.language.qwen3 import QWEN3_LANGUAGES, qwen3_labels, qwen3_missing  # noqa: E402

try:
    MODEL = default_model_path()
except StageError as exc:  # the model wheel is not installed here
    pytest.skip(reason=str(exc), allow_module_level=True)

SENTENCES = {
    "en": "The committee met on Tuesday to review the budget for the coming year.",
    "zh": "委员会周二开会审查了来年的预算，经过长时间的辩论，成员们同意资助新图书馆。",
    "ja": "委員会は火曜日に会合を開き、来年度の予算を審議しました。長い議論の末、新しい図書館に資金を出すことに合意しました。",
    "ar": "اجتمعت اللجنة يوم الثلاثاء لمراجعة ميزانية العام المقبل، وبعد نقاش طويل وافق الأعضاء على تمويل المكتبة الجديدة.",
    "de": "Der Ausschuss traf sich am Dienstag, um den Haushalt für das kommende Jahr zu prüfen.",
    "fr": "Le comité s'est réuni mardi pour examiner le budget de l'année prochaine.",
}


def table(texts: dict[str, str | None]) -> pa.Table:
    ids = list(texts)
    return pa.table({"id": ids, "text": pa.array(list(texts.values()), pa.string()),
                     "zz_extra": [f"x-{i}" for i in ids]})


def reasons(res) -> Counter:
    return Counter(res.dropped.column("reason").to_pylist()) if res.dropped is not None else Counter()


def test_identifies_six_languages_and_passes_columns_through() -> None:
    res = LanguageId()(table(SENTENCES))
    assert res.dropped is None  # keep is empty: annotate only
    assert dict(zip(res.kept.column("id").to_pylist(), res.kept.column("language").to_pylist())) == {
        k: k for k in SENTENCES}
    scores = res.kept.column("language_score").to_pylist()
    assert all(0.65 < s <= 1.0 for s in scores)
    assert res.kept.column("zz_extra").to_pylist() == [f"x-{k}" for k in SENTENCES]
    assert "language_topk" not in res.kept.column_names


def test_keep_and_min_score_with_exact_drop_counts() -> None:
    texts = dict(SENTENCES)
    texts["en_short"] = "ok"  # too little text for a confident guess
    texts["blank"] = "  \n\t "
    texts["none"] = None
    res = LanguageId({"keep": ["en", "zh", "ja"], "min_score": 0.65})(table(texts))
    assert res.kept.column("id").to_pylist() == ["en", "zh", "ja"]
    assert reasons(res) == Counter({"language_not_kept": 3, "empty_text": 2, "language_score_below_threshold": 1})
    dropped = {r["id"]: r for r in res.dropped.to_pylist()}
    assert dropped["ar"]["reason"] == "language_not_kept" and dropped["ar"]["detail"].startswith("ar ")
    assert dropped["en_short"]["language"] == "en" and "< min_score 0.65" in dropped["en_short"]["detail"]
    assert dropped["blank"]["language"] == "und" and dropped["blank"]["language_score"] == 0.0
    strict = LanguageId({"keep": ["en", "zh", "ja", "ar", "de", "fr"], "min_score": 0.9999})(table(SENTENCES))
    assert sum(reasons(strict).values()) + strict.kept.num_rows == 6
    assert set(reasons(strict)) <= {"language_score_below_threshold"}


def test_empty_text_is_defined_and_can_be_kept() -> None:
    res = LanguageId({"keep": ["und", "en"]})(table({"e": "", "n": None, "en": SENTENCES["en"]}))
    assert res.kept.column("language").to_pylist() == ["und", "und", "en"]
    assert res.kept.column("language_score").to_pylist()[:2] == [0.0, 0.0]


def test_top_k_newlines_and_max_chars() -> None:
    mixed = SENTENCES["en"] + "\n\n" + "\n".join([SENTENCES["zh"]] * 20)
    res = LanguageId({"top_k": 3})(table({"m": mixed}))
    assert res.kept.column("language")[0].as_py() == "zh"
    topk = res.kept.column("language_topk")[0].as_py()
    assert len(topk) == 3 and topk[0]["label"] == "zh" and topk[0]["score"] >= topk[1]["score"] >= topk[2]["score"]
    head = LanguageId({"max_chars": len(SENTENCES["en"])})(table({"m": mixed}))
    assert head.kept.column("language")[0].as_py() == "en"


def test_qwen3_preset_and_label_validation() -> None:
    assert len(QWEN3_LANGUAGES) == 119
    assert len(qwen3_missing()) == 13 and "Faroese" in qwen3_missing()
    assert {"zh", "ja", "ar", "en", "yue", "arz"} <= set(qwen3_labels())
    res = LanguageId({"keep": ["qwen3"]})(table(SENTENCES))
    assert res.kept.num_rows == 6
    with pytest.raises(ValidationError, match="did you mean en"):
        LanguageId({"keep": ["eng"]})
    with pytest.raises(ValidationError):
        LanguageId({"min_score": 1.5})


def test_model_path_checksum_and_missing_file(tmp_path) -> None:
    ok = LanguageId({"model_path": MODEL, "keep": ["fr"]})(table({"fr": SENTENCES["fr"]}))
    assert ok.kept.num_rows == 1
    with pytest.raises(StageError, match="sha256"):
        LanguageId({"model_path": MODEL, "model_sha256": "0" * 64}).setup()
    with pytest.raises(StageError, match="not a file"):
        LanguageId({"model_path": str(tmp_path / "missing.ftz")}).setup()


def test_one_call_per_text_fallback_matches_batched() -> None:
    batched = LanguageId({"top_k": 2})
    batched.ensure_setup()
    single = pickle.loads(pickle.dumps(LanguageId({"top_k": 2})))
    single.ensure_setup()
    single._batched = False  # as with the prediction-only fasttext module (fasttext-predict)
    a = batched(table(SENTENCES)).kept
    b = single(table(SENTENCES)).kept
    assert a.column("language").to_pylist() == b.column("language").to_pylist()
    assert a.column("language_score").to_pylist() == pytest.approx(b.column("language_score").to_pylist(), abs=1e-6)
    assert batched.versions()["langid_model"] == "lid.176.ftz"


def test_empty_batch() -> None:
    res = LanguageId({"keep": ["en"], "top_k": 2})(table({}))
    assert res.kept.num_rows == 0 and {"language", "language_score", "language_topk"} <= set(res.kept.column_names)

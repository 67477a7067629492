"""qwen_tokenize_v1: the 46 Qwen2 reference cases, control tokens never from text, EOS, long documents, tokenizer.json."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import PARAGRAPHS, table
from dataforge import registry
from dataforge.stage import StageError

pytest.importorskip("tiktoken", reason="qwen_tokenize_v1 needs the 'tokenize' extra (tiktoken, dashscope)")
pytest.importorskip("dashscope", reason="the Qwen ranks ship in the 'dashscope' package (extra 'tokenize')")

from dataforge.stages.tokenize.qwen import QwenTokenize  # noqa: E402
from dataforge.stages.tokenize.vocab import QWEN_SPECIAL_TOKENS, qwen_ranks_path  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "tokenize" / "qwen2_reference_cases.json"
CASES = json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"]
EOT = 151643
MULTILINGUAL = [
    "Die Straße führt über die Brücke — seit 1999!\u00a0Schön.",
    "我们今天去公园散步，天气很好。孩子们在草地上玩耍。",
    "東京は日本の首都です。",
    "def f(x):\n    return x ** 2  # square\n\n\n",
    "emoji 😀🎉 and cafe\u0301 (decomposed) vs café",
    "   leading and trailing spaces   \t\n",
]


@pytest.fixture(scope="module")
def plain() -> QwenTokenize:
    """The stage without end-of-text, set up once."""
    stage = QwenTokenize(append_eos=False)
    stage.ensure_setup()
    return stage


def _batch(texts: list[str | None]) -> pa.Table:
    return table([{"id": f"t{i}", "text": t} for i, t in enumerate(texts)])


def test_reference_cases_exact(plain: QwenTokenize) -> None:
    assert len(CASES) == 46
    out = plain(_batch([c["text"] for c in CASES])).kept
    got = out.column("tokens").to_pylist()
    for case, ids in zip(CASES, got):
        assert ids == case["expected_ids"], case["text"]
    assert out.column("n_tokens").to_pylist() == [len(c["expected_ids"]) for c in CASES]
    assert out.schema.field("tokens").type == pa.list_(pa.uint32())


def test_hello_world_and_end_of_text() -> None:
    out = QwenTokenize()(_batch(["Hello world", "", None])).kept
    assert out.column("tokens").to_pylist() == [[9707, 1879, EOT], [EOT], [EOT]]
    assert out.column("n_tokens").to_pylist() == [3, 1, 1]


@pytest.mark.parametrize("name", sorted(QWEN_SPECIAL_TOKENS))
def test_control_token_text_is_plain_text(plain: QwenTokenize, name: str) -> None:
    ids = plain.encode([f"before {name} after{name}"])[0]
    assert ids and max(ids) < EOT, f"{name} became a control token"
    assert plain.encode([name])[0] == plain._enc.encode_ordinary(name)


def test_control_tokens_cover_qwen25_and_qwen3() -> None:
    assert QWEN_SPECIAL_TOKENS["<|endoftext|>"] == 151643
    assert QWEN_SPECIAL_TOKENS["<|im_start|>"] == 151644 and QWEN_SPECIAL_TOKENS["<|im_end|>"] == 151645
    assert QWEN_SPECIAL_TOKENS["<|file_sep|>"] == 151664
    assert QWEN_SPECIAL_TOKENS["<think>"] == 151667 and QWEN_SPECIAL_TOKENS["</think>"] == 151668
    assert sorted(QWEN_SPECIAL_TOKENS.values()) == list(range(151643, 151669))


def test_nfc_first(plain: QwenTokenize) -> None:
    assert plain.encode(["cafe\u0301"]) == plain.encode(["café"])


def test_long_documents_in_pieces_keep_their_ids(plain: QwenTokenize) -> None:
    long_docs = ["\n\n".join(PARAGRAPHS * 12), " ".join(MULTILINGUAL * 60), "word " * 5000]
    cut = QwenTokenize(append_eos=False, max_chars_per_call=1000)
    assert all(len(d) > 5000 for d in long_docs)
    assert cut.encode(long_docs) == plain.encode(long_docs)
    # a stretch with nowhere safe to cut is cut hard: bounded, every character still encoded
    ids = cut.encode(["x" * 5000])[0]
    assert plain._enc.decode(ids) == "x" * 5000


def test_a_huge_document(plain: QwenTokenize) -> None:
    text = ("\n\n".join(PARAGRAPHS) + " ") * 4000  # ~3.5 MB: encoded in pieces of 1,000,000 characters
    assert len(text) > 3_000_000
    out = QwenTokenize()(_batch([text, "Hello world"])).kept
    ids = out.column("tokens")[0].as_py()
    assert ids[-1] == EOT and out.column("n_tokens")[0].as_py() == len(ids)
    assert ids[:-1] == plain._enc.encode_ordinary(text)
    assert out.column("tokens")[1].as_py() == [9707, 1879, EOT]


def test_extra_columns_empty_batch_and_rerun() -> None:
    stage = QwenTokenize()
    empty = stage(_batch([])).kept
    assert empty.num_rows == 0
    t = _batch(MULTILINGUAL).append_column("keep", pa.array(range(len(MULTILINGUAL))))
    once = stage(t).kept
    assert once.column("keep").to_pylist() == list(range(len(MULTILINGUAL)))
    twice = stage(once).kept
    assert twice.column_names.count("tokens") == 1
    assert twice.column("tokens").to_pylist() == once.column("tokens").to_pylist()
    for ids, n in zip(once.column("tokens").to_pylist(), once.column("n_tokens").to_pylist()):
        assert len(ids) == n and ids[-1] == EOT and max(ids[:-1]) < EOT


def test_threads_give_the_same_ids(plain: QwenTokenize) -> None:
    threaded = QwenTokenize(append_eos=False, num_threads=2)
    assert threaded.encode(MULTILINGUAL * 3) == plain.encode(MULTILINGUAL * 3)


def test_registered_picklable_and_versioned() -> None:
    assert registry.get("qwen_tokenize_v1") is QwenTokenize
    stage = QwenTokenize()
    clone = pickle.loads(pickle.dumps(stage))
    assert clone(_batch(["Hello world"])).kept.column("tokens")[0].as_py() == [9707, 1879, EOT]
    assert stage.versions()["qwen_ranks_sha256"].startswith("b2b1b8df")
    assert qwen_ranks_path().name == "qwen.tiktoken"


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="not both"):
        QwenTokenize(tokenizer_json="a.json", ranks_path="b.tiktoken")
    with pytest.raises(ValueError):
        QwenTokenize(max_chars_per_call=10)
    with pytest.raises(ValueError):
        QwenTokenize(unknown=1)


def test_missing_dashscope_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from dataforge.stages.tokenize import vocab

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install 'dataforge\\[tokenize\\]'"):
        vocab.qwen_ranks_path()


# -- a Hugging Face tokenizer.json instead of the ranks -------------------------------------


@pytest.fixture(scope="module")
def qwen_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Qwen's tokenizer.json converted offline from the dashscope ranks."""
    pytest.importorskip("tokenizers", reason="tokenizer_json needs the 'tokenizers' package")
    from dataforge.stages.tokenize.convert import write_qwen_tokenizer_json

    return write_qwen_tokenizer_json(tmp_path_factory.mktemp("qwen") / "tokenizer.json")


def test_tokenizer_json_reproduces_the_reference_cases(qwen_json: Path, plain: QwenTokenize) -> None:
    stage = QwenTokenize(tokenizer_json=str(qwen_json))
    out = stage(_batch([c["text"] for c in CASES] + MULTILINGUAL)).kept
    got = out.column("tokens").to_pylist()
    for case, ids in zip(CASES, got):
        assert ids == case["expected_ids"] + [EOT], case["text"]
    assert [ids[:-1] for ids in got[len(CASES):]] == plain.encode(MULTILINGUAL)


def test_tokenizer_json_never_matches_added_tokens(qwen_json: Path) -> None:
    stage = QwenTokenize(tokenizer_json=str(qwen_json), append_eos=False)
    for name in QWEN_SPECIAL_TOKENS:
        ids = stage.encode([f"x {name} y"])[0]
        assert max(ids) < EOT, name


def test_tokenizer_json_errors_name_the_fix(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers", reason="tokenizer_json needs the 'tokenizers' package")
    with pytest.raises(StageError, match="does not exist"):
        QwenTokenize(tokenizer_json=str(tmp_path / "missing.json")).ensure_setup()
    tiny = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 3, "content": "</s>", "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True}],
        "normalizer": None, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None, "decoder": None,
        "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1, "world": 2, "</s>": 3}, "unk_token": "[UNK]"},
    }
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(tiny))
    with pytest.raises(StageError, match="eos_token"):
        QwenTokenize(tokenizer_json=str(path)).ensure_setup()
    out = QwenTokenize(tokenizer_json=str(path), eos_token="</s>")(_batch(["hello world", "hello </s>"])).kept
    assert out.column("tokens").to_pylist() == [[1, 2, 3], [1, 0, 0, 0, 3]]  # "</s>" in text is not the control token

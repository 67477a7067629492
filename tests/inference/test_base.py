"""The backend interface: chat rendering, sampling params, engine configs and their validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from dataforge.inference.base import (
    BackendConfig,
    ChatMessage,
    EchoConfig,
    HttpConfig,
    SamplingParams,
    TransformersConfig,
    VllmConfig,
    make_backend,
    render_chat,
    row_seed,
)


def test_render_chat_is_qwen_format() -> None:
    msgs = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="2+2?")]
    assert render_chat(msgs) == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
                                 "<|im_start|>assistant\n")
    assert render_chat([{"role": "user", "content": "x"}], add_generation_prompt=False) == "<|im_start|>user\nx<|im_end|>\n"


def test_sampling_params_validate() -> None:
    assert SamplingParams().n == 1
    with pytest.raises(ValidationError):
        SamplingParams(temperature=-1)
    with pytest.raises(ValidationError):
        SamplingParams(topp=0.5)  # unknown key


def test_row_seed_depends_on_seed_and_id_only() -> None:
    assert row_seed(1, "a") == row_seed(1, "a")
    assert len({row_seed(1, "a"), row_seed(2, "a"), row_seed(1, "b"), row_seed(1, "a", 1)}) == 4
    assert row_seed(None, "a") is None


def test_engine_switch_is_one_key(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    adapter = TypeAdapter(BackendConfig)
    assert isinstance(adapter.validate_python({"engine": "transformers", "model": str(tmp_path)}), TransformersConfig)
    assert isinstance(adapter.validate_python({"engine": "vllm", "model": str(tmp_path)}), VllmConfig)
    assert isinstance(adapter.validate_python({"engine": "http", "base_url": "http://h:1/v1", "model": "m"}), HttpConfig)
    assert isinstance(adapter.validate_python({"engine": "echo"}), EchoConfig)


def test_missing_model_path_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        TypeAdapter(BackendConfig).validate_python({"engine": "transformers", "model": str(tmp_path / "nope")})
    msg = str(err.value)
    assert "model" in msg and "does not exist" in msg and "nothing is downloaded" in msg
    with pytest.raises(ValidationError, match="no config.json"):
        VllmConfig(model=str(tmp_path))


def test_make_backend_echo() -> None:
    b = make_backend({"engine": "echo"})
    out = b.generate(["one two three"], SamplingParams(n=2, max_tokens=2))
    assert [c.text for c in out[0]] == ["one two", "one two"] and out[0][0].finish_reason == "length"
    assert b.score([("a b", "a b"), ("a", "c")]) == [1.0, 0.0]

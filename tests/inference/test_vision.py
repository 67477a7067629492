"""Images as chat content: parts, Qwen-VL rendering, OpenAI image_url parts, and a real tiny Qwen2.5-VL on CPU."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import ValidationError

from dataforge.inference.base import (
    QWEN_VL_IMAGE,
    ChatMessage,
    ImagePart,
    SamplingParams,
    TextPart,
    TransformersConfig,
    as_messages,
    make_backend,
    prompt_images,
    render_chat,
)
from tiny_models import tiny

PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def _png(text: str, width: int = 300, height: int = 160) -> bytes:
    """A PNG of ``text`` drawn by pymupdf (different text, different pixels)."""
    pymupdf = pytest.importorskip("pymupdf")
    doc = pymupdf.open()
    page = doc.new_page(width=width, height=height)
    page.insert_text((20, 80), text, fontsize=18)
    return page.get_pixmap(dpi=72).tobytes("png")


def _page(png: bytes, text: str = "Read the page.") -> list[ChatMessage]:
    return [ChatMessage(role="user", content=[ImagePart(image=png), TextPart(text=text)])]


def test_parts_render_as_qwen_vl_placeholders_and_openai_image_urls() -> None:
    msgs = [ChatMessage(role="system", content="Be exact."), *_page(PNG_1x1)]
    assert render_chat(msgs) == ("<|im_start|>system\nBe exact.<|im_end|>\n<|im_start|>user\n"
                                 "<|vision_start|><|image_pad|><|vision_end|>Read the page.<|im_end|>\n"
                                 "<|im_start|>assistant\n")
    wire = as_messages(msgs)
    assert wire[0] == {"role": "system", "content": "Be exact."}
    assert wire[1]["content"][0] == {"type": "image_url",
                                     "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG_1x1).decode()}}
    assert wire[1]["content"][1] == {"type": "text", "text": "Read the page."}
    assert [p.to_bytes() for p in prompt_images(msgs)] == [PNG_1x1] and prompt_images("text") == []


def test_openai_style_dicts_and_data_uris_are_accepted() -> None:
    uri = "data:image/jpeg;base64,/9j/AAAA"
    m = ChatMessage(role="user", content=[{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": uri}},
                                          {"type": "image", "image": PNG_1x1}])
    assert [type(p) for p in m.content] == [TextPart, ImagePart, ImagePart]
    assert m.content[1].mime == "image/jpeg" and m.content[1].data_uri() == uri and m.content[2].mime == "image/png"
    assert m.text == "a" + QWEN_VL_IMAGE * 2
    assert render_chat([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}}, "b"]}]) == (
        f"<|im_start|>user\n{QWEN_VL_IMAGE}b<|im_end|>\n<|im_start|>assistant\n")
    assert ChatMessage(role="user", content="plain").content == "plain"  # text messages are unchanged


def test_bad_images_are_validation_errors_that_say_what_to_give() -> None:
    with pytest.raises(ValidationError, match="nothing is downloaded"):
        ImagePart(image="https://example.com/page.png")
    with pytest.raises(ValidationError, match="not a PNG/JPEG"):
        ImagePart(image=b"%PDF-1.7 not an image")


def test_echo_backend_answers_with_the_text_part() -> None:
    out = make_backend({"engine": "echo"}).generate([_page(PNG_1x1, "one two three")], SamplingParams())
    assert out[0][0].text == "one two three"


@pytest.fixture(scope="module")
def vl(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("torch")
    b = make_backend(TransformersConfig(model=str(tiny(tmp_path_factory, "vl")), device="cpu"))
    yield b
    b.close()


def test_tiny_qwen25_vl_is_built_offline_with_the_vision_tokens(vl, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = Path(tiny(tmp_path_factory, "vl"))
    assert (folder / "preprocessor_config.json").is_file() and vl.is_vision
    assert type(vl.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert vl.tokenizer.convert_tokens_to_ids(["<|vision_start|>", "<|image_pad|>", "<|vision_end|>"]) == [
        151652, 151655, 151653]
    assert vl.model.config.image_token_id == 151655
    assert vl.tokenizer("Hello world", add_special_tokens=False)["input_ids"] == [9707, 1879]


def test_images_reach_the_vision_tower(vl) -> None:
    params = SamplingParams(max_tokens=6, temperature=1.0, top_p=1.0, seed=5)
    a, b = _png("The quick brown fox"), _png("Lorem ipsum dolor sit", width=200, height=300)
    before = dict(vl.stats)
    out = vl.generate([_page(a), _page(a), _page(b), "text only"], params, keys=["k", "k", "k", "k"])
    assert all(s[0].error is None and s[0].n_tokens > 0 for s in out)
    assert out[0][0].n_image_tokens > 0 and out[3][0].n_image_tokens == 0
    assert out[0][0].n_prompt_tokens > out[0][0].n_image_tokens  # the instruction and chat tokens are there too
    assert out[0][0].text == out[1][0].text  # same image, same key: same text
    assert out[2][0].n_image_tokens != out[0][0].n_image_tokens  # a differently shaped page, another patch grid
    assert vl.stats["images"] - before["images"] == 3 and vl.stats["prompts"] - before["prompts"] == 4
    # the pixels change the model's output under the same seed
    same_shape = _png("Completely different words")
    logits = []
    import torch

    for png in (a, same_shape):
        text, pixels, _ = vl._vision_inputs(render_chat(_page(png)), [ImagePart(image=png)])  # noqa: SLF001
        ids = vl.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits.append(vl.model(input_ids=ids, **pixels).logits[0, -1])
    assert not torch.allclose(logits[0], logits[1])


def test_image_rows_fail_alone_with_reasons(vl, tmp_path_factory: pytest.TempPathFactory) -> None:
    params = SamplingParams(max_tokens=3, seed=0)
    not_png = ImagePart(image=b"\x89PNG\r\n\x1a\n" + b"truncated")
    out = vl.generate([[ChatMessage(role="user", content=[not_png, "read"])], "fine"], params)
    assert "cannot be decoded" in out[0][0].error and out[1][0].error is None
    small = make_backend(TransformersConfig(model=str(tiny(tmp_path_factory, "vl")), device="cpu", max_input_tokens=16))
    c = small.generate([_page(_png("long page"))], params)[0][0]
    assert c.finish_reason == "error" and "never cut" in c.error and "max_input_tokens=16" in c.error
    text_lm = make_backend(TransformersConfig(model=str(tiny(tmp_path_factory)), device="cpu"))
    c = text_lm.generate([_page(PNG_1x1)], params)[0][0]
    assert "has no vision tower" in c.error and "Qwen2.5-VL" in c.error

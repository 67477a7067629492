"""The inference interface every engine implements: sampling params, chat prompts, completions, backends.

One pipeline file runs on any engine by changing ``engine`` in its backend config::

    backend: {engine: transformers, model: /models/qwen2.5-7b-instruct}
    backend: {engine: http, base_url: "http://gpu-box:8000/v1", model: qwen2.5-7b-instruct}
    backend: {engine: vllm, model: /models/qwen2.5-72b-instruct, tensor_parallel_size: 4}

Everything here is light: engines import torch, transformers, httpx or vllm only when a
backend is made (``make_backend``), which stages do in ``setup()``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, Union, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Qwen's chat control tokens.
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
ENDOFTEXT = "<|endoftext|>"
GENERATION_PROMPT = f"{IM_START}assistant\n"


class _Strict(BaseModel):
    """Base for inference configs: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class SamplingParams(_Strict):
    """Generation parameters declared in the pipeline (defaults: Qwen2.5-Instruct's generation_config)."""

    temperature: float = Field(0.7, ge=0.0, description="0 means greedy decoding")
    top_p: float = Field(0.8, gt=0.0, le=1.0)
    max_tokens: int = Field(512, gt=0, description="new tokens per completion")
    seed: int | None = Field(0, description="base seed; each row samples with a seed derived from (seed, id)")
    n: int = Field(1, ge=1, le=64, description="completions per prompt")
    stop: list[str] = Field(default_factory=list, description="stop strings (the chat end token always stops)")
    timeout_s: float = Field(120.0, gt=0, description="per request; a timed-out row is quarantined")


#: Qwen2-VL / Qwen2.5-VL image placeholder in chat text (their processors expand ``<|image_pad|>`` to pixels).
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
QWEN_VL_IMAGE = f"{VISION_START}{IMAGE_PAD}{VISION_END}"

_DATA_URI = re.compile(r"^data:(image/[A-Za-z0-9.+-]+);base64,", re.ASCII)
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"),
          (b"RIFF", "image/webp"))


class TextPart(_Strict):
    """A text part of a multi-part message."""

    type: Literal["text"] = "text"
    text: str


class ImagePart(_Strict):
    """An image part of a multi-part message: encoded image bytes (PNG, JPEG, ...) or a ``data:image/...;base64,`` URI.

    Nothing is fetched at run time, so remote URLs are not accepted: give the bytes.
    """

    type: Literal["image"] = "image"
    image: bytes | str = Field(description="PNG/JPEG bytes, or a data:image/...;base64, URI")

    @field_validator("image")
    @classmethod
    def _encoded_image(cls, v: bytes | str) -> bytes | str:
        """Bytes must start like an image file; a string must be a base64 image data URI."""
        if isinstance(v, str):
            if not _DATA_URI.match(v):
                raise ValueError(f"image {v[:40]!r}... is not a data:image/<type>;base64, URI; give the image bytes "
                                 "(nothing is downloaded at run time)")
        elif not any(v.startswith(magic) for magic, _ in _MAGIC):
            raise ValueError(f"image bytes start with {v[:8]!r}, not a PNG/JPEG/GIF/WebP header; give encoded image "
                             "file bytes (e.g. pymupdf Pixmap.tobytes('png'))")
        return v

    @property
    def mime(self) -> str:
        """The image's media type (``image/png``, ...)."""
        if isinstance(self.image, str):
            m = _DATA_URI.match(self.image)
            return m.group(1) if m else "image/png"
        return next((mime for magic, mime in _MAGIC if self.image.startswith(magic)), "image/png")

    def data_uri(self) -> str:
        """The image as a ``data:`` URI (what OpenAI-compatible servers take as ``image_url``)."""
        if isinstance(self.image, str):
            return self.image
        return f"data:{self.mime};base64," + base64.b64encode(self.image).decode("ascii")

    def to_bytes(self) -> bytes:
        """The encoded image file bytes."""
        if isinstance(self.image, bytes):
            return self.image
        return base64.b64decode(self.image.split(",", 1)[1])


ContentPart = Annotated[Union[TextPart, ImagePart], Field(discriminator="type")]


def _part(value: Any) -> Any:
    """One content part from what callers write: a part, a str, or an OpenAI-style dict (``image_url`` included)."""
    if isinstance(value, (TextPart, ImagePart)):
        return value
    if isinstance(value, str):
        return TextPart(text=value)
    if isinstance(value, dict) and value.get("type") == "image_url":
        url = value.get("image_url")
        return ImagePart(image=url.get("url", "") if isinstance(url, dict) else (url or ""))
    if isinstance(value, dict) and value.get("type") == "input_text":
        return TextPart(text=value.get("text", ""))
    return value


class ChatMessage(_Strict):
    """One message of a chat prompt: text, or a list of text and image parts (vision-language models)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: Union[str, list[ContentPart]]

    @field_validator("content", mode="before")
    @classmethod
    def _parts(cls, v: Any) -> Any:
        """Accept OpenAI-style part dicts (``{"type": "image_url", "image_url": {"url": ...}}``) as well as ours."""
        return [_part(x) for x in v] if isinstance(v, list) else v

    @property
    def images(self) -> list[ImagePart]:
        """The message's image parts, in order."""
        return [] if isinstance(self.content, str) else [p for p in self.content if isinstance(p, ImagePart)]

    @property
    def text(self) -> str:
        """The message as text, each image as Qwen-VL's placeholder."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text if isinstance(p, TextPart) else QWEN_VL_IMAGE for p in self.content)


Prompt = Union[list[ChatMessage], str]


def _message(m: ChatMessage | dict[str, Any]) -> ChatMessage:
    """A ChatMessage from a ChatMessage or a ``{role, content}`` dict."""
    return m if isinstance(m, ChatMessage) else ChatMessage(role=m["role"], content=m["content"])


def render_chat(messages: list[ChatMessage] | list[dict[str, Any]], add_generation_prompt: bool = True) -> str:
    """Render messages in the Qwen chat format (images as ``<|vision_start|><|image_pad|><|vision_end|>``), ending with the assistant generation prompt."""
    parts = []
    for m in messages:
        if isinstance(m, dict) and isinstance(m.get("content"), str):
            role, content = m["role"], m["content"]
        else:
            msg = _message(m)
            role, content = msg.role, msg.text
        parts.append(f"{IM_START}{role}\n{content}{IM_END}\n")
    if add_generation_prompt:
        parts.append(GENERATION_PROMPT)
    return "".join(parts)


def prompt_text(prompt: Prompt | list[dict[str, Any]]) -> str:
    """A prompt as the raw text a model sees: chat messages rendered, a plain string as is."""
    return prompt if isinstance(prompt, str) else render_chat(prompt)


def prompt_images(prompt: Prompt | list[dict[str, Any]]) -> list[ImagePart]:
    """The prompt's images in the order their placeholders appear in ``prompt_text``."""
    if isinstance(prompt, str):
        return []
    out: list[ImagePart] = []
    for m in prompt:
        if isinstance(m, dict) and isinstance(m.get("content"), str):
            continue
        out += _message(m).images
    return out


def as_messages(prompt: Prompt | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages as OpenAI-style dicts (a plain string becomes one user message; images become ``image_url`` data URIs)."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    out: list[dict[str, Any]] = []
    for m in prompt:
        if isinstance(m, dict) and isinstance(m.get("content"), str):
            out.append(m)
            continue
        msg = _message(m)
        if isinstance(msg.content, str):
            out.append({"role": msg.role, "content": msg.content})
            continue
        out.append({"role": msg.role, "content": [
            {"type": "text", "text": p.text} if isinstance(p, TextPart)
            else {"type": "image_url", "image_url": {"url": p.data_uri()}}
            for p in msg.content]})
    return out


def row_seed(seed: int | None, key: str, index: int = 0) -> int | None:
    """A 31-bit seed for one row (and sample index) derived from the base seed and the row's id."""
    if seed is None:
        return None
    digest = hashlib.sha256(f"{seed}\x00{key}\x00{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@dataclass
class Completion:
    """One generated completion; ``error`` is set (and ``text`` empty) when that row failed."""

    text: str
    finish_reason: str = "stop"  # stop | length | timeout | error
    n_prompt_tokens: int = 0
    n_tokens: int = 0
    error: str | None = None
    n_image_tokens: int = 0  # prompt tokens that stand for image pixels (vision-language models)

    @classmethod
    def failed(cls, error: str, reason: str = "error") -> "Completion":
        """A completion standing for a failed request."""
        return cls(text="", finish_reason=reason, error=error)


@runtime_checkable
class Backend(Protocol):
    """An inference engine: generation, (prompt, response) scoring, and cleanup.

    Errors are per row: a failed prompt yields completions with ``error`` set (a failed score is
    NaN and ``last_score_errors`` says why), never an exception for one bad row.
    """

    model_id: str

    def generate(self, prompts: list[list[ChatMessage]] | list[str], params: SamplingParams,
                 keys: list[str] | None = None) -> list[list[Completion]]:
        """``params.n`` completions per prompt; ``keys`` (row ids) derive per-row seeds.

        Messages may carry images (``ImagePart``) for vision-language models; an engine or model
        without image input fails those rows with an error saying so.
        """
        ...

    def score(self, pairs: list[tuple[str, str]]) -> list[float]:
        """One scalar per (prompt, response) pair from a reward or classifier model."""
        ...

    def close(self) -> None:
        """Release the model, connections and workers."""
        ...


def _local_model(value: str, engine: str) -> str:
    """Check a model is a local folder (no downloads at run time) and return it."""
    p = Path(value).expanduser()
    if not p.is_dir():
        raise ValueError(
            f"model path {value!r} does not exist (engine {engine}); give a local folder with config.json "
            "and weights (save_pretrained / huggingface-cli download --local-dir), nothing is downloaded at run time"
        )
    if not (p / "config.json").is_file():
        raise ValueError(f"model folder {value!r} has no config.json; point model at the folder save_pretrained wrote")
    return str(p)


class TransformersConfig(_Strict):
    """Hugging Face transformers on CPU or one GPU: small models and tests."""

    engine: Literal["transformers"] = "transformers"
    model: str = Field(description="local folder written by save_pretrained (causal LM or sequence classifier)")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: int = Field(8, gt=0, description="prompts per forward pass")
    max_input_tokens: int = Field(4096, gt=0, description="longer prompts are cut from the left")
    threads: int | None = Field(None, gt=0, description="torch CPU threads (default: torch's)")

    @field_validator("model")
    @classmethod
    def _exists(cls, v: str) -> str:
        return _local_model(v, "transformers")


class HttpConfig(_Strict):
    """An OpenAI-compatible server someone already runs (vLLM, SGLang, ``dataforge.inference.server``)."""

    engine: Literal["http"] = "http"
    base_url: str = Field(pattern=r"^https?://", description="e.g. http://localhost:8000/v1")
    model: str = Field(description="the served model name")
    api: Literal["chat", "completions"] = Field("chat", description="/chat/completions or /completions")
    score_route: str = Field("/score", description="route for reward/classifier scores, under base_url")
    api_key_env: str | None = Field(None, description="environment variable holding the API key")
    concurrency: int = Field(32, gt=0, description="requests in flight")
    max_retries: int = Field(4, ge=0, description="retries on 429, 5xx and connection errors")
    backoff_s: float = Field(0.5, ge=0, description="first retry delay; doubles each retry")
    connect_timeout_s: float = Field(10.0, gt=0)


class VllmConfig(_Strict):
    """vLLM on GPU workers through Ray Data LLM (``ray.data.llm.build_processor``)."""

    engine: Literal["vllm"] = "vllm"
    model: str = Field(description="local model folder on every GPU node")
    task: Literal["generate", "classify"] = Field(
        "generate", description="generate: a causal LM; classify: a reward/classifier head (scores)")
    tensor_parallel_size: int = Field(1, ge=1)
    pipeline_parallel_size: int = Field(1, ge=1)
    concurrency: int | tuple[int, int] = Field(1, description="vLLM replicas (or an autoscaling (min, max))")
    batch_size: int = Field(64, gt=0, description="rows per request batch sent to one engine")
    max_model_len: int | None = Field(None, gt=0)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    accelerator_type: str | None = Field(None, description='e.g. "H100"')
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="passed to vLLM's engine as is")

    @field_validator("model")
    @classmethod
    def _exists(cls, v: str) -> str:
        return _local_model(v, "vllm")


class EchoConfig(_Strict):
    """No model: answers with the prompt's last user message (dry runs of templates and plumbing)."""

    engine: Literal["echo"] = "echo"
    model: str = Field("echo", description="the name recorded as the model")


BackendConfig = Annotated[Union[TransformersConfig, HttpConfig, VllmConfig, EchoConfig], Field(discriminator="engine")]


def make_backend(config: TransformersConfig | HttpConfig | VllmConfig | EchoConfig | dict[str, Any]) -> Backend:
    """Build the backend an engine config names (imports the engine's libraries now)."""
    if isinstance(config, dict):
        from pydantic import TypeAdapter

        config = TypeAdapter(BackendConfig).validate_python(config)
    if isinstance(config, TransformersConfig):
        from dataforge.inference.transformers_backend import TransformersBackend

        return TransformersBackend(config)
    if isinstance(config, HttpConfig):
        from dataforge.inference.http_backend import HttpBackend

        return HttpBackend(config)
    if isinstance(config, VllmConfig):
        from dataforge.inference.vllm_backend import VllmBackend

        return VllmBackend(config)
    if isinstance(config, EchoConfig):
        from dataforge.inference.echo_backend import EchoBackend

        return EchoBackend(config)
    raise TypeError(f"unknown backend config {type(config).__name__}; use engine: transformers, http, vllm or echo")

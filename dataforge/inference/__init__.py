"""Inference backends (transformers, OpenAI-compatible HTTP, vLLM on Ray Data) behind one interface."""

from dataforge.inference.base import (
    Backend,
    BackendConfig,
    ChatMessage,
    Completion,
    EchoConfig,
    HttpConfig,
    ImagePart,
    QWEN_VL_IMAGE,
    SamplingParams,
    TextPart,
    TransformersConfig,
    VllmConfig,
    make_backend,
    prompt_images,
    render_chat,
)

__all__ = [
    "Backend", "BackendConfig", "ChatMessage", "Completion", "EchoConfig", "HttpConfig", "ImagePart", "QWEN_VL_IMAGE",
    "SamplingParams", "TextPart", "TransformersConfig", "VllmConfig", "make_backend", "prompt_images", "render_chat",
]

"""Inference backends (transformers, OpenAI-compatible HTTP, vLLM on Ray Data) behind one interface."""

from dataforge.inference.base import (
    Backend,
    BackendConfig,
    ChatMessage,
    Completion,
    EchoConfig,
    HttpConfig,
    SamplingParams,
    TransformersConfig,
    VllmConfig,
    make_backend,
    render_chat,
)

__all__ = [
    "Backend", "BackendConfig", "ChatMessage", "Completion", "EchoConfig", "HttpConfig", "SamplingParams",
    "TransformersConfig", "VllmConfig", "make_backend", "render_chat",
]

"""Helpers of the LLM stage tests: a deterministic fake inference Backend (implements dataforge.inference.base.Backend) for parse-success paths."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from dataforge.inference.base import Completion, SamplingParams, prompt_text


class FakeBackend:
    """Answers each prompt with ``reply(prompt_text)``; records what it was asked."""

    model_id = "fake-model"

    def __init__(self, reply: Callable[[str], str | Completion]) -> None:
        self.reply = reply
        self.prompts: list[str] = []
        self.keys: list[str] = []
        self.params: list[SamplingParams] = []

    def generate(self, prompts, params: SamplingParams, keys=None):  # noqa: ANN001 - the Backend protocol
        out = []
        for i, p in enumerate(prompts):
            text = p if isinstance(p, str) else prompt_text(p)
            self.prompts.append(text)
            self.keys.append(keys[i] if keys else str(i))
            self.params.append(params)
            r = self.reply(text)
            out.append([r if isinstance(r, Completion) else Completion(text=r)] * params.n)
        return out

    def score(self, pairs):  # noqa: ANN001
        return [0.0] * len(pairs)

    def close(self) -> None:
        pass


def with_backend(stage, backend: FakeBackend):  # noqa: ANN001, ANN201
    """Set a stage up, then swap its backend for the fake (setup's own checks still run)."""
    import re

    from dataforge.stages.synth.llm_annotate import load_template

    if hasattr(stage.params, "template"):
        stage._template = load_template(stage.params.template)  # noqa: SLF001

    if hasattr(stage.params, "score_pattern"):
        stage._pattern = re.compile(stage.params.score_pattern)  # noqa: SLF001
    stage._backend = backend  # noqa: SLF001
    stage._ready = True  # noqa: SLF001
    return stage


@pytest.fixture(scope="session")
def tiny_causal_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 causal LM with the real Qwen tokenizer (its text is noise), built offline."""
    pytest.importorskip("transformers")
    pytest.importorskip("torch")
    from dataforge.inference.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-causal"), kind="causal", hidden=32, seed=0)


class ChatServer:
    """A local OpenAI-compatible ``/v1/chat/completions`` stub answering ``reply(messages)`` (for the real HTTP backend)."""

    def __init__(self, reply: Callable[[list[dict]], str]) -> None:
        self.reply = reply
        self.requests: list[dict] = []

    def __enter__(self) -> "ChatServer":
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                out = json.dumps({"choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": outer.reply(body["messages"])}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

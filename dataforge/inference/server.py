"""A small OpenAI-compatible server for a local transformers model (tests, benchmarks, demos).

    python -m dataforge.inference.server --model /models/tiny --port 8000 [--reward-model /models/rm]

Routes: ``GET /v1/models``, ``POST /v1/completions``, ``POST /v1/chat/completions`` (messages may
carry OpenAI ``image_url`` data-URI parts when the model is a vision-language folder) and, with a
reward/classifier model, ``POST /v1/score`` (vLLM's shape: ``text_1``/``text_2`` lists ->
``data[{index, score}]``). Requests run one at a time on the model (CPU generation gains
nothing from overlap); the queue is what a client must keep full to saturate the server.
Not a production server: use vLLM or SGLang for that.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time
import uuid
from typing import Any

from dataforge.inference.base import ChatMessage, SamplingParams, TransformersConfig


def make_app(model: str | None, reward_model: str | None = None, served_name: str = "tiny", threads: int | None = None) -> Any:
    """The FastAPI app serving ``model`` (generation) and optionally ``reward_model`` (scores)."""
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import JSONResponse

    from dataforge.inference.transformers_backend import TransformersBackend

    gen = TransformersBackend(TransformersConfig(model=model, device="cpu", threads=threads)) if model else None
    rm = TransformersBackend(TransformersConfig(model=reward_model, device="cpu", threads=threads)) if reward_model else None
    lock = threading.Lock()
    app = FastAPI(title="dataforge tiny OpenAI-compatible server")
    app.state.stats = {"requests": 0, "busy_s": 0.0, "completion_tokens": 0, "first": None, "last": None}

    def run_locked(fn: Any, *args: Any) -> Any:
        with lock:
            t0 = time.monotonic()
            try:
                return fn(*args)
            finally:
                s = app.state.stats
                s["busy_s"] += time.monotonic() - t0
                s["requests"] += 1
                s["first"] = s["first"] or t0
                s["last"] = time.monotonic()

    def sampling(body: dict[str, Any]) -> SamplingParams:
        stop = body.get("stop") or []
        return SamplingParams(
            temperature=float(body.get("temperature", 1.0)), top_p=float(body.get("top_p", 1.0)),
            max_tokens=int(body.get("max_tokens") or 16), n=int(body.get("n", 1)), seed=body.get("seed"),
            stop=[stop] if isinstance(stop, str) else list(stop),
        )

    async def complete(prompt: Any, body: dict[str, Any], chat: bool) -> dict[str, Any]:
        if gen is None:
            raise HTTPException(404, "this server has no generation model (start it with --model)")
        try:
            params = sampling(body)
        except Exception as exc:  # noqa: BLE001
            raise HTTPException(400, f"bad sampling parameters: {exc}") from None
        # the seed travels as the row key so a request reproduces exactly
        key = str(body.get("seed", "0"))
        outs = (await asyncio.to_thread(run_locked, gen.generate, [prompt], params.model_copy(update={"seed": 0}), [key]))[0]
        if any(c.error for c in outs):
            raise HTTPException(500, outs[0].error or "generation failed")
        n_tok = sum(c.n_tokens for c in outs)
        app.state.stats["completion_tokens"] += n_tok
        choices = [
            ({"index": i, "message": {"role": "assistant", "content": c.text}, "finish_reason": c.finish_reason}
             if chat else {"index": i, "text": c.text, "finish_reason": c.finish_reason})
            for i, c in enumerate(outs)
        ]
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()), "model": served_name, "choices": choices,
            "usage": {"prompt_tokens": outs[0].n_prompt_tokens, "completion_tokens": n_tok,
                      "total_tokens": outs[0].n_prompt_tokens + n_tok},
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": served_name, "object": "model"}]}

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return dict(app.state.stats)

    @app.post("/v1/completions")
    async def completions(body: dict[str, Any]) -> dict[str, Any]:
        prompt = body.get("prompt")
        if isinstance(prompt, list):
            if len(prompt) != 1:
                raise HTTPException(400, "send one prompt per request")
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise HTTPException(400, "prompt must be a string")
        return await complete(prompt, body, chat=False)

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]) -> dict[str, Any]:
        try:
            messages = [ChatMessage(role=m["role"], content=m["content"]) for m in body["messages"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise HTTPException(400, f"messages must be a list of {{role, content}}: {exc}") from None
        return await complete(messages, body, chat=True)

    @app.post("/v1/score")
    async def score(body: dict[str, Any]) -> Any:
        if rm is None:
            raise HTTPException(404, "this server has no reward model (start it with --reward-model)")
        t1, t2 = body.get("text_1"), body.get("text_2")
        if isinstance(t1, str):
            t1 = [t1] * len(t2 or [])
        if not isinstance(t1, list) or not isinstance(t2, list) or len(t1) != len(t2):
            raise HTTPException(400, "text_1 and text_2 must be lists of the same length (or text_1 one string)")
        scores = await asyncio.to_thread(run_locked, rm.score, list(zip(t1, t2)))
        return JSONResponse({"object": "list", "model": served_name,
                             "data": [{"index": i, "object": "score", "score": s} for i, s in enumerate(scores)]})

    return app


def free_port() -> int:
    """An unused local TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """Run the app with uvicorn in a background thread (tests); ``url`` is its ``/v1`` base."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        """Start serving on 127.0.0.1 and wait until it accepts connections."""
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"test server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


def main() -> None:
    """Command line: serve a local model."""
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="local causal LM folder")
    ap.add_argument("--reward-model", help="local sequence-classification folder for /v1/score")
    ap.add_argument("--served-name", default="tiny")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args()
    if not args.model and not args.reward_model:
        ap.error("give --model and/or --reward-model")
    uvicorn.run(make_app(args.model, args.reward_model, args.served_name, args.threads), host=args.host,
                port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

"""An OpenAI-compatible server that answers at once (no model): isolates the client's own cost per request.

    python benchmarks/inference/instant_server.py --port 8001

``/v1/chat/completions`` answers 16 completion tokens immediately; ``/stats`` counts requests
like ``dataforge.inference.server`` does (busy time is zero: any gap is the client's).
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def make_app() -> Any:
    """The FastAPI app: constant chat completions and request counters."""
    from fastapi import FastAPI

    app = FastAPI()
    stats = {"requests": 0, "busy_s": 0.0, "completion_tokens": 0, "first": None, "last": None}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "instant", "object": "model"}]}

    @app.get("/stats")
    async def get_stats() -> dict[str, Any]:
        return dict(stats)

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]) -> dict[str, Any]:
        stats["requests"] += 1
        stats["completion_tokens"] += 16
        stats["first"] = stats["first"] or time.monotonic()
        stats["last"] = time.monotonic()
        return {"id": "x", "object": "chat.completion", "model": "instant",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok " * 16},
                             "finish_reason": "length"}],
                "usage": {"prompt_tokens": 8, "completion_tokens": 16, "total_tokens": 24}}

    return app


def main() -> None:
    """Command line: serve on 127.0.0.1."""
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8001)
    args = ap.parse_args()
    uvicorn.run(make_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

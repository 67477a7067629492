"""OpenAI-compatible HTTP backend: bounded concurrency, retries with exponential backoff, timeouts.

Talks to any server with ``/chat/completions`` or ``/completions`` (vLLM, SGLang, or
``dataforge.inference.server``) and, for reward models, a vLLM-style score route
(``{"model", "text_1": [...], "text_2": [...]}`` -> ``{"data": [{"index", "score"}]}``).
429, 5xx and connection errors are retried (honouring ``Retry-After``); a request that runs
past ``timeout_s`` is not retried: its row gets ``finish_reason="timeout"`` and the run goes on.

Keeping the server saturated: one event loop thread and one pooled keep-alive client
(HTTP/1.1, ``concurrency`` connections) live as long as the backend, and one semaphore per
backend bounds the requests in flight across all calls. ``submit`` queues a batch and returns
a future at once, so a caller can send the next batch while the last requests of the previous
one are still running (a sliding window instead of a barrier per batch); ``generate`` is
``submit(...).result()``, and several threads calling it share the same window. Request
bodies are JSON-encoded once (retries resend the bytes).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
from concurrent.futures import Future
from typing import Any

from dataforge.inference.base import (
    ChatMessage,
    Completion,
    HttpConfig,
    SamplingParams,
    as_messages,
    prompt_text,
    row_seed,
)

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class RequestFailed(Exception):
    """A request that failed for good; ``reason`` is ``timeout`` or ``error``."""

    def __init__(self, message: str, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


class HttpBackend:
    """Calls an OpenAI-compatible endpoint with at most ``concurrency`` requests in flight."""

    def __init__(self, config: HttpConfig) -> None:
        """Store the endpoint; connections open per call on a private event loop thread."""
        self.config = config
        self.model_id = config.model
        self.base_url = config.base_url.rstrip("/")
        key = os.environ.get(config.api_key_env) if config.api_key_env else None
        if config.api_key_env and not key:
            raise ValueError(f"backend.api_key_env: environment variable {config.api_key_env} is not set; export it")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.headers["Content-Type"] = "application/json"
        self.stats = {"requests": 0, "retries": 0, "failures": 0, "in_flight_max": 0}
        self._in_flight = 0
        self._sem: asyncio.Semaphore | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="dataforge-http", daemon=True)
        self._thread.start()
        self._client: Any = None

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _window(self) -> asyncio.Semaphore:
        """The backend-wide bound on requests in flight (made on the loop thread, shared by every call)."""
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.config.concurrency)
        return self._sem

    async def _get_client(self) -> Any:
        import httpx

        if self._client is None:
            limits = httpx.Limits(max_connections=self.config.concurrency, max_keepalive_connections=self.config.concurrency)
            self._client = httpx.AsyncClient(limits=limits, headers=self.headers,
                                             timeout=httpx.Timeout(None, connect=self.config.connect_timeout_s))
        return self._client

    async def _post(self, path: str, body: dict[str, Any], timeout_s: float,
                    sem: asyncio.Semaphore | None = None) -> dict[str, Any]:
        """POST with retries on 429/5xx/connection errors; a timeout is final."""
        import httpx

        client = await self._get_client()
        sem = sem or self._window()
        url = self.base_url + path
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        delay = self.config.backoff_s
        attempt = 0
        while True:
            async with sem:
                self.stats["requests"] += 1
                self._in_flight += 1
                self.stats["in_flight_max"] = max(self.stats["in_flight_max"], self._in_flight)
                try:
                    async with asyncio.timeout(timeout_s):
                        resp = await client.post(url, content=payload)
                except (asyncio.TimeoutError, httpx.TimeoutException):
                    raise RequestFailed(f"no response from {url} within timeout_s={timeout_s}", "timeout") from None
                except httpx.TransportError as exc:
                    resp, error = None, f"{type(exc).__name__}: {exc or 'connection failed'} ({url})"
                else:
                    error = None
                finally:
                    self._in_flight -= 1
            if resp is not None:
                if resp.status_code == 200:
                    try:
                        return resp.json()
                    except ValueError:
                        raise RequestFailed(f"{url} answered 200 with a body that is not JSON: {resp.text[:200]!r}") from None
                error = f"HTTP {resp.status_code} from {url}: {resp.text[:300]}"
                if resp.status_code not in RETRY_STATUS:
                    raise RequestFailed(error)
            if attempt >= self.config.max_retries:
                raise RequestFailed(f"{error} (gave up after {attempt} retries)")
            attempt += 1
            self.stats["retries"] += 1
            wait = delay
            if resp is not None and resp.headers.get("retry-after", "").replace(".", "", 1).isdigit():
                wait = max(wait, float(resp.headers["retry-after"]))
            await asyncio.sleep(wait)
            delay *= 2

    # -- generation ------------------------------------------------------------------------
    def _body(self, prompt: Any, params: SamplingParams, seed: int | None) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": self.config.model, "temperature": params.temperature, "top_p": params.top_p,
                                "max_tokens": params.max_tokens, "n": params.n}
        if params.stop:
            body["stop"] = params.stop
        if seed is not None:
            body["seed"] = seed
        if self.config.api == "chat":
            body["messages"] = as_messages(prompt)
            return "/chat/completions", body
        body["prompt"] = prompt_text(prompt)
        return "/completions", body

    async def _one(self, prompt: Any, params: SamplingParams, seed: int | None) -> list[Completion]:
        path, body = self._body(prompt, params, seed)
        try:
            data = await self._post(path, body, params.timeout_s)
        except RequestFailed as exc:
            self.stats["failures"] += 1
            return [Completion.failed(str(exc), exc.reason)] * params.n
        try:
            usage = data.get("usage") or {}
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            n_prompt = int(usage.get("prompt_tokens", 0))
            n_total = int(usage.get("completion_tokens", 0))
            out = []
            for c in choices[: params.n]:
                text = c["message"]["content"] if self.config.api == "chat" else c["text"]
                out.append(Completion(text=text or "", finish_reason=c.get("finish_reason") or "stop",
                                      n_prompt_tokens=n_prompt, n_tokens=n_total // max(1, len(choices))))
            while len(out) < params.n:
                out.append(Completion.failed(f"server returned {len(choices)} choices for n={params.n}"))
            return out
        except (KeyError, TypeError, ValueError) as exc:
            self.stats["failures"] += 1
            return [Completion.failed(f"unexpected response shape ({type(exc).__name__}: {exc}): {str(data)[:200]}")] * params.n

    def submit(self, prompts: list[list[ChatMessage]] | list[str], params: SamplingParams,
               keys: list[str] | None = None) -> "Future[list[list[Completion]]]":
        """Queue the prompts now and return a future of their completions (in prompt order).

        Requests of every submitted batch share the backend's ``concurrency`` window, so submitting
        the next batch before this one is done keeps the server busy across batch boundaries.
        """
        keys = keys if keys is not None else [str(i) for i in range(len(prompts))]

        async def run() -> list[list[Completion]]:
            return list(await asyncio.gather(*(self._one(p, params, row_seed(params.seed, k))
                                               for p, k in zip(prompts, keys))))

        return asyncio.run_coroutine_threadsafe(run(), self._loop)

    def generate(self, prompts: list[list[ChatMessage]] | list[str], params: SamplingParams,
                 keys: list[str] | None = None) -> list[list[Completion]]:
        """``params.n`` completions per prompt, requests in parallel up to ``concurrency`` (images as image_url parts)."""
        return self.submit(prompts, params, keys).result()

    # -- scoring ---------------------------------------------------------------------------
    def score(self, pairs: list[tuple[str, str]], timeout_s: float = 120.0, chunk: int = 16) -> list[float]:
        """One score per (prompt, response) from the score route; failed pairs are NaN (see last_score_errors)."""
        errors: list[str | None] = [None] * len(pairs)

        async def one(start: int) -> list[float]:
            part = pairs[start:start + chunk]
            body = {"model": self.config.model, "text_1": [p for p, _ in part], "text_2": [r for _, r in part]}
            try:
                data = await self._post(self.config.score_route, body, timeout_s)
                got = {int(d["index"]): float(d["score"]) for d in data["data"]}
                return [got.get(i, math.nan) for i in range(len(part))]
            except (RequestFailed, KeyError, TypeError, ValueError) as exc:
                for i in range(len(part)):
                    errors[start + i] = f"{type(exc).__name__}: {exc}"
                return [math.nan] * len(part)

        async def run() -> list[float]:
            parts = await asyncio.gather(*(one(s) for s in range(0, len(pairs), chunk)))
            return [x for p in parts for x in p]

        out = self._run(run())
        self.last_score_errors = errors
        return out

    def close(self) -> None:
        """Close connections and stop the event loop thread."""
        if self._client is not None:
            self._run(self._client.aclose())
            self._client = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle only the config (the loop and client are rebuilt)."""
        return {"config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild from the config."""
        self.__init__(state["config"])  # type: ignore[misc]

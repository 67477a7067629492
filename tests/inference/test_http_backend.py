"""The HTTP backend against our OpenAI-compatible server (tiny models) and against misbehaving servers."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from dataforge.inference.base import ChatMessage, HttpConfig, SamplingParams, make_backend
from tiny_models import tiny

pytest.importorskip("fastapi", reason="fastapi/uvicorn are needed for the test server")
from dataforge.inference.server import ServerThread, make_app  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    app = make_app(str(tiny(tmp_path_factory)), str(tiny(tmp_path_factory, "reward")), served_name="tiny")
    s = ServerThread(app)
    yield s
    s.stop()


def backend(url: str, **kw: Any):
    return make_backend(HttpConfig(base_url=url, model="tiny", **kw))


def test_chat_and_completions_through_server(server) -> None:
    b = backend(server.url, concurrency=4)
    params = SamplingParams(max_tokens=5, n=2, seed=3, temperature=1.0)
    out = b.generate([[ChatMessage(role="user", content="hello")], "world", "again"], params, keys=["a", "b", "c"])
    assert [len(s) for s in out] == [2, 2, 2]
    assert all(c.error is None and c.n_tokens > 0 for s in out for c in s)
    again = b.generate(["world"], params, keys=["b"])
    assert [c.text for c in again[0]] == [c.text for c in out[1]]  # the per-row seed travels in the request
    comp = backend(server.url, api="completions").generate(["world"], params, keys=["b"])
    assert len(comp[0]) == 2 and comp[0][0].error is None
    b.close()


def test_reward_scores_through_server_match_local(server, tmp_path_factory: pytest.TempPathFactory) -> None:
    from dataforge.inference.base import TransformersConfig

    pairs = [("What is 2+2?", "4"), ("Name a river.", "The Nile.")]
    b = backend(server.url)
    remote = b.score(pairs)
    local = make_backend(TransformersConfig(model=str(tiny(tmp_path_factory, "reward")), device="cpu")).score(pairs)
    assert remote == pytest.approx(local, abs=1e-6)
    b.close()


def _flaky_app(fail_first: int, status: int, delay_s: float = 0.0):
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()
    app.state.calls = 0

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]) -> Any:
        app.state.calls += 1
        if app.state.calls <= fail_first:
            return JSONResponse({"error": "busy"}, status_code=status, headers={"retry-after": "0"})
        if delay_s:
            await asyncio.sleep(delay_s)
        text = body["messages"][-1]["content"]
        if text == "empty":
            return {"choices": [{"index": 0, "message": {"content": ""}, "finish_reason": "stop"}]}
        if text == "garbage":
            return {"nonsense": True}
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text.upper()}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1}}

    return app


def test_retries_429_and_5xx_with_backoff() -> None:
    for status in (429, 503):
        app = _flaky_app(fail_first=2, status=status)
        s = ServerThread(app)
        try:
            b = backend(s.url, max_retries=3, backoff_s=0.01)
            out = b.generate(["ok"], SamplingParams())
            assert out[0][0].text == "OK" and b.stats["retries"] == 2
            b.close()
        finally:
            s.stop()


def test_gives_up_after_retries_and_4xx_is_not_retried() -> None:
    s = ServerThread(_flaky_app(fail_first=100, status=500))
    try:
        b = backend(s.url, max_retries=2, backoff_s=0.01)
        c = b.generate(["ok"], SamplingParams())[0][0]
        assert c.finish_reason == "error" and "HTTP 500" in c.error and "gave up after 2 retries" in c.error
        b.close()
    finally:
        s.stop()
    s = ServerThread(_flaky_app(fail_first=100, status=400))
    try:
        b = backend(s.url, max_retries=3, backoff_s=0.01)
        c = b.generate(["ok"], SamplingParams())[0][0]
        assert c.finish_reason == "error" and "HTTP 400" in c.error and b.stats["retries"] == 0
        b.close()
    finally:
        s.stop()


def test_timeout_is_a_row_result_not_an_exception() -> None:
    s = ServerThread(_flaky_app(fail_first=0, status=200, delay_s=2.0))
    try:
        b = backend(s.url, concurrency=2)
        out = b.generate(["slow", "slower"], SamplingParams(timeout_s=0.3))
        assert [c.finish_reason for c in (out[0][0], out[1][0])] == ["timeout", "timeout"]
        assert "timeout_s=0.3" in out[0][0].error
        b.close()
    finally:
        s.stop()


def test_bad_response_shapes_and_unreachable_server() -> None:
    s = ServerThread(_flaky_app(fail_first=0, status=200))
    try:
        b = backend(s.url)
        out = b.generate(["garbage", "empty"], SamplingParams())
        assert out[0][0].finish_reason == "error" and "unexpected response shape" in out[0][0].error
        assert out[1][0].error is None and out[1][0].text == ""
        scores = b.score([("a", "b")])  # no score route on this server
        assert math.isnan(scores[0]) and "HTTP 404" in b.last_score_errors[0]
        b.close()
    finally:
        s.stop()
    from dataforge.inference.server import free_port

    b = backend(f"http://127.0.0.1:{free_port()}/v1", max_retries=1, backoff_s=0.01)
    c = b.generate(["x"], SamplingParams())[0][0]
    assert c.finish_reason == "error" and "ConnectError" in c.error
    b.close()


def test_concurrency_limit_is_respected() -> None:
    from fastapi import FastAPI

    app = FastAPI()
    state = {"now": 0, "peak": 0}

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]) -> Any:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.05)
        state["now"] -= 1
        return {"choices": [{"index": 0, "message": {"content": "x"}, "finish_reason": "stop"}]}

    s = ServerThread(app)
    try:
        b = backend(s.url, concurrency=3)
        out = b.generate([str(i) for i in range(12)], SamplingParams())
        assert all(o[0].text == "x" for o in out)
        assert state["peak"] == 3
        b.close()
    finally:
        s.stop()


def test_submit_is_a_sliding_window_shared_across_batches() -> None:
    from fastapi import FastAPI

    app = FastAPI()
    events: list[tuple[str, str]] = []
    state = {"now": 0, "peak": 0}

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]) -> Any:
        text = body["messages"][-1]["content"]
        events.append(("start", text))
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.3 if text == "a0" else 0.02)  # one straggler in the first batch
        state["now"] -= 1
        events.append(("end", text))
        return {"choices": [{"index": 0, "message": {"content": text}, "finish_reason": "stop"}]}

    s = ServerThread(app)
    try:
        b = backend(s.url, concurrency=4)
        first = b.submit([f"a{i}" for i in range(4)], SamplingParams())
        second = b.submit([f"b{i}" for i in range(8)], SamplingParams())
        assert [c[0].text for c in first.result()] == [f"a{i}" for i in range(4)]
        assert [c[0].text for c in second.result()] == [f"b{i}" for i in range(8)]
        # the second batch started while the first batch's straggler was still running: no barrier between batches
        assert events.index(("start", "b0")) < events.index(("end", "a0"))
        assert state["peak"] == 4 and b.stats["in_flight_max"] == 4  # one window for both batches
        b.close()
    finally:
        s.stop()


def test_images_travel_to_a_served_vision_language_model(tmp_path_factory: pytest.TempPathFactory) -> None:
    pymupdf = pytest.importorskip("pymupdf")
    from dataforge.inference.base import ImagePart, TextPart

    doc = pymupdf.open()
    page = doc.new_page(width=200, height=120)
    page.insert_text((10, 60), "scanned", fontsize=16)
    png = page.get_pixmap(dpi=72).tobytes("png")
    s = ServerThread(make_app(str(tiny(tmp_path_factory, "vl")), served_name="tiny-vl"))
    try:
        b = make_backend(HttpConfig(base_url=s.url, model="tiny-vl", max_retries=0))
        params = SamplingParams(max_tokens=4, temperature=1.0, seed=1)
        with_image = [ChatMessage(role="user", content=[ImagePart(image=png), TextPart(text="Read.")])]
        out = b.generate([with_image, [ChatMessage(role="user", content="Read.")]], params)
        assert out[0][0].error is None and out[1][0].error is None
        assert out[0][0].n_prompt_tokens > out[1][0].n_prompt_tokens + 3  # the image became patch tokens on the server
        b.close()
    finally:
        s.stop()

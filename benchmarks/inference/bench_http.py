"""HTTP backend throughput against the local OpenAI-compatible server: does our client keep it saturated?

    python benchmarks/inference/bench_http.py --requests 32 --max-tokens 16 --concurrency 8

Builds a tiny random Qwen2 model (real vocabulary), serves it with ``dataforge.inference.server``
in a subprocess, then sends the same prompts twice: with a plain concurrent httpx client (the
server's own capacity) and through ``HttpBackend.generate`` (our client: semaphore, retries,
per-row seeds). Reports requests in flight, requests/s, completion tokens/s and the server's
busy fraction; our client should be within 10% of the plain client.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from dataforge.inference.base import HttpConfig, SamplingParams, make_backend
from dataforge.inference.server import free_port
from dataforge.inference.tiny import build_tiny_model

ROOT = Path(__file__).resolve().parent


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until the server answers /v1/models."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited before it was ready")
        try:
            if httpx.get(url + "/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


def server_stats(base: str) -> dict:
    """The server's busy time and request counters."""
    return httpx.get(base.removesuffix("/v1") + "/stats", timeout=5).json()


async def plain_client(url: str, prompts: list[str], max_tokens: int, concurrency: int) -> tuple[int, int]:
    """The server's capacity: a bare asyncio + httpx client, ``concurrency`` requests in flight."""
    sem = asyncio.Semaphore(concurrency)
    peak = {"now": 0, "max": 0}
    tokens = 0
    async with httpx.AsyncClient(timeout=600) as client:
        async def one(i: int, p: str) -> None:
            nonlocal tokens
            async with sem:
                peak["now"] += 1
                peak["max"] = max(peak["max"], peak["now"])
                r = await client.post(url + "/chat/completions", json={
                    "model": "tiny", "messages": [{"role": "user", "content": p}], "max_tokens": max_tokens,
                    "temperature": 1.0, "top_p": 1.0, "seed": i})
                peak["now"] -= 1
                tokens += r.json()["usage"]["completion_tokens"]

        await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts)))
    return tokens, peak["max"]


def measure(name: str, base: str, fn) -> dict:
    """Run one client and read the server's busy time over the run."""
    before = server_stats(base)
    t0 = time.monotonic()
    tokens, in_flight = fn()
    wall = time.monotonic() - t0
    after = server_stats(base)
    reqs = after["requests"] - before["requests"]
    busy = after["busy_s"] - before["busy_s"]
    return {"client": name, "requests": reqs, "in_flight": in_flight, "wall_s": wall, "req_s": reqs / wall,
            "tok_s": tokens / wall, "server_busy": busy / wall}


def main() -> None:
    """Run the benchmark and write RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="torch threads in the server")
    ap.add_argument("--label", default="smoke run")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="df-bench-"))
    model = build_tiny_model(tmp / "gen", hidden=args.hidden, layers=2, heads=4)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dataforge.inference.server", "--model", str(model), "--port", str(port),
                             "--threads", str(args.threads)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        wait_ready(base, proc)
        prompts = [f"Write a short paragraph about topic number {i}." for i in range(args.requests)]
        plain_client_run = lambda: asyncio.run(plain_client(base, prompts[:2], args.max_tokens, 2))  # noqa: E731
        plain_client_run()  # warm-up
        rows = [measure("plain httpx (server capacity)", base,
                        lambda: asyncio.run(plain_client(base, prompts, args.max_tokens, args.concurrency)))]
        backend = make_backend(HttpConfig(base_url=base, model="tiny", concurrency=args.concurrency))
        params = SamplingParams(max_tokens=args.max_tokens, temperature=1.0, top_p=1.0, seed=0, timeout_s=600)

        def ours() -> tuple[int, int]:
            out = backend.generate(prompts, params, keys=[str(i) for i in range(len(prompts))])
            assert all(c.error is None for s in out for c in s), [c.error for s in out for c in s if c.error][:3]
            return sum(c.n_tokens for s in out for c in s), args.concurrency

        rows.append(measure("dataforge HttpBackend", base, ours))
        backend.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    ratio = rows[1]["tok_s"] / rows[0]["tok_s"]
    header = "| client | requests | in flight (max) | wall s | req/s | completion tok/s | server busy |"
    lines = [header, "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['client']} | {r['requests']} | {r['in_flight']} | {r['wall_s']:.2f} | {r['req_s']:.2f} | "
                     f"{r['tok_s']:.1f} | {r['server_busy']:.0%} |")
    verdict = f"our client / server capacity (tokens/s): {ratio:.3f} ({'within' if ratio >= 0.9 else 'NOT within'} 10%)"
    print("\n".join(lines))
    print(verdict)
    cmd = (f"python benchmarks/inference/bench_http.py --requests {args.requests} --max-tokens {args.max_tokens} "
           f"--concurrency {args.concurrency} --hidden {args.hidden} --threads {args.threads}")
    (ROOT / "RESULTS.md").write_text(
        f"# HTTP inference backend vs. the server's capacity ({args.label})\n\n"
        f"Tiny random Qwen2 (hidden {args.hidden}, 2 layers, vocabulary 151,936) served by "
        "`dataforge.inference.server` on CPU; the server runs one generation at a time, so capacity is "
        "reached when a request is always queued.\n\n"
        + "\n".join(lines) + f"\n\n{verdict}\n\nReproduce:\n\n```\n{cmd}\n```\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""HTTP backend throughput against a local OpenAI-compatible server: does our client keep it saturated?

    python benchmarks/inference/bench_http.py --requests 24 --max-tokens 16 --concurrency 8 --pairs 5 --batch 8

Serves a tiny random Qwen2 (real vocabulary) with ``dataforge.inference.server`` in a
subprocess (``--server model``), or a server that answers at once (``--server instant``: the
client's own cost per request, nothing else), then runs interleaved rounds of:

- ``plain``: a bare asyncio + httpx client, ``concurrency`` requests in flight: the server's capacity;
- ``ours``: ``HttpBackend.generate`` on all prompts (semaphore, retries, per-row seeds, JSON once);
- with ``--batch B``, prompts arriving in stage batches of B: ``ours-barrier`` calls ``generate``
  per batch (what a stage does, waiting for each batch's last request), ``ours-window`` uses
  ``submit`` with the next batch sent before the previous one is collected (sliding window).

The order of the clients rotates every round so drift on a shared machine hits all alike; the
report is the median over rounds of each client's tokens/s divided by the same round's plain
client. Goal: ours >= 0.90 of plain.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Callable

import httpx

from dataforge.inference.base import HttpConfig, SamplingParams, make_backend
from dataforge.inference.server import free_port

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
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
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


def measure(name: str, base: str, fn: Callable[[], tuple[int, int]]) -> dict:
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


def start_server(kind: str, hidden: int, threads: int) -> tuple[subprocess.Popen, str]:
    """Start the model server (tiny random Qwen2) or the instant server in a subprocess."""
    port = free_port()
    if kind == "model":
        from dataforge.inference.tiny import build_tiny_model

        tmp = Path(tempfile.mkdtemp(prefix="df-bench-"))
        model = build_tiny_model(tmp / "gen", hidden=hidden, layers=2, heads=4)
        cmd = [sys.executable, "-m", "dataforge.inference.server", "--model", str(model), "--port", str(port),
               "--threads", str(threads)]
    else:
        cmd = [sys.executable, str(ROOT / "instant_server.py"), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    wait_ready(base, proc)
    return proc, base


def main() -> None:
    """Run the benchmark and write RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", choices=["model", "instant"], default="model")
    ap.add_argument("--requests", type=int, default=24)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--pairs", type=int, default=5, help="interleaved rounds; the median ratio is reported")
    ap.add_argument("--batch", type=int, default=0, help="also compare per-batch generate vs submit (0: off)")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="torch threads in the server")
    ap.add_argument("--label", default="smoke run, shared machine (not quiet)")
    ap.add_argument("--results", type=Path, default=ROOT / "RESULTS.md")
    args = ap.parse_args()

    proc, base = start_server(args.server, args.hidden, args.threads)
    prompts = [f"Write a short paragraph about topic number {i}." for i in range(args.requests)]
    keys = [str(i) for i in range(len(prompts))]
    params = SamplingParams(max_tokens=args.max_tokens, temperature=1.0, top_p=1.0, seed=0, timeout_s=600)
    backend = make_backend(HttpConfig(base_url=base, model="tiny", concurrency=args.concurrency))
    batches = [(prompts[i:i + args.batch], keys[i:i + args.batch]) for i in range(0, len(prompts), args.batch or 1)]

    def tokens(out: list) -> int:
        assert all(c.error is None for s in out for c in s), [c.error for s in out for c in s if c.error][:3]
        return sum(c.n_tokens for s in out for c in s)

    def ours() -> tuple[int, int]:
        return tokens(backend.generate(prompts, params, keys=keys)), args.concurrency

    def ours_barrier() -> tuple[int, int]:
        return sum(tokens(backend.generate(p, params, keys=k)) for p, k in batches), min(args.batch, args.concurrency)

    def ours_window() -> tuple[int, int]:
        total, pending = 0, deque()
        for p, k in batches:  # a stage loop that sends batch k+1 before collecting batch k
            pending.append(backend.submit(p, params, keys=k))
            if len(pending) > 1:
                total += tokens(pending.popleft().result())
        while pending:
            total += tokens(pending.popleft().result())
        return total, args.concurrency

    clients: dict[str, Callable[[], tuple[int, int]]] = {
        "plain": lambda: asyncio.run(plain_client(base, prompts, args.max_tokens, args.concurrency)),
        "ours": ours,
    }
    if args.batch:
        clients["ours-barrier"] = ours_barrier
        clients["ours-window"] = ours_window
    names = list(clients)
    rounds: list[dict[str, dict]] = []
    try:
        asyncio.run(plain_client(base, prompts[:2], args.max_tokens, 2))  # warm-up
        backend.generate(prompts[:2], params, keys=keys[:2])
        for r in range(args.pairs):
            order = names[r % len(names):] + names[:r % len(names)]
            rounds.append({n: measure(n, base, clients[n]) for n in order})
            print(f"round {r + 1}/{args.pairs}: " + ", ".join(
                f"{n} {rounds[-1][n]['tok_s']:.1f} tok/s" for n in names), flush=True)
    finally:
        backend.close()
        proc.terminate()
        proc.wait(timeout=30)

    header = "| client | rounds | in flight (max) | median wall s | median req/s | median tok/s | median server busy | median ratio to plain (tok/s, same round) | min–max ratio |"
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    summary = {}
    for n in names:
        rs = [rd[n] for rd in rounds]
        ratios = [rd[n]["tok_s"] / rd["plain"]["tok_s"] for rd in rounds]
        summary[n] = statistics.median(ratios)
        lines.append(f"| {n} | {len(rs)} | {max(x['in_flight'] for x in rs)} | "
                     f"{statistics.median(x['wall_s'] for x in rs):.2f} | {statistics.median(x['req_s'] for x in rs):.2f} | "
                     f"{statistics.median(x['tok_s'] for x in rs):.1f} | "
                     f"{statistics.median(x['server_busy'] for x in rs):.0%} | {summary[n]:.3f} | "
                     f"{min(ratios):.3f}–{max(ratios):.3f} |")
    verdict = (f"median ours / plain (tokens/s): {summary['ours']:.3f} "
               f"({'within' if summary['ours'] >= 0.9 else 'NOT within'} 10%)")
    if args.batch:
        verdict += (f"; stage batches of {args.batch}: barrier {summary['ours-barrier']:.3f}, "
                    f"sliding window {summary['ours-window']:.3f}")
    print("\n".join(lines))
    print(verdict)
    cmd = (f"python benchmarks/inference/bench_http.py --server {args.server} --requests {args.requests} "
           f"--max-tokens {args.max_tokens} --concurrency {args.concurrency} --pairs {args.pairs} --batch {args.batch} "
           f"--hidden {args.hidden} --threads {args.threads}")
    what = (f"Tiny random Qwen2 (hidden {args.hidden}, 2 layers, vocabulary 151,936) served by "
            "`dataforge.inference.server` on CPU; the server runs one generation at a time, so capacity is "
            "reached when a request is always queued." if args.server == "model" else
            "`benchmarks/inference/instant_server.py`: answers at once, so tokens/s measures the client's own "
            "cost per request (the server does no work).")
    section = (f"## {args.server} server ({args.label})\n\n{what}\n\n" + "\n".join(lines) + f"\n\n{verdict}\n\n"
               f"Reproduce:\n\n```\n{cmd}\n```\n")
    old = args.results.read_text(encoding="utf-8") if args.results.exists() else ""
    marker = f"## {args.server} server"
    kept = [s for s in old.split("\n## ")[1:] if not ("## " + s).startswith(marker)] if old.startswith("# ") else []
    body = "# HTTP inference backend vs. the server's capacity\n\n" + "".join("## " + s.rstrip() + "\n\n" for s in kept)
    args.results.write_text(body + section, encoding="utf-8")


if __name__ == "__main__":
    main()

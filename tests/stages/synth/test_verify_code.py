"""verify_code_v1 and its sandbox: passing/failing tests, and limits really enforced (hang, memory, network, forks)."""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from dataforge.stages.synth.sandbox import SandboxLimits, isolation, run_python
from dataforge.stages.synth.verify_code import VerifyCode, build_program, extract_code

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
FAST = SandboxLimits(timeout_s=3, cpu_s=5, memory_mb=256, max_processes=8)

HE_PROMPT = 'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n'
HE_TESTS = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n"


def test_extract_code_prefers_fenced_function() -> None:
    resp = "Here:\n```python\ndef f(x):\n    return x + 1\n```\nUsage:\n```\nf(1)\n```"
    assert extract_code(resp).startswith("def f(x)")
    assert extract_code("def g():\n    return 2\n") == "def g():\n    return 2\n"
    assert extract_code("   ") is None and extract_code(None) is None


def test_build_program_appends_check_for_humaneval_tests() -> None:
    prog = build_program("    return a + b\n", HE_TESTS, HE_PROMPT, "add")
    assert prog.startswith(HE_PROMPT) and prog.rstrip().endswith("check(add)")
    assert "check(add)" not in build_program("x = 1", "assert x == 1", None, "add")


def test_sandbox_pass_fail_and_syntax() -> None:
    assert run_python("import math\nassert math.gcd(4, 6) == 2\nprint('ok')", FAST).status == "passed"
    r = run_python("assert 1 + 1 == 3, 'arithmetic'", FAST)
    assert r.status == "failed" and "arithmetic" in r.detail()
    assert run_python("def f(:\n    pass", FAST).status == "syntax_error"


def test_sandbox_infinite_loop_times_out() -> None:
    r = run_python("import os\nopen('pid', 'w').write(str(os.getpid()))\nwhile True:\n    pass", FAST)
    assert r.status == "timeout"


def test_sandbox_cpu_limit_stops_a_busy_loop() -> None:
    r = run_python("while True:\n    pass", SandboxLimits(timeout_s=30, cpu_s=1, memory_mb=256))
    assert r.status == "timeout" and r.seconds < 30


def test_sandbox_sleeping_child_process_is_killed_with_the_group() -> None:
    code = ("import subprocess, sys\n"
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            "print(p.pid, flush=True)\n"
            "p.wait()\n")
    r = run_python(code, FAST)
    assert r.status == "timeout"
    pid = int(r.stdout.split()[0])
    with pytest.raises(ProcessLookupError):
        for _ in range(100):  # the group was SIGKILLed; give the kernel a moment to reap it
            os.kill(pid, 0)
            import time
            time.sleep(0.05)


@pytest.mark.parametrize("code", ["x = bytearray(4 * 1024**3)", "chunks = []\nwhile True:\n    chunks.append(' ' * 10**7)"])
def test_sandbox_memory_bomb_hits_the_limit(code: str) -> None:
    assert run_python(code, FAST).status == "memory_limit"


def test_sandbox_has_no_network() -> None:
    code = ("import socket\n"
            "try:\n"
            "    socket.create_connection(('1.1.1.1', 53), timeout=2)\n"
            "except OSError as exc:\n"
            "    print('blocked', exc)\n"
            "else:\n"
            "    raise SystemExit('network reachable')\n")
    r = run_python(code, FAST)
    assert r.status == "passed" and "blocked" in r.stdout
    if isolation()["network"] == "namespace":  # a fresh namespace has only a loopback that is down
        r = run_python("import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\n"
                       "c = socket.create_connection(s.getsockname(), timeout=1)", FAST)
        assert r.status == "failed" and "unreachable" in r.detail().lower()


def test_sandbox_socket_stub_where_namespaces_are_missing() -> None:
    limits = SandboxLimits(timeout_s=5, cpu_s=5, memory_mb=256, socket_patch=True)
    r = run_python("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)", limits)
    assert r.status == "failed" and "network access is disabled" in r.detail()
    r = run_python("import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM)", limits)
    assert r.status == "failed" and "network access is disabled" in r.detail()


def test_sandbox_bounds_forks() -> None:
    if isolation()["processes"] == "none":
        pytest.skip("running as root without a writable pids cgroup: RLIMIT_NPROC does not apply to root")
    code = ("import os, time\nn = 0\n"
            "try:\n"
            "    for _ in range(200):\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(30)\n"
            "            os._exit(0)\n"
            "        n += 1\n"
            "except OSError:\n"
            "    pass\n"
            "print(n)\n"
            "assert n < 8, n\n")
    r = run_python(code, FAST)
    assert r.status == "passed", r.detail()
    assert int(r.stdout.split()[0]) < 8


def test_sandbox_fork_bomb_ends_with_the_timeout() -> None:
    if isolation()["processes"] == "none":
        pytest.skip("running as root without a writable pids cgroup: RLIMIT_NPROC does not apply to root")
    r = run_python("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
                   SandboxLimits(timeout_s=2, cpu_s=5, memory_mb=256, max_processes=8))
    assert r.status == "timeout"


def test_sandbox_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "do-not-leak")
    r = run_python("import os, sys\nprint(sorted(os.environ))\nprint(sys.stdin.read() if sys.stdin else '')\n"
                   "print(os.getcwd())", FAST)
    assert r.status == "passed" and "SECRET_TOKEN" not in r.stdout
    assert "dataforge-sandbox-" in r.stdout and not Path(r.stdout.split()[-1]).exists()  # temp dir removed


def _rows() -> pa.Table:
    rows = [
        ("pass", "```python\ndef add(a, b):\n    return a + b\n```", "assert add(2, 3) == 5"),
        ("wrong", "def add(a, b):\n    return a - b\n", "assert add(2, 3) == 5"),
        ("hang", "def add(a, b):\n    while True:\n        pass\n", "assert add(2, 3) == 5"),
        ("memory", "def add(a, b):\n    x = bytearray(8 * 1024**3)\n    return a + b\n", "assert add(2, 3) == 5"),
        ("syntax", "def add(a, b)\n    return a + b\n", "assert add(2, 3) == 5"),
        ("network", "import urllib.request\ndef add(a, b):\n    urllib.request.urlopen('http://1.1.1.1', timeout=2)\n"
                    "    return a + b\n", "assert add(2, 3) == 5"),
        ("nocode", "", "assert add(2, 3) == 5"),
        ("notests", "def add(a, b):\n    return a + b\n", None),
    ]
    return pa.table({"id": [r[0] for r in rows], "response": [r[1] for r in rows], "tests": [r[2] for r in rows],
                     "keep_me": [1] * len(rows)})


def test_stage_reasons() -> None:
    stage = VerifyCode(timeout_s=3, cpu_s=5, memory_mb=256, parallelism=2)
    res = stage(_rows())
    assert res.kept.column("id").to_pylist() == ["pass"]
    assert res.kept.column("code_status").to_pylist() == ["passed"]
    assert res.kept.column("keep_me").to_pylist() == [1]
    got = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("reason").to_pylist()))
    assert got == {"wrong": "tests_failed", "hang": "timeout", "memory": "memory_limit", "syntax": "syntax_error",
                   "network": "tests_failed", "nocode": "no_code", "notests": "no_tests"}
    assert Counter(got.values())["tests_failed"] == 2
    detail = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("detail").to_pylist()))
    assert "AssertionError" in detail["wrong"] and "3 s" in detail["hang"]


def test_stage_humaneval_style_with_prompt_and_entry_point() -> None:
    t = pa.table({"id": ["ok", "bad"], "prompt": [HE_PROMPT, HE_PROMPT],
                  "completion": ["    return a + b\n", "    return a * b\n"], "test": [HE_TESTS, HE_TESTS],
                  "entry_point": ["add", "add"]})
    stage = VerifyCode(code_column="completion", tests_column="test", prompt_column="prompt", timeout_s=5)
    res = stage(t)
    assert res.kept.column("id").to_pylist() == ["ok"]
    assert res.dropped.column("reason").to_pylist() == ["tests_failed"]


def test_stage_empty_batch_and_missing_column() -> None:
    stage = VerifyCode()
    empty = stage(_rows().slice(0, 0))
    assert empty.kept.num_rows == 0 and "code_status" in empty.kept.column_names
    with pytest.raises(Exception, match="tests_column"):
        stage(pa.table({"id": list("abcd"), "response": ["x = 1"] * 4}))


@pytest.mark.skipif(not (SHARED / "benchmarks" / "HumanEval.jsonl.gz").is_file(),
                    reason="../shared/data/benchmarks/HumanEval.jsonl.gz is absent")
def test_humaneval_canonical_solutions_pass_and_truncated_ones_fail() -> None:
    with gzip.open(SHARED / "benchmarks" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as fh:
        tasks = [json.loads(line) for line in fh][:12]
    ids = [t["task_id"] for t in tasks]
    good = pa.table({"id": ids, "prompt": [t["prompt"] for t in tasks], "response": [t["canonical_solution"] for t in tasks],
                     "tests": [t["test"] for t in tasks], "entry_point": [t["entry_point"] for t in tasks]})
    stage = VerifyCode(prompt_column="prompt", timeout_s=10, parallelism=2)
    assert stage(good).kept.num_rows == len(tasks)
    broken = good.set_column(2, "response", pa.array(["    return None\n"] * len(tasks)))
    res = stage(broken)
    assert res.kept.num_rows == 0 and set(res.dropped.column("reason").to_pylist()) == {"tests_failed"}

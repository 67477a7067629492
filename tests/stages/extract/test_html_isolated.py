"""The time-limited child process behind html_extract_v1: timeouts, crashes and errors are outcomes, not failures."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

from dataforge.stages.extract.isolated import IsolatedRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "web"))  # the child inherits sys.path


def test_timeout_crash_and_error_then_recovery() -> None:
    runner = IsolatedRunner("slow_extractor:make", "x-", timeout_s=1.0)
    try:
        out = list(runner.map(["a", "sleep:30", "b", "crash", "boom", "c"]))
    finally:
        runner.close()
    status = [o.status for o in out]
    assert status == ["ok", "timeout", "ok", "crashed", "error", "ok"]
    assert out[0].value.startswith("x-a|pid=")
    assert "1 s" in out[1].message and "exit status" in out[3].message and "boom on purpose" in out[4].message
    pids = [o.value.split("pid=")[1] for o in out if o.status == "ok"]
    assert pids[0] != pids[1] != pids[2]  # a fresh child after the timeout and after the crash
    assert runner.restarts == 2


def test_a_factory_that_fails_names_the_target() -> None:
    runner = IsolatedRunner("slow_extractor:broken", None, timeout_s=5)
    with pytest.raises(RuntimeError, match="slow_extractor:broken.*not_installed"):
        runner.start()


def test_runner_pickles_without_its_child() -> None:
    runner = IsolatedRunner("slow_extractor:make", "y-", timeout_s=5)
    try:
        assert runner.run_one("a").value.startswith("y-a")
        clone = pickle.loads(pickle.dumps(runner))
        assert clone._proc is None
        assert clone.run_one("b").value.startswith("y-b")
        clone.close()
    finally:
        runner.close()


def test_each_item_of_a_streamed_batch_gets_its_own_time_limit() -> None:
    runner = IsolatedRunner("slow_extractor:make", "", timeout_s=1.0)
    try:
        out = list(runner.map(["sleep:0.4"] * 5))  # 2 s for the batch, 0.4 s per item: no timeout
    finally:
        runner.close()
    assert [o.status for o in out] == ["ok"] * 5
    assert runner.restarts == 0


def test_large_raw_items_and_a_timeout_in_the_middle_of_a_batch() -> None:
    big = [b"a" * 3_000_000, b"b" * 2_500_000]  # each larger than the pipe buffer: partial writes and reads
    items: list[bytes | memoryview] = [big[0], b"sleep:30", memoryview(big[1]), b"crash", b"c"]
    runner = IsolatedRunner("slow_extractor:make", "z-", timeout_s=1.0)
    try:
        out = list(runner.map(items))
    finally:
        runner.close()
    assert [o.status for o in out] == ["ok", "timeout", "ok", "crashed", "ok"]
    assert out[0].value.startswith("z-aaa") and out[0].value.count("a") == 3_000_000
    assert out[2].value.count("b") == 2_500_000 and out[4].value.startswith("z-c|pid=")
    assert runner.restarts == 2


def test_the_child_imports_neither_dataforge_nor_pyarrow() -> None:
    runner = IsolatedRunner("slow_extractor:make", "", timeout_s=10)
    try:
        loaded = runner.run_one("modules").value.split(",")
    finally:
        runner.close()
    assert "slow_extractor" in loaded
    assert not {"dataforge", "pyarrow", "pydantic", "numpy"} & set(loaded)


def test_a_stream_cut_short_leaves_no_stale_replies() -> None:
    runner = IsolatedRunner("slow_extractor:make", "s-", timeout_s=10)
    try:
        with pytest.raises(Exception):
            list(runner.map(["sleep:0.3", lambda: 0]))  # the second item cannot be pickled
        assert runner.run_one("b").value.startswith("s-b|")  # not the reply to "sleep:0.3"
    finally:
        runner.close()

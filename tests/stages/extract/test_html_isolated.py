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

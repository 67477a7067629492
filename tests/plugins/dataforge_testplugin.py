"""Stages that exist only for the engine's fault tests, registered through the plugin entry point."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pyarrow as pa
from pydantic import Field

from dataforge.stage import StageParams, Transform


class SlowParams(StageParams):
    """How long to sleep per batch."""

    seconds: float = Field(0.05, ge=0)


class Slow(Transform):
    """Pass rows through after sleeping (so a test can kill a run half-way)."""

    name = "slow_v1"
    Params = SlowParams
    batch_size = 16

    def transform(self, batch: pa.Table) -> pa.Table:
        """Sleep, then return the batch."""
        time.sleep(self.params.seconds)
        return batch


class CrashParams(StageParams):
    """Which document kills its worker, and the marker file that makes it happen once."""

    doc_id: str
    marker: str


class CrashOnce(Transform):
    """Kill the worker process (SIGKILL) the first time it sees ``doc_id``; afterwards pass rows through."""

    name = "crash_once_v1"
    Params = CrashParams
    example = {"doc_id": "never", "marker": "/nonexistent/marker"}

    def transform(self, batch: pa.Table) -> pa.Table:
        """Die once, then behave."""
        if self.params.doc_id in batch.column("id").to_pylist():
            marker = Path(self.params.marker)
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        return batch


class Boom(Transform):
    """Raise on any row whose text contains BOOM (to test that one bad row is quarantined alone)."""

    name = "boom_v1"

    def transform(self, batch: pa.Table) -> pa.Table:
        """Fail on BOOM."""
        for t in batch.column("text").to_pylist():
            if t and "BOOM" in t:
                raise ValueError("found BOOM in the text")
        return batch


class SetupLogParams(StageParams):
    """Where to log setup() calls."""

    log: str


class SetupLog(Transform):
    """A stateful stage that appends its process id to a file on every setup() (to count actor set-ups)."""

    name = "setup_log_v1"
    Params = SetupLogParams
    stateful = True
    example = {"log": "/dev/null"}

    def setup(self) -> None:
        """Record this process."""
        with open(self.params.log, "a") as fh:
            fh.write(f"{os.getpid()}\n")

    def transform(self, batch: pa.Table) -> pa.Table:
        """Pass rows through."""
        return batch

"""Run a command and report its wall time and the peak total RSS of its whole process tree."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass

import psutil


@dataclass
class Measured:
    """Wall seconds, peak RSS of the process tree in MiB, and the exit code."""

    seconds: float
    peak_mib: float
    returncode: int
    output: str


def run_measured(cmd: list[str], env: dict[str, str] | None = None, interval: float = 0.1) -> Measured:
    """Run ``cmd``, sampling the summed RSS of it and all its descendants every ``interval`` seconds."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    total += p.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            peak = max(peak, total)
            stop.wait(interval)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, _ = proc.communicate()
    stop.set()
    th.join()
    return Measured(time.perf_counter() - t0, peak / 2**20, proc.returncode, out.decode(errors="replace"))

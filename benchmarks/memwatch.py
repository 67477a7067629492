"""Run a command and report its wall time and the peak memory of its whole process tree (RSS, PSS, USS).

RSS counts every page a process maps, so the shared pages of Ray's object store (plasma, an
mmap of /dev/shm that the raylet, the driver and every worker map) are counted once per
process that touched them. PSS divides each shared page between the processes that map it (a
fair total); USS is memory private to one process. :func:`run_measured` samples the summed RSS
every ``interval`` seconds and, every ``full_every`` samples, the full figures per process
(``psutil.memory_full_info``, which reads /proc/PID/smaps and so is slower; off by default). It keeps the
peak per process role (driver, raylet = plasma store, gcs, Ray worker by task name) and a
timeline that :func:`stage_peaks` correlates with a run directory's stage timings.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

MiB = 2**20


@dataclass
class Measured:
    """Wall seconds, peak RSS/PSS/USS of the process tree in MiB, per-role peaks, timeline and exit code."""

    seconds: float
    peak_mib: float
    returncode: int
    output: str
    peak_pss_mib: float = 0.0
    peak_uss_mib: float = 0.0
    #: role -> {"rss": MiB, "pss": MiB, "uss": MiB}: the peak of each figure for one process of that role
    per_role: dict[str, dict[str, float]] = field(default_factory=dict)
    #: (seconds since start, total RSS MiB, total PSS MiB, total USS MiB, {role: PSS MiB}) per full sample
    timeline: list[tuple[float, float, float, float, dict[str, float]]] = field(default_factory=list)
    t0_epoch: float = 0.0
    #: role -> CPU seconds (user + system) summed over the processes of that role, as last sampled
    cpu_by_role: dict[str, float] = field(default_factory=dict)


def role_of(p: psutil.Process, root_pid: int) -> str:
    """A readable role for one process of the tree: driver, raylet, gcs_server, or the Ray worker's current title."""
    if p.pid == root_pid:
        return "driver"
    try:
        cmd = p.cmdline()
        name = p.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "?"
    first = cmd[0] if cmd else name
    if "raylet" in first:
        return "raylet (plasma store)"
    if "gcs_server" in first:
        return "gcs_server"
    if first.startswith("ray::"):
        # worker titles: ray::IDLE, ray::_run_one, ray::MapWorker(MapBatches(_Call)), ...
        return re.sub(r"\s.*", "", first)
    base = Path(first).name
    for part in cmd[1:3]:
        if part.endswith(".py"):
            return f"{base} {Path(part).name}"
    return base


def run_measured(cmd: list[str], env: dict[str, str] | None = None, interval: float = 0.1,
                 full_every: int = 0) -> Measured:
    """Run ``cmd``; sample summed RSS every ``interval`` s and per-process RSS/PSS/USS every ``full_every`` samples.

    ``full_every=0`` (the default) samples RSS only: reading smaps costs CPU (a few ms per
    process), which timed benchmarks on a small machine should not pay.
    """
    t0 = time.perf_counter()
    epoch = time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = peak_pss = peak_uss = 0
    per_role: dict[str, dict[str, float]] = {}
    timeline: list[tuple[float, float, float, float, dict[str, float]]] = []
    cpu_seen: dict[tuple[int, float], tuple[str, float]] = {}  # (pid, start time) -> (role, CPU s when last sampled)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_pss, peak_uss
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        k = 0
        while not stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            full = bool(full_every) and k % full_every == 0
            k += 1
            total = tp = tu = 0
            roles: dict[str, float] = {}
            for p in procs:
                try:
                    if full:
                        mi = p.memory_full_info()
                        rss, pss, uss = mi.rss, getattr(mi, "pss", mi.uss), mi.uss
                        tp += pss
                        tu += uss
                        role = role_of(p, proc.pid)
                        r = per_role.setdefault(role, {"rss": 0.0, "pss": 0.0, "uss": 0.0})
                        r["rss"] = max(r["rss"], rss / MiB)
                        r["pss"] = max(r["pss"], pss / MiB)
                        r["uss"] = max(r["uss"], uss / MiB)
                        roles[role] = roles.get(role, 0.0) + pss / MiB
                    else:
                        rss = p.memory_info().rss
                    total += rss
                    ct = p.cpu_times()
                    key = (p.pid, p.create_time())  # a reused pid is another process
                    prev = cpu_seen.get(key)
                    # a Ray worker's title changes with its task; the role of its first busy sample stays
                    role_now = prev[0] if prev and prev[0] != "ray::IDLE" else role_of(p, proc.pid)
                    cpu_seen[key] = (role_now, ct.user + ct.system)
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    pass
            peak = max(peak, total)
            if full:
                peak_pss, peak_uss = max(peak_pss, tp), max(peak_uss, tu)
                timeline.append((time.perf_counter() - t0, total / MiB, tp / MiB, tu / MiB, roles))
            stop.wait(interval)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, _ = proc.communicate()
    stop.set()
    th.join()
    cpu_by_role: dict[str, float] = {}
    for role, secs in cpu_seen.values():
        cpu_by_role[role] = cpu_by_role.get(role, 0.0) + secs
    return Measured(time.perf_counter() - t0, peak / MiB, proc.returncode, out.decode(errors="replace"),
                    peak_pss / MiB, peak_uss / MiB, per_role, timeline, epoch, cpu_by_role)


def stage_windows(run_dir: Path) -> list[tuple[str, float, float]]:
    """(segment, start epoch, end epoch) of each segment of a finished run, from its stage manifests.

    Segments run one after another and each stage manifest records ``seconds_wall_last_run`` (on
    the first stage of a segment; 0 on the others, which run fused with it). The run ends when
    ``summary.json`` is written, so windows are laid out backwards from its mtime (publishing
    the output takes a moment and is counted into the last segment).
    """
    run_dir = Path(run_dir)
    summary = run_dir / "summary.json"
    if not summary.exists():
        return []
    segs: list[list[Any]] = []
    for man in sorted((run_dir / "stages").glob("*/manifest.json")):
        try:
            m = json.loads(man.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        wall = float(m.get("seconds_wall_last_run") or 0.0)
        if wall > 0 or not segs:
            segs.append([man.parent.name, wall])
        else:
            segs[-1][0] += "+" + man.parent.name
    end = summary.stat().st_mtime
    out = []
    for name, wall in reversed(segs):
        out.append((name, end - wall, end))
        end -= wall
    return out[::-1]


def stage_peaks(m: Measured, run_dir: Path) -> list[dict[str, Any]]:
    """Peak total PSS/RSS and the largest role while each stage of ``run_dir`` ran (from ``m.timeline``)."""
    rows = []
    for stage, s, e in stage_windows(run_dir):
        pts = [x for x in m.timeline if s - 0.5 <= m.t0_epoch + x[0] <= e + 0.5]
        if not pts:
            continue
        top = max(pts, key=lambda x: x[2])
        role = max(top[4].items(), key=lambda kv: kv[1]) if top[4] else ("?", 0.0)
        rows.append({"stage": stage, "seconds": e - s, "peak_rss_mib": max(x[1] for x in pts),
                     "peak_pss_mib": top[2], "peak_uss_mib": max(x[3] for x in pts),
                     "largest_role": role[0], "largest_role_pss_mib": role[1]})
    return rows

"""Run untrusted Python in a separate, resource-limited process without network, and say how it ended.

Each program runs in a fresh child process (``python -I``, stdin closed, environment scrubbed,
a temporary working directory removed afterwards) in its own process group, under:

- ``RLIMIT_AS`` (memory), ``RLIMIT_CPU`` (CPU seconds), ``RLIMIT_CORE`` = 0 (no core files),
  ``RLIMIT_FSIZE`` (bytes a file may grow to) and a process limit: ``RLIMIT_NPROC`` for an
  ordinary user; root ignores ``RLIMIT_NPROC``, so as root the child is put in a fresh
  ``pids`` cgroup (v1 or v2) with ``pids.max`` when the cgroup file system is writable;
- a wall-clock timeout, after which the whole process group (and cgroup) is killed with SIGKILL;
- no network: the child runs in a new, empty network namespace (``unshare -n``, or
  ``unshare -rn`` for an ordinary user) when ``unshare`` works here; otherwise ``socket`` is
  replaced inside the child by a stub that raises, which stops ordinary Python code but not
  native extensions, and :func:`isolation` reports ``network: socket_patch``.

This is a guard against runaway and careless code (infinite loops, memory bombs, fork bombs,
network calls), not a security boundary against a determined attacker: use a container or a VM
for that.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

#: Exit status the bootstrap uses for a MemoryError in the program.
EXIT_MEMORY = 113
#: Exit status the bootstrap uses for a SyntaxError in the program.
EXIT_SYNTAX = 114
#: Exit status the bootstrap uses when the program raised (a failed assert, an exception).
EXIT_FAILED = 1

_BOOTSTRAP = r'''
import os, resource, sys
mem, cpu, fsize, nproc, patch_net, cgroup = {mem!r}, {cpu!r}, {fsize!r}, {nproc!r}, {patch_net!r}, {cgroup!r}
if cgroup:
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as fh:
        fh.write(str(os.getpid()))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
if nproc:
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
if patch_net:
    import socket
    class _NoNetwork(socket.socket):
        def __init__(self, *a, **k):
            raise OSError("network access is disabled in the dataforge sandbox")
    socket.socket = _NoNetwork
    def _refuse(*a, **k):
        raise OSError("network access is disabled in the dataforge sandbox")
    socket.create_connection = _refuse
    socket.getaddrinfo = _refuse
with open("program.py", encoding="utf-8") as fh:
    source = fh.read()
try:
    code = compile(source, "program.py", "exec")
except SyntaxError as exc:
    print(f"SyntaxError: {{exc}}", file=sys.stderr)
    sys.exit({syntax})
if mem:
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
try:
    exec(code, {{"__name__": "__main__", "__file__": "program.py"}})
except MemoryError:
    print("MemoryError: the program exceeded the sandbox memory limit", file=sys.stderr)
    os._exit({memory})
except SystemExit as exc:
    sys.exit(exc.code)
except BaseException:
    import traceback
    traceback.print_exc(limit=4)
    sys.stderr.flush()
    os._exit({failed})
sys.stdout.flush(); sys.stderr.flush()
os._exit(0)
'''


@dataclass
class SandboxLimits:
    """Resource limits of one sandboxed run."""

    timeout_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 1024
    max_processes: int = 16
    max_file_mb: int = 16
    python: str | None = None  # default: this interpreter
    socket_patch: bool = False  # use the in-child socket stub even where a network namespace is available


@dataclass
class SandboxResult:
    """How a sandboxed program ended: status passed | failed | timeout | memory_limit | syntax_error | error."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float

    def detail(self, limit: int = 300) -> str:
        """The last line(s) of stderr (or stdout), bounded, for a drop reason's detail."""
        text = (self.stderr or self.stdout).strip()
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return (lines[-1] if lines else f"exit status {self.returncode}")[:limit]


@lru_cache(maxsize=1)
def isolation() -> dict[str, str]:
    """How this machine isolates sandboxed programs: network (namespace | socket_patch), processes (rlimit | cgroup | none)."""
    unshare = shutil.which("unshare")
    net = "socket_patch"
    prefix: list[str] = []
    if unshare:
        for args in (["-n"], ["-rn"]) if os.geteuid() == 0 else (["-rn"],):
            try:
                ok = subprocess.run([unshare, *args, "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, timeout=10).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
            if ok:
                net, prefix = "namespace", [unshare, *args]
                break
    procs = "rlimit" if os.geteuid() != 0 else ("cgroup" if _cgroup_root() else "none")
    return {"network": net, "processes": procs, "prefix": " ".join(prefix)}


def _cgroup_root() -> Path | None:
    """A writable pids cgroup folder to make per-run cgroups in (root only), or None."""
    if os.geteuid() != 0:
        return None
    for base in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        if not (base / "cgroup.procs").exists():
            continue
        probe = base / f"dataforge-probe-{os.getpid()}"
        try:
            probe.mkdir()
            ok = (probe / "pids.max").exists()
            probe.rmdir()
        except OSError:
            continue
        if ok:
            return base
    return None


def _make_cgroup(max_processes: int) -> Path | None:
    """A fresh pids cgroup limited to max_processes, when running as root with a writable cgroup fs."""
    base = _cgroup_root()
    if base is None:
        return None
    path = base / f"dataforge-sandbox-{os.getpid()}-{time.monotonic_ns()}"
    try:
        path.mkdir()
        (path / "pids.max").write_text(str(max_processes))
    except OSError:
        return None
    return path


def _remove_cgroup(path: Path | None) -> None:
    """Kill whatever is left in a sandbox cgroup and remove it."""
    if path is None:
        return
    for _ in range(50):
        try:
            pids = [int(x) for x in (path / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            path.rmdir()
            return
        except OSError:
            time.sleep(0.02)


def _user_processes() -> int:
    """Processes this user runs now (RLIMIT_NPROC counts them all)."""
    uid = os.getuid()
    n = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


def _read_tail(path: Path, limit: int = 8192) -> str:
    """The last ``limit`` bytes of a file as text."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run_python(source: str, limits: SandboxLimits) -> SandboxResult:
    """Run ``source`` as a Python program in the sandbox and classify how it ended."""
    iso = dict(isolation())
    if limits.socket_patch:
        iso["network"], iso["prefix"] = "socket_patch", ""
    workdir = Path(tempfile.mkdtemp(prefix="dataforge-sandbox-"))
    cgroup = _make_cgroup(limits.max_processes) if iso["processes"] == "cgroup" else None
    nproc = _user_processes() + limits.max_processes if iso["processes"] == "rlimit" else 0
    start = time.monotonic()
    proc: subprocess.Popen | None = None
    try:
        (workdir / "program.py").write_text(source, encoding="utf-8")
        boot = _BOOTSTRAP.format(mem=limits.memory_mb * 2**20, cpu=max(1, int(limits.cpu_s)),
                                 fsize=limits.max_file_mb * 2**20, nproc=nproc,
                                 patch_net=iso["network"] != "namespace", cgroup=str(cgroup) if cgroup else "",
                                 syntax=EXIT_SYNTAX, memory=EXIT_MEMORY, failed=EXIT_FAILED)
        (workdir / "bootstrap.py").write_text(boot, encoding="utf-8")
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(workdir),
               "TMPDIR": str(workdir), "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        cmd = [*(iso["prefix"].split() if iso["prefix"] else []), limits.python or sys.executable, "-I",
               "bootstrap.py"]
        with open(workdir / "stdout.txt", "wb") as out, open(workdir / "stderr.txt", "wb") as err:
            proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True, close_fds=True)
            timed_out = False
            try:
                rc = proc.wait(timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                rc = None
            _kill_group(proc)
            if rc is None:
                rc = proc.wait()
        seconds = time.monotonic() - start
        stdout, stderr = _read_tail(workdir / "stdout.txt"), _read_tail(workdir / "stderr.txt")
        status = _classify(rc, timed_out, stderr)
        return SandboxResult(status, rc, stdout, stderr, seconds)
    finally:
        if proc is not None and proc.poll() is None:
            _kill_group(proc)
            proc.wait()
        _remove_cgroup(cgroup)
        shutil.rmtree(workdir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's whole process group (its own session), ignoring a group already gone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _classify(rc: int | None, timed_out: bool, stderr: str) -> str:
    """Map an exit to a status."""
    if timed_out:
        return "timeout"
    if rc == 0:
        return "passed"
    if rc == EXIT_SYNTAX:
        return "syntax_error"
    if rc == EXIT_MEMORY or (rc is not None and rc < 0 and "MemoryError" in stderr):
        return "memory_limit"
    if rc in (-signal.SIGXCPU, -signal.SIGKILL) and not stderr.strip():
        return "timeout"  # the CPU limit (SIGXCPU, then SIGKILL at the hard limit)
    if rc is not None and rc < 0 and "memory" in stderr.lower():
        return "memory_limit"
    return "failed"

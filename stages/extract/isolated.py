"""Run a function over items in a child process with a real per-item time limit.

Extractors such as trafilatura can spend minutes in a regular expression or an lxml call on a
pathological page, and neither ``signal.alarm`` (main thread only, and it cannot interrupt C
code) nor a worker thread (a Python thread cannot be killed) can stop that. A child process
can: when an item runs past its limit the child is killed, the item is reported as timed out,
and a fresh child carries on with the next item. A child that dies (a segfault in a C
extension) is reported the same way. This works inside Ray workers, threads and actors alike.

The child is a plain ``python -m dataforge.stages.extract.isolated`` talking length-prefixed
pickles over its stdin/stdout pipes, one item at a time (so neither side can block the other
on a full pipe). It builds its function once from a ``"module:factory"`` target and a config,
kills itself if the parent dies (Linux ``PR_SET_PDEATHSIG``), and ignores SIGINT so that
Ctrl-C is handled by the parent alone.
"""

from __future__ import annotations

import importlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

_HEADER = struct.Struct("<Q")


@dataclass(frozen=True)
class Outcome:
    """What became of one item: ``ok`` (with its value), ``error``, ``timeout`` or ``crashed`` (with a message)."""

    status: str
    value: Any = None
    message: str = ""


def build(target: str, config: Any) -> Callable[[Any], Any]:
    """Import ``module:factory`` and call it with ``config`` to get the per-item function."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)(config)


def call(fn: Callable[[Any], Any], item: Any) -> Outcome:
    """Apply ``fn`` to one item, turning an exception into an ``error`` outcome."""
    try:
        return Outcome("ok", fn(item))
    except Exception as exc:  # noqa: BLE001 - a bad item is reported, never fatal
        return Outcome("error", message=f"{type(exc).__name__}: {str(exc)[:300]}")


class IsolatedRunner:
    """Applies ``target(config)`` to items in a child process, each item within ``timeout_s`` seconds."""

    def __init__(self, target: str, config: Any, timeout_s: float, start_timeout_s: float = 120.0) -> None:
        """Remember what to run; the child starts on first use."""
        self.target = target
        self.config = config
        self.timeout_s = timeout_s
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None
        self.restarts = 0

    # -- child lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the child and wait until it has built its function (so import time is not billed to an item)."""
        if self._proc is not None and self._proc.poll() is None:
            return
        env = dict(os.environ)
        paths = [p for p in sys.path if p and os.path.isdir(p)]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths + env.get("PYTHONPATH", "").split(os.pathsep)))
        env["PYTHONUNBUFFERED"] = "1"
        proc = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, env=env, close_fds=True,
        )
        self._proc = proc
        self._finalizer = weakref.finalize(self, _kill, proc)
        self._send(pickle.dumps((self.target, self.config), protocol=pickle.HIGHEST_PROTOCOL))
        reply = self._receive(time.monotonic() + self.start_timeout_s)
        if reply is None:
            self.close()
            raise RuntimeError(
                f"the isolated extraction worker ({self.target}) did not start within {self.start_timeout_s:.0f} s; "
                "check that the extra dependencies are installed in this Python environment"
            )
        status, message = pickle.loads(reply)
        if status != "ready":
            self.close()
            raise RuntimeError(f"the isolated extraction worker could not build {self.target}: {message}")

    def close(self) -> None:
        """Kill the child (if any)."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._proc = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the configuration only; a copy starts its own child."""
        state = dict(self.__dict__)
        state["_proc"] = None
        state["_finalizer"] = None
        return state

    # -- work ----------------------------------------------------------------------------------
    def map(self, items: Iterable[Any]) -> Iterator[Outcome]:
        """Yield one Outcome per item, in order; a timed-out or crashed item restarts the child."""
        for item in items:
            yield self.run_one(item)

    def run_one(self, item: Any) -> Outcome:
        """Run one item in the child within the time limit."""
        self.start()
        payload = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._send(payload)
        except (BrokenPipeError, OSError):
            return self._crashed("the worker process had exited before the item was sent")
        try:
            reply = self._receive(time.monotonic() + self.timeout_s)
        except EOFError:
            return self._crashed("the worker process died while extracting (likely a crash in a C extension)")
        if reply is None:
            self.close()
            self.restarts += 1
            return Outcome("timeout", message=f"no result within {self.timeout_s:g} s; the worker was killed")
        return pickle.loads(reply)

    def _crashed(self, message: str) -> Outcome:
        code = self._proc.poll() if self._proc is not None else None
        self.close()
        self.restarts += 1
        return Outcome("crashed", message=f"{message} (exit status {code})")

    # -- framing -------------------------------------------------------------------------------
    def _send(self, payload: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(_HEADER.pack(len(payload)))
        self._proc.stdin.write(payload)
        self._proc.stdin.flush()

    def _receive(self, deadline: float) -> bytes | None:
        """Read one frame; None if the deadline passes first; EOFError if the child is gone."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        head = _read_exact(fd, _HEADER.size, deadline)
        if head is None:
            return None
        (size,) = _HEADER.unpack(head)
        return _read_exact(fd, size, deadline)


def _read_exact(fd: int, size: int, deadline: float) -> bytes | None:
    """Read exactly ``size`` bytes from a pipe before ``deadline``; None on timeout, EOFError on EOF."""
    chunks: list[bytes] = []
    need = size
    while need:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, min(need, 1 << 20))
        if not chunk:
            raise EOFError("worker pipe closed")
        chunks.append(chunk)
        need -= len(chunk)
    return b"".join(chunks)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill a child process and reap it."""
    if proc.poll() is None:
        try:
            proc.kill()
        except OSError:
            pass
    for stream in (proc.stdin, proc.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


# -- the child side ------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent exits (best effort elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child_main() -> None:
    """Serve items from stdin until it closes: build the function, then one reply frame per item."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints from libraries must not corrupt the frames

    def read_frame() -> bytes | None:
        head = inp.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack(head)
        return inp.read(size)

    def write(obj: Any) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_HEADER.pack(len(data)))
        out.write(data)
        out.flush()

    first = read_frame()
    if first is None:
        return
    target, config = pickle.loads(first)
    try:
        fn = build(target, config)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises with the fix
        write(("failed", f"{type(exc).__name__}: {exc}"))
        return
    write(("ready", ""))
    while True:
        frame = read_frame()
        if frame is None:
            return
        write(call(fn, pickle.loads(frame)))


if __name__ == "__main__":
    # Run the copy imported under the package name, so outcomes pickle as that module's Outcome.
    from dataforge.stages.extract.isolated import _child_main as _main

    _main()

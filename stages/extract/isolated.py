"""Run a function over items in a child process with a real per-item time limit.

Extractors such as trafilatura can spend minutes in a regular expression or an lxml call on a
pathological page, and neither ``signal.alarm`` (main thread only, and it cannot interrupt C
code) nor a worker thread (a Python thread cannot be killed) can stop that. A child process
can: when an item runs past its limit the child is killed, the item is reported as timed out,
and a fresh child carries on with the items after it. A child that dies (a segfault in a C
extension) is reported the same way. This works inside Ray workers, threads and actors alike.

Protocol. The child is a bare ``python -c`` that loads this file and the target module by path,
so it never imports ``dataforge`` (nor pyarrow or pydantic): it starts in the time its
extractor takes to import. The parent streams a whole batch of items into the child's stdin
(raw bytes for ``bytes`` items, a pickle otherwise, each behind a small header) while it reads
the child's replies (one pickled ``(status, value, message)`` per item, in order) from its
stdout; both pipes are non-blocking on the parent's side and served by one ``select`` loop, so
neither side can block the other, and the transfer of the next item overlaps the work on the
current one instead of adding a round trip per item.

Per-item accounting. Item ``k``'s clock starts when the reply to item ``k - 1`` arrives (for
the first item: when the batch starts), so each item still gets exactly ``timeout_s`` of the
child's time, however the batch is cut. When item ``k`` runs over, the child is killed, ``k``
becomes a ``timeout`` outcome and a fresh child is sent the items after ``k``; when the child
dies, ``k`` becomes ``crashed`` the same way. Items before ``k`` keep their replies.

The child kills itself if the parent dies (Linux ``PR_SET_PDEATHSIG``) and ignores SIGINT so that
Ctrl-C is handled by the parent alone.
"""

from __future__ import annotations

import importlib
import importlib.util
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
from typing import Any, Callable, Iterable, Iterator, Sequence

#: Parent -> child frame header: kind (``C`` set-up, ``B`` raw bytes, ``P`` pickle) and payload size.
_IN_HEADER = struct.Struct("<cQ")
#: Child -> parent frame header: payload size (a pickled ``(status, value, message)`` tuple).
_OUT_HEADER = struct.Struct("<Q")
#: Pipe capacity asked for (Linux ``F_SETPIPE_SZ``; 1 MiB is the unprivileged maximum by default).
PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031
_READ_CHUNK = 1 << 20
#: Bootstrap of the child: load this file by path (not through the ``dataforge`` package) and serve.
_BOOT = ("import importlib.util as u, sys; n = '_dataforge_isolated_child'; s = u.spec_from_file_location(n, sys.argv[1]); "
         "m = sys.modules[n] = u.module_from_spec(s); s.loader.exec_module(m); m._child_main()")


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
    status, value, message = _call(fn, item)
    return Outcome(status, value, message)


def _call(fn: Callable[[Any], Any], item: Any) -> tuple[str, Any, str]:
    """Apply ``fn`` to one item as a plain ``(status, value, message)`` tuple (what the child sends back)."""
    try:
        return "ok", fn(item), ""
    except Exception as exc:  # noqa: BLE001 - a bad item is reported, never fatal
        return "error", None, f"{type(exc).__name__}: {str(exc)[:300]}"


def module_file(module: str) -> str | None:
    """The source file of an importable module (None for built-in, frozen or namespace modules)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = getattr(spec, "origin", None) if spec is not None else None
    return origin if origin and origin.endswith(".py") and os.path.isfile(origin) else None


class IsolatedRunner:
    """Applies ``target(config)`` to items in a child process, each item within ``timeout_s`` seconds.

    ``target`` is ``"module:factory"``; the child loads the module from its file without importing
    the packages above it, so the module should import what it needs inside the factory.
    ``config`` is pickled to the child: keep it to built-in types (a dict, not a dataclass of a
    package module) so that unpickling it imports nothing.
    """

    def __init__(self, target: str, config: Any, timeout_s: float, start_timeout_s: float = 120.0) -> None:
        """Remember what to run; the child starts on first use (or ``start()``)."""
        self.target = target
        self.config = config
        self.timeout_s = timeout_s
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None
        self._ready = False
        self._inbox = bytearray()  # reply bytes read but not yet parsed
        self.restarts = 0

    # -- child lifecycle ---------------------------------------------------------------------
    def start(self, wait: bool = True) -> None:
        """Start the child; with ``wait``, also wait until it has built its function.

        ``wait=False`` returns at once, so the child imports its extractor while the caller does
        other work; the first ``map`` waits for it (import time is never billed to an item).
        """
        if self._proc is None or self._proc.poll() is not None:
            self._spawn()
        if wait and not self._ready:
            self._await_ready()

    def _spawn(self) -> None:
        """Launch a fresh child and send it the target and config."""
        self.close()
        env = dict(os.environ)
        paths = [p for p in sys.path if p and os.path.isdir(p)]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths + env.get("PYTHONPATH", "").split(os.pathsep)))
        env["PYTHONUNBUFFERED"] = "1"
        proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, os.path.abspath(__file__)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, env=env, close_fds=True,
        )
        self._proc = proc
        self._finalizer = weakref.finalize(self, _kill, proc)
        self._ready = False
        self._inbox = bytearray()
        assert proc.stdin is not None and proc.stdout is not None
        for fd in (proc.stdin.fileno(), proc.stdout.fileno()):
            _grow_pipe(fd)
        module, _, name = self.target.partition(":")
        setup = pickle.dumps((module_file(module), module, name, self.config), protocol=pickle.HIGHEST_PROTOCOL)
        os.write(proc.stdin.fileno(), _IN_HEADER.pack(b"C", len(setup)) + setup)  # small: fits the empty pipe
        os.set_blocking(proc.stdin.fileno(), False)

    def _await_ready(self) -> None:
        """Wait for the child's ``ready`` (or its failure to build the target), raising with the fix."""
        try:
            reply = self._receive(time.monotonic() + self.start_timeout_s)
        except EOFError:
            reply = pickle.dumps(("failed", None, "the process exited while starting"))
        if reply is None:
            self.close()
            raise RuntimeError(
                f"the isolated extraction worker ({self.target}) did not start within {self.start_timeout_s:.0f} s; "
                "check that the extra dependencies are installed in this Python environment"
            )
        status, _, message = pickle.loads(reply)
        if status != "ready":
            self.close()
            raise RuntimeError(f"the isolated extraction worker could not build {self.target}: {message}")
        self._ready = True

    def close(self) -> None:
        """Kill the child (if any)."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._proc = None
        self._ready = False

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the configuration only; a copy starts its own child."""
        state = dict(self.__dict__)
        state.update(_proc=None, _finalizer=None, _ready=False, _inbox=bytearray())
        return state

    # -- work ----------------------------------------------------------------------------------
    def map(self, items: Iterable[Any]) -> Iterator[Outcome]:
        """Yield one Outcome per item, in order; items stream to the child as a batch (see the module doc)."""
        batch = items if isinstance(items, Sequence) else list(items)
        done = 0
        while done < len(batch):
            outcomes = self._stream(batch, done)
            yield from outcomes
            done += len(outcomes)

    def run_one(self, item: Any) -> Outcome:
        """Run one item in the child within the time limit."""
        return next(iter(self.map([item])))

    def _stream(self, items: Sequence[Any], first: int) -> list[Outcome]:
        """Send ``items[first:]`` and collect replies until all are in or one item times out or crashes.

        Returns the outcomes of ``items[first:first + len(result)]``: all of them, or those up to
        and including the first item that timed out or killed the child (which is then restarted
        by the next call).
        """
        self.start()
        try:
            return self._exchange(items, first)
        except BaseException:
            self.close()  # a stream cut short (Ctrl-C, a bad item) must not leave replies for the next one
            raise

    def _exchange(self, items: Sequence[Any], first: int) -> list[Outcome]:
        """The select loop of ``_stream``: write frames as the pipe takes them, read replies as they come."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        wfd, rfd = proc.stdin.fileno(), proc.stdout.fileno()
        frames = _frames(items, first)
        pending: memoryview | None = None  # the part of the current frame not yet written
        out: list[Outcome] = []
        total = len(items) - first
        deadline = time.monotonic() + self.timeout_s
        writing = True
        while len(out) < total:
            if writing and pending is None:
                nxt = next(frames, None)
                if nxt is None:
                    writing = False
                else:
                    pending = nxt
            left = deadline - time.monotonic()
            if left <= 0:
                return out + [self._timed_out()]
            readable, writable, _ = select.select([rfd], [wfd] if writing else [], [], left)
            if writable and pending is not None:
                try:
                    sent = os.write(wfd, pending)
                except BlockingIOError:
                    sent = 0
                except (BrokenPipeError, OSError):
                    writing, pending = False, None  # the child is gone: its replies so far are still readable
                    continue
                pending = pending[sent:] if sent < len(pending) else None
            if readable:
                try:
                    replies = self._read_replies(rfd)
                except EOFError:
                    return out + [self._crashed("the worker process died while extracting "
                                                "(likely a crash in a C extension)")]
                for status, value, message in replies:
                    out.append(Outcome(status, value, message))
                    deadline = time.monotonic() + self.timeout_s  # the next item's clock starts now
        return out

    def _read_replies(self, fd: int) -> list[tuple[str, Any, str]]:
        """Read what the child has written and return the complete replies (EOFError when it has exited)."""
        chunk = os.read(fd, _READ_CHUNK)
        if not chunk:
            raise EOFError("worker pipe closed")
        inbox = self._inbox
        inbox += chunk
        replies = []
        pos = 0
        with memoryview(inbox) as view:
            while len(view) - pos >= _OUT_HEADER.size:
                (size,) = _OUT_HEADER.unpack_from(view, pos)
                end = pos + _OUT_HEADER.size + size
                if len(view) < end:
                    break
                replies.append(pickle.loads(view[pos + _OUT_HEADER.size:end]))
                pos = end
        if pos:
            del inbox[:pos]
        return replies

    def _timed_out(self) -> Outcome:
        """Kill the child over an item that ran past its limit."""
        self.close()
        self.restarts += 1
        return Outcome("timeout", message=f"no result within {self.timeout_s:g} s; the worker was killed")

    def _crashed(self, message: str) -> Outcome:
        """Report the child's death on the current item and forget it (the next call starts a fresh one)."""
        code = None
        if self._proc is not None:
            try:
                code = self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
        self.close()
        self.restarts += 1
        return Outcome("crashed", message=f"{message} (exit status {code})")

    # -- framing -------------------------------------------------------------------------------
    def _receive(self, deadline: float) -> bytes | None:
        """Read one reply frame; None if the deadline passes first; EOFError if the child is gone."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        head = _read_exact(fd, _OUT_HEADER.size, deadline)
        if head is None:
            return None
        (size,) = _OUT_HEADER.unpack(head)
        return _read_exact(fd, size, deadline)


def _frames(items: Sequence[Any], first: int) -> Iterator[memoryview]:
    """The input frames for ``items[first:]``: bytes-like items as raw bytes (the function gets ``bytes``), others pickled."""
    for i in range(first, len(items)):
        item = items[i]
        if isinstance(item, (bytes, bytearray, memoryview)):
            view = memoryview(item).cast("B")  # sent as it is, without a copy
            yield memoryview(_IN_HEADER.pack(b"B", view.nbytes))
            if view.nbytes:
                yield view
        else:
            data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
            yield memoryview(_IN_HEADER.pack(b"P", len(data)) + data)


def _grow_pipe(fd: int) -> None:
    """Ask for a larger pipe buffer (fewer wake-ups per large page); best effort, Linux only."""
    try:
        import fcntl

        fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, OSError):
        pass


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
        chunk = os.read(fd, min(need, _READ_CHUNK))
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


def _load_target(path: str | None, module: str, name: str) -> Callable[[Any], Any]:
    """The factory ``module:name``, loaded from its file when known (without importing its parent packages)."""
    if path is None:
        return getattr(importlib.import_module(module), name)
    spec = importlib.util.spec_from_file_location(module, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {module} from {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module] = mod
    spec.loader.exec_module(mod)
    return getattr(mod, name)


def _child_main() -> None:
    """Serve items from stdin until it closes: build the function, then one reply frame per item."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints from libraries must not corrupt the frames

    def read_frame() -> tuple[bytes, bytes] | None:
        """The next (kind, payload) frame from the parent; None when its pipe closes."""
        head = inp.read(_IN_HEADER.size)
        if len(head) < _IN_HEADER.size:
            return None
        kind, size = _IN_HEADER.unpack(head)
        data = inp.read(size) if size else b""
        if len(data) < size:
            return None
        return kind, data

    def write(obj: tuple[str, Any, str]) -> None:
        """Send one reply frame."""
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_OUT_HEADER.pack(len(data)) + data)
        out.flush()

    first = read_frame()
    if first is None:
        return
    path, module, name, config = pickle.loads(first[1])
    try:
        fn = _load_target(path, module, name)(config)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises with the fix
        write(("failed", None, f"{type(exc).__name__}: {exc}"))
        return
    write(("ready", None, ""))
    while True:
        frame = read_frame()
        if frame is None:
            return
        kind, data = frame
        write(_call(fn, data if kind == b"B" else pickle.loads(data)))

"""Run generated code against its tests in a sandboxed subprocess; keep what passes."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
from pydantic import Field

from dataforge.schema import with_columns
from dataforge.stage import Filter, StageParams

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_CHECK_DEF = re.compile(r"^def\s+check\s*\(", re.MULTILINE)


def extract_code(text: str | None) -> str | None:
    """The program in a model response: the last fenced block defining a function, else the last block, else all."""
    if text is None or not text.strip():
        return None
    blocks = [b for b in _FENCE.findall(text) if b.strip()]
    if not blocks:
        return text
    with_def = [b for b in blocks if re.search(r"^\s*(?:def|class)\s", b, re.MULTILINE)]
    return (with_def or blocks)[-1]


def build_program(code: str, tests: str, prompt: str | None = None, entry_point: str | None = None) -> str:
    """The program the sandbox runs: [prompt +] code, then the tests, then ``check(entry_point)`` for HumanEval tests."""
    parts = []
    if prompt:
        parts.append(prompt.rstrip("\n") + "\n")
    parts.append(code.rstrip("\n") + "\n")
    parts.append("\n" + tests.rstrip("\n") + "\n")
    if entry_point and _CHECK_DEF.search(tests) and not re.search(rf"^check\(\s*{re.escape(entry_point)}\s*\)",
                                                                   tests, re.MULTILINE):
        parts.append(f"\ncheck({entry_point})\n")
    return "".join(parts)


class VerifyCodeParams(StageParams):
    """Which columns hold the code and tests, and the sandbox's limits."""

    code_column: str = Field("response", description="the generated code (a response with ```python fences is fine)")
    tests_column: str = Field("tests", description="assert lines, or a HumanEval `def check(candidate)` block")
    prompt_column: str | None = Field(
        None, description="prepended to the code (HumanEval completions continue the prompt's function header)")
    entry_point_column: str | None = Field(
        "entry_point", description="function passed to check(); missing column or null: tests must call it")
    timeout_s: float = Field(10.0, gt=0, description="wall-clock limit per row; the process group is killed after it")
    cpu_s: int = Field(10, ge=1, description="RLIMIT_CPU seconds per row")
    memory_mb: int = Field(1024, ge=64, description="RLIMIT_AS per row, MiB")
    max_processes: int = Field(16, ge=1, description="processes a program may have (RLIMIT_NPROC, or a pids cgroup as root)")
    max_file_mb: int = Field(16, ge=1, description="RLIMIT_FSIZE: largest file a program may write, MiB")
    parallelism: int = Field(2, ge=1, le=256, description="rows of a batch run at the same time")
    python: str | None = Field(None, description="interpreter that runs the code (default: the worker's own)")
    prefix: str = Field("code_", description="prefix of the added column <prefix>status")


#: Sandbox status -> drop reason.
REASONS = {"failed": "tests_failed", "timeout": "timeout", "memory_limit": "memory_limit",
           "syntax_error": "syntax_error", "error": "sandbox_error"}


class VerifyCode(Filter):
    """Keep generated code that passes its tests, run in a sandboxed subprocess (HumanEval / MBPP style).

    Each row's program is ``[prompt +] code + tests`` (plus ``check(<entry_point>)`` when the
    tests define a HumanEval ``check(candidate)``), run by :mod:`sandbox` in a fresh ``python -I``
    process: own process group, stdin closed, scrubbed environment, temporary working directory,
    ``RLIMIT_AS``/``RLIMIT_CPU``/``RLIMIT_FSIZE``, no core files, a process limit, a wall-clock
    timeout that kills the process group, and no network (an empty network namespace through
    ``unshare`` when available, else a ``socket`` stub in the child; see ``versions()``). Up to
    ``parallelism`` rows of a batch run at once. Code is taken from the last fenced block that
    defines a function (or the whole response without fences).

    Adds ``<prefix>status`` (passed, failed, timeout, memory_limit, syntax_error). Reasons:
    ``tests_failed`` (an assert or exception; detail: its last line), ``timeout`` (a hang, or the
    CPU limit), ``memory_limit``, ``syntax_error``, ``no_code``, ``no_tests``. A verifier that
    hangs costs ``timeout_s`` and the run goes on. Not a security boundary against hostile code:
    run untrusted generations inside a container as well.
    """

    name = "verify_code_v1"
    Params = VerifyCodeParams
    batch_size = 64
    example = {"code_column": "text", "tests_column": "text", "timeout_s": 5.0}

    def versions(self) -> dict[str, str]:
        """How this machine isolates the programs (network namespace or socket stub; process limit)."""
        from dataforge.stages.synth.sandbox import isolation

        iso = isolation()
        return {"sandbox_network": iso["network"], "sandbox_processes": iso["processes"]}

    def _columns(self, batch: pa.Table) -> tuple[list[Any], ...]:
        """The code, tests, prompt and entry-point values of the batch."""
        p: VerifyCodeParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        for col in (p.code_column, p.tests_column):
            if col not in batch.column_names:
                raise ValueError(f"{self.name}: column {col!r} is not in the data (columns: {batch.column_names}); "
                                 "set params.code_column / params.tests_column")
        if p.prompt_column and p.prompt_column not in batch.column_names:
            raise ValueError(f"{self.name}: prompt_column {p.prompt_column!r} is not in the data; fix or unset it")

        def col(name: str | None) -> list[Any]:
            return batch.column(name).to_pylist() if name and name in batch.column_names else [None] * n

        return col(p.code_column), col(p.tests_column), col(p.prompt_column), col(p.entry_point_column)

    def _run(self, batch: pa.Table) -> tuple[list[str | None], list[str | None], list[str | None]]:
        """Per row: status, drop reason, detail."""
        from dataforge.stages.synth.sandbox import SandboxLimits, run_python

        p: VerifyCodeParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        if n == 0:
            return [], [], []
        codes, tests, prompts, entries = self._columns(batch)
        limits = SandboxLimits(timeout_s=p.timeout_s, cpu_s=p.cpu_s, memory_mb=p.memory_mb,
                               max_processes=p.max_processes, max_file_mb=p.max_file_mb, python=p.python)
        status: list[str | None] = [None] * n
        reasons: list[str | None] = [None] * n
        details: list[str | None] = [None] * n
        jobs: dict[int, str] = {}
        for i in range(n):
            code = extract_code(codes[i])
            if code is None:
                reasons[i], details[i] = "no_code", f"column {p.code_column!r} is empty"
                continue
            if tests[i] is None or not str(tests[i]).strip():
                reasons[i], details[i] = "no_tests", f"column {p.tests_column!r} is empty"
                continue
            jobs[i] = build_program(code, str(tests[i]), prompts[i], entries[i])
        with ThreadPoolExecutor(max_workers=min(p.parallelism, max(1, len(jobs)))) as pool:
            results = dict(zip(jobs, pool.map(lambda src: run_python(src, limits), jobs.values())))
        for i, r in results.items():
            status[i] = r.status
            if r.status != "passed":
                reasons[i] = REASONS.get(r.status, "sandbox_error")
                details[i] = (f"no result within {p.timeout_s:g} s wall / {p.cpu_s} s CPU"
                              if r.status == "timeout" else r.detail())
        return status, reasons, details

    def annotate(self, batch: pa.Table) -> pa.Table:
        """Run every row's program and add its status."""
        p: VerifyCodeParams = self.params  # type: ignore[assignment]
        status, reasons, details = self._run(batch)
        self._last = (reasons, details)
        return with_columns(batch, {f"{p.prefix}status": pa.array(status, pa.string())})

    def reasons(self, batch: pa.Table) -> tuple[list[str | None], list[str | None]]:
        """The reasons found while annotating this batch (the programs run once)."""
        last: Any = getattr(self, "_last", None)
        self._last = None
        if last is None or len(last[0]) != batch.num_rows:
            _, reasons, details = self._run(batch)
            return reasons, details
        return last

"""Verifier accuracy on real benchmarks: GSM8K answers in many spellings (verify_math_v1), HumanEval in the sandbox (verify_code_v1).

    python benchmarks/verify/bench.py [--data ../shared/data/benchmarks] [--math-limit N] [--code-limit N]

Math: each GSM8K test solution's final answer is re-spelled (\\boxed{}, "The answer is", $ and
thousands separators, trailing units, decimals, LaTeX fractions) and must verify against the
reference (recall); the same spellings checked against another problem's answer must fail
(specificity; pairs whose answers are equal are left out). Code: HumanEval canonical solutions
must pass their tests in the sandbox, and each task's solution replaced by ``return None`` or
by an infinite loop must fail with tests_failed / timeout. Writes RESULTS.md beside this file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa

HERE = Path(__file__).resolve().parent


def spellings(ans: str) -> dict[str, str]:
    """The same final answer written as model outputs do."""
    n = ans.replace(",", "")
    v = float(n)
    out = {
        "gsm8k": f"Step by step...\n#### {ans}",
        "boxed": f"So the result is $\\boxed{{{n}}}$.",
        "answer_is": f"Adding up, the answer is {n}.",
        "currency": f"The final answer is ${int(v):,}" if v == int(v) else f"The final answer is ${v:,.2f}",
        "decimal": f"\\boxed{{{v:.2f}}}",
        "unit": f"The answer is {n} dollars.",
        "latex_frac": f"\\boxed{{\\dfrac{{{int(v * 2)}}}{{2}}}}" if v == int(v) else f"\\boxed{{{n}}}",
        "text_wrapped": f"\\boxed{{\\text{{{n}}}}}",
    }
    return out


def bench_math(path: Path, limit: int | None) -> tuple[list[list[str]], dict]:
    """Recall per spelling and specificity against other problems' answers."""
    from dataforge.stages.synth.verify_math import VerifyMath

    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()][:limit]
    finals = [r["answer"].rsplit("####", 1)[1].strip() for r in rows]
    stage = VerifyMath()
    table = []
    totals = Counter()
    t0 = time.perf_counter()
    checked = 0
    for kind in spellings("1").keys():
        resp = [spellings(a)[kind] for a in finals]
        ids = [str(i) for i in range(len(rows))]
        pos = stage(pa.table({"id": ids, "response": resp, "reference_answer": finals}))
        other = finals[1:] + finals[:1]
        differ = [i for i in range(len(rows)) if float(other[i].replace(",", "")) != float(finals[i].replace(",", ""))]
        neg = stage(pa.table({"id": [ids[i] for i in differ], "response": [resp[i] for i in differ],
                              "reference_answer": [other[i] for i in differ]}))
        checked += len(rows) + len(differ)
        recall = pos.kept.num_rows / len(rows)
        spec = 1 - neg.kept.num_rows / max(1, len(differ))
        totals["pos"] += len(rows); totals["tp"] += pos.kept.num_rows
        totals["neg"] += len(differ); totals["fp"] += neg.kept.num_rows
        table.append([kind, str(len(rows)), f"{recall:.4f}", str(len(differ)), f"{spec:.4f}"])
    secs = time.perf_counter() - t0
    table.append(["all", str(totals["pos"]), f"{totals['tp'] / totals['pos']:.4f}", str(totals["neg"]),
                  f"{1 - totals['fp'] / totals['neg']:.4f}"])
    return table, {"checks": checked, "seconds": secs}


def bench_code(path: Path, limit: int | None, parallelism: int, loop_limit: int) -> tuple[list[list[str]], dict]:
    """Canonical solutions must pass; broken and hanging ones must fail with the right reason."""
    from dataforge.stages.synth.sandbox import isolation
    from dataforge.stages.synth.verify_code import VerifyCode

    with gzip.open(path, "rt", encoding="utf-8") as fh:
        tasks = [json.loads(line) for line in fh][:limit]
    ids = [t["task_id"] for t in tasks]
    base = {"id": ids, "prompt": [t["prompt"] for t in tasks], "tests": [t["test"] for t in tasks],
            "entry_point": [t["entry_point"] for t in tasks]}
    variants = {
        "canonical": ([t["canonical_solution"] for t in tasks], "passed"),
        "return_none": (["    return None\n"] * len(tasks), "tests_failed"),
        "infinite_loop": (["    while True:\n        pass\n"] * len(tasks), "timeout"),
    }
    table = []
    info = {"isolation": isolation()}
    for name, (codes, expect) in variants.items():
        stage = VerifyCode(prompt_column="prompt", timeout_s=3 if name == "infinite_loop" else 10,
                           parallelism=parallelism)
        t = pa.table({**base, "response": codes})
        if name == "infinite_loop":  # each costs the full timeout: a subset shows the behaviour
            t = t.slice(0, loop_limit)
        tasks_n = t.num_rows
        t0 = time.perf_counter()
        res = stage(t)
        secs = time.perf_counter() - t0
        reasons = Counter(res.dropped.column("reason").to_pylist()) if res.dropped is not None else Counter()
        got = res.kept.num_rows if expect == "passed" else reasons[expect]
        table.append([name, str(tasks_n), expect, str(got), f"{got / tasks_n:.4f}",
                      ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())) or "-", f"{tasks_n / secs:.1f}"])
    return table, info


def render(headers: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def main() -> None:
    """Run both benchmarks, print the tables, write RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE.parents[2] / "shared" / "data" / "benchmarks")
    ap.add_argument("--math-limit", type=int, default=None, help="GSM8K problems (default: all 1,319)")
    ap.add_argument("--code-limit", type=int, default=None, help="HumanEval tasks (default: all 164)")
    ap.add_argument("--parallelism", type=int, default=2)
    ap.add_argument("--loop-limit", type=int, default=20, help="tasks run with an infinite loop (each takes the timeout)")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no benchmark data at {args.data}; pass --data")
    cmd = "python benchmarks/verify/bench.py " + " ".join(sys.argv[1:])
    math_rows, minfo = bench_math(args.data / "gsm8k_test.jsonl", args.math_limit)
    code_rows, cinfo = bench_code(args.data / "HumanEval.jsonl.gz", args.code_limit, args.parallelism, args.loop_limit)
    mt = render(["spelling", "problems", "recall (verified)", "wrong-answer pairs", "specificity (rejected)"], math_rows)
    ct = render(["solutions", "tasks", "expected", "got", "share", "drop reasons", "tasks/s (smoke run)"], code_rows)
    print(mt, "\n", ct, sep="\n")
    text = f"""# Verifiers on real benchmarks

Command: `{cmd.strip()}` (from the repository root; data: `../shared/data/benchmarks`).
Machine: {platform.machine()}, Python {platform.python_version()}; sandbox isolation: {cinfo['isolation']['network']} network,
{cinfo['isolation']['processes']} process limit.

## verify_math_v1 on GSM8K test ({minfo['checks']:,} checks)

Each reference final answer re-spelled as a model would write it must verify against the
reference (recall); the same response checked against a different problem's answer must be
rejected (specificity).

{mt}

## verify_code_v1 on HumanEval (sandboxed subprocesses)

Accuracy figures are complete runs. The tasks/s column is a smoke-run throughput on a shared
2-core machine (parallelism {args.parallelism}), to be rerun serially; the infinite-loop row is bounded by its 3 s timeout.

{ct}
"""
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

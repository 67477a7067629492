"""The ``dataforge`` command: run, validate, list-stages, describe, stats, sample-corpus."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _console():
    from rich.console import Console

    console = Console(stderr=False, highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 140)  # logs and pipes get whole stage names and reasons
    return console


def resolve_pipeline(name: str) -> Path:
    """A pipeline file path, or the name of a pipeline shipped with dataforge (``quickstart``)."""
    path = Path(name)
    if path.exists() or path.suffix in (".yaml", ".yml") and os.sep in name:
        return path
    from importlib.resources import files

    shipped = Path(str(files("dataforge.pipelines"))) / f"{path.stem}.yaml"
    return shipped if shipped.exists() else path


def _load(args: argparse.Namespace):
    from dataforge import spec

    return spec.load(resolve_pipeline(args.pipeline), sets=args.set)


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a pipeline file without reading data."""
    from dataforge.spec import PipelineError

    try:
        p = _load(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    inputs = "; ".join(f"input {b.format} ({len(b.paths)} path(s))" + "".join(f" → {s.stage}" for s in b.stages)
                       for b in p.branches())
    print(f"ok: {p.name}: {inputs}; {len(p.stages)} stage(s): " + " → ".join(s.stage for s in p.stages))
    return 0


def default_run_dir(name: str) -> Path:
    """Where a run lives when --run-dir is not given."""
    return Path("runs") / name


def cmd_run(args: argparse.Namespace) -> int:
    """Validate, plan and run a pipeline; print the summary."""
    from dataforge.readers.files import InputNotFound
    from dataforge.spec import PipelineError

    t0 = time.perf_counter()
    try:
        p = _load(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from dataforge.runner import make_plan, run

    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(p.name)
    try:
        plan = make_plan(p, run_dir)
    except InputNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from dataforge.executor import make_executor
    from dataforge.progress import RichProgress

    console = _console()
    console.print(f"[bold]{p.name}[/]: {len(plan.units)} shard(s), {len(p.stages)} stage(s) → run dir {plan.run_dir}")
    executor = make_executor("local" if args.local else "ray", address=args.address, num_cpus=args.num_cpus)
    from dataforge.rundir import OutputError

    try:
        with RichProgress(console, enabled=not args.quiet) as progress:
            result = run(plan, executor, progress)
    except OutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        executor.shutdown()
    from dataforge.stats import print_summary

    print_summary(result.summary, console)
    console.print(f"done in {time.perf_counter() - t0:.1f}s; output at {p.output.path}; summary: {plan.run_dir / 'summary.json'}")
    return 0 if result.summary["totals"]["balanced"] else 1


def cmd_list(args: argparse.Namespace) -> int:
    """List registered stages."""
    from rich.table import Table

    from dataforge import registry

    table = Table("stage", "kind", "what it does")
    for name in registry.names():
        try:
            cls = registry.get(name)
            doc = (cls.__doc__ or "").strip().splitlines()[0]
            table.add_row(name, cls.kind, doc)
        except ImportError as exc:
            table.add_row(name, "?", f"[dim]needs an optional extra: {exc}[/]")
    _console().print(table)
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    """Show a stage's documentation, parameters and scheduling."""
    from rich.table import Table

    from dataforge import registry

    try:
        cls = registry.get(args.stage)
    except registry.UnknownStage as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    info = cls.describe()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    console = _console()
    console.print(f"[bold]{info['name']}[/] ({info['kind']})\n\n{info['doc']}\n")
    table = Table("param", "type", "default", "description")
    for name, p in info["params"].items():
        table.add_row(name, str(p["type"]), "required" if p["required"] else repr(p["default"]), p["doc"])
    console.print(table)
    console.print(f"resources: {info['resources']}  batch_size: {info['batch_size']}  workers: {info['workers'] or 'auto'}"
                  f"  {'actor pool' if info['stateful'] else 'tasks'}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """Per-stage counts and drop reasons of a run."""
    from dataforge.stats import load_summary, print_summary

    try:
        summary = load_summary(Path(args.run_dir))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    signals = None
    if args.signals:
        from dataforge.signals import signal_distributions

        signals = signal_distributions(Path(args.run_dir))
    if args.json:
        print(json.dumps(summary if signals is None else {**summary, "signals": signals}, indent=2, sort_keys=True))
    else:
        from dataforge.stats import print_reports

        console = _console()
        print_summary(summary, console)
        print_reports(summary, console)
        if signals is not None:
            from dataforge.signals import print_signals

            print_signals(signals, console)
    return 0


def cmd_sample_corpus(args: argparse.Namespace) -> int:
    """Write the demo corpus built from documentation installed on this machine."""
    from dataforge.samples import build_sample_corpus

    n = build_sample_corpus(Path(args.out), docs=args.docs)
    print(f"wrote {n} documents to {args.out}")
    return 0


#: Modules that add subcommands: each has ``register(subparsers)``. Missing ones are skipped.
COMMAND_MODULES: tuple[str, ...] = (
    "dataforge.commands.train_quality",
    "dataforge.commands.report",
    "dataforge.commands.decontaminate",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    ap = argparse.ArgumentParser(prog="dataforge", description="Deterministic, accounted pre-training data pipelines on Ray.")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def pipeline_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("pipeline", help="pipeline YAML file, or the name of a shipped one (quickstart, ...)")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a key (stages.0.params.min_words=20) or set a ${VAR}")

    p = sub.add_parser("run", help="run a pipeline")
    pipeline_args(p)
    p.add_argument("--run-dir", help="run directory (default: runs/<name>)")
    p.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS, else an embedded local Ray)")
    p.add_argument("--num-cpus", type=int, help="CPUs of the embedded Ray (default: all)")
    p.add_argument("--local", action="store_true", help="run in this process without Ray (debugging)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("validate", help="check a pipeline file without reading data")
    pipeline_args(p)
    p.set_defaults(fn=cmd_validate)

    p = sub.add_parser("list-stages", help="list registered stages")
    p.set_defaults(fn=cmd_list)

    p = sub.add_parser("describe", help="parameters, defaults and docs of a stage")
    p.add_argument("stage")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_describe)

    p = sub.add_parser("stats", help="per-stage counts and drop reasons of a run")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--signals", action="store_true",
                   help="also show each numeric signal column's quantiles and kept/removed histogram (to choose thresholds)")
    p.set_defaults(fn=cmd_stats)

    p = sub.add_parser("sample-corpus", help="write the demo corpus (text from installed documentation)")
    p.add_argument("out", help="output .jsonl.gz file")
    p.add_argument("--docs", type=int, default=3000)
    p.set_defaults(fn=cmd_sample_corpus)

    import importlib
    import importlib.util

    for module in COMMAND_MODULES:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            importlib.import_module(module).register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    return int(args.fn(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

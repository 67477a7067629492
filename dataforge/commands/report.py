"""``dataforge report RUN_DIR``: write the run's HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_report(args: argparse.Namespace) -> int:
    """Write RUN_DIR/report.html (or --out) and print its path."""
    from dataforge.report import build_report

    run_dir = Path(args.run_dir)
    if not (run_dir / "summary.json").exists():
        print(f"error: {run_dir / 'summary.json'} not found: is {run_dir} a run directory of a finished run?", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else run_dir / "report.html"
    out.write_text(build_report(run_dir), encoding="utf-8")
    print(out)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `report` subcommand."""
    p = sub.add_parser("report", help="write a self-contained HTML report of a run (plots, funnel, mixtures)")
    p.add_argument("run_dir")
    p.add_argument("--out", help="output file (default: RUN_DIR/report.html)")
    p.set_defaults(fn=cmd_report)

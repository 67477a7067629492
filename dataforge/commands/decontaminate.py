"""``dataforge decontaminate RUN_DIR --benchmarks ...``: remove new benchmarks' items from a finished run's shards.

Matches the documents behind a run's token shards (write_shards_v1) against benchmark sets
and rewrites only the shards that hold a matching document; every other shard keeps its
bytes. Each mixture's manifest.json records what was removed, from which shard, for which
benchmark and item, and the applied benchmarks' fingerprints, so running the same command
again changes nothing. summary.json gets recomputed mixture statistics (see `dataforge stats`).

Benchmarks (--benchmarks, repeatable) are given as:
  LAYOUT:PATH           gsm8k:data/gsm8k/test.jsonl   (layouts: gsm8k math mmlu arc humaneval triviaqa)
  NAME=LAYOUT:PATH      gsm8k-main=gsm8k:data/gsm8k/test.jsonl
  FILE.yaml             a list of declarations as in decontaminate_v1's params, or a mapping with
                        `benchmarks:` and index settings (ngram, min_ngram, max_ngram, max_items_per_ngram)

Example:
  dataforge decontaminate runs/mixture --benchmarks humaneval:bench/HumanEval.jsonl.gz --dry-run
  dataforge decontaminate runs/mixture --benchmarks benchmarks.yaml
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def parse_benchmarks(values: list[str]) -> tuple[list[Any], dict[str, Any]]:
    """Benchmark declarations and index settings from --benchmarks values (files or LAYOUT:PATH forms)."""
    from dataforge.stages.decontam.benchmarks import LAYOUTS, BenchmarkSpec

    specs: list[Any] = []
    settings: dict[str, Any] = {}
    for v in values:
        path = Path(v)
        if path.suffix in (".yaml", ".yml", ".json") and path.exists():
            import yaml

            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            decls = doc.get("benchmarks") if isinstance(doc, dict) else doc
            if isinstance(doc, dict):
                settings.update({k: doc[k] for k in ("ngram", "min_ngram", "max_ngram", "max_items_per_ngram",
                                                     "max_item_chars", "min_matches") if k in doc})
            if not isinstance(decls, list):
                raise ValueError(f"{path}: expected a list of benchmark declarations or a mapping with 'benchmarks: [...]'")
            specs += [BenchmarkSpec.model_validate(d) for d in decls]
            continue
        name, _, rest = v.partition("=") if "=" in v.split(":", 1)[0] else ("", "", v)
        layout, sep, file = rest.partition(":")
        if not sep or layout not in LAYOUTS:
            raise ValueError(f"--benchmarks {v!r}: expected FILE.yaml, LAYOUT:PATH or NAME=LAYOUT:PATH with a layout in "
                             f"{', '.join(LAYOUTS)}")
        specs.append(BenchmarkSpec(name=name or layout, layout=layout, path=file))  # type: ignore[arg-type]
    return specs, settings


def cmd_decontaminate(args: argparse.Namespace) -> int:
    """Parse the benchmarks, regenerate, print what changed."""
    from pydantic import ValidationError

    from dataforge.stages.decontam.benchmarks import BenchmarkError
    from dataforge.stages.decontam.index import IndexConfig
    from dataforge.stages.decontam.regenerate import RegenerationError, regenerate

    try:
        specs, settings = parse_benchmarks(args.benchmarks)
    except (ValueError, ValidationError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for key in ("ngram", "min_ngram", "max_ngram", "max_items_per_ngram", "min_matches"):
        val = getattr(args, key)
        if val is not None:
            settings[key] = val
    ngram = settings.get("ngram", 13)
    cfg = IndexConfig(ngram="auto" if ngram == "auto" else int(ngram), min_ngram=int(settings.get("min_ngram", 8)),
                      max_ngram=int(settings.get("max_ngram", 13)),
                      max_items_per_ngram=int(settings.get("max_items_per_ngram", 10)),
                      max_item_chars=int(settings.get("max_item_chars", 100_000)))
    log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr))
    try:
        res = regenerate(Path(args.run_dir), specs, cfg, int(settings.get("min_matches", 1)), args.dry_run, log)
    except (RegenerationError, BenchmarkError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res.to_dict(), indent=2, sort_keys=True))
        return 0
    _print(res)
    return 0


def _print(res: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if res.already_applied:
        console.print(f"already applied (skipped): {', '.join(res.already_applied)}")
    if not res.changed:
        console.print("nothing to do: every benchmark given is already applied to this run; no file changed")
        return
    t = Table(title=("dry run: " if res.dry_run else "") + f"decontaminated {res.run_dir}")
    for c in ("benchmark", "items indexed", "items found", "documents affected"):
        t.add_column(c, justify="left" if c == "benchmark" else "right")
    for name, b in res.contamination.get("benchmarks", {}).items():
        t.add_row(name, f"{b['items_indexed']:,}", f"{b['items_found']:,}", f"{b['documents_affected']:,}")
    console.print(t)
    verb = "would rewrite" if res.dry_run else "rewrote"
    console.print(f"{res.documents_scanned:,} documents scanned, {res.documents_matched:,} matched; {verb} "
                  f"{len(res.shards_rewritten):,} of {res.shards_total:,} shard(s)"
                  + (f", deleted {len(res.shards_deleted):,} emptied" if res.shards_deleted else "")
                  + f"; {res.rows_removed:,} rows ({res.tokens_removed:,} tokens) removed; {res.seconds:.1f}s")
    for rel in res.shards_rewritten[:10]:
        console.print(f"  {verb}: {rel}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `decontaminate` subcommand."""
    p = sub.add_parser("decontaminate", help="remove new benchmarks' items from a finished run's shards (rewrites only affected shards)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="run directory of a finished run whose pipeline ends with write_shards_v1")
    p.add_argument("--benchmarks", nargs="+", action="extend", required=True, metavar="SPEC",
                   help="LAYOUT:PATH, NAME=LAYOUT:PATH or FILE.yaml (repeatable)")
    p.add_argument("--ngram", help="word n-gram size, or 'auto' (default 13, GPT-3)")
    p.add_argument("--min-ngram", type=int, help="lower bound of --ngram auto (default 8)")
    p.add_argument("--max-ngram", type=int, help="upper bound of --ngram auto (default 13)")
    p.add_argument("--max-items-per-ngram", type=int, help="ignore n-grams shared by more items (default 10)")
    p.add_argument("--min-matches", type=int, help="matched n-grams of one item that make a document contaminated (default 1)")
    p.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(fn=cmd_decontaminate)

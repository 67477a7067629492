"""``dataforge train-quality``: train a fastText quality classifier from positive and negative sources.

    dataforge train-quality --name my-quality --version 1 --out models/my-quality-v1 \\
        --positive curated/*.jsonl.gz --negative RUN/stages/03-gopher_quality_filter_v1/rejects

writes models/my-quality-v1/{model.bin, card.md, card.json} and the entry ``my-quality@1`` in
models/manifest.json (or ``--manifest``). ``--list`` prints the entries of a manifest.
"""

from __future__ import annotations

import argparse
import shlex
import sys


def cmd_train_quality(args: argparse.Namespace) -> int:
    """Train, evaluate and register a model; print its held-out summary."""
    if args.list:
        return _list(args.manifest)
    missing = [f"--{k}" for k in ("name", "version", "out") if not getattr(args, k)]
    if not args.positive:
        missing.append("--positive")
    if not args.negative:
        missing.append("--negative")
    if missing:
        print(f"error: train-quality needs {', '.join(missing)}", file=sys.stderr)
        return 2
    from dataforge.quality_models.train import TrainConfig, TrainingError, train

    notes = ""
    if args.notes:
        try:
            with open(args.notes, encoding="utf-8") as fh:
                notes = fh.read()
        except OSError as exc:
            print(f"error: --notes {args.notes}: {exc}", file=sys.stderr)
            return 2
    cfg = TrainConfig(
        name=args.name, version=str(args.version), out_dir=args.out, manifest=args.manifest,
        positive=args.positive, negative=args.negative,
        positive_reasons=args.positive_reason, negative_reasons=args.negative_reason,
        positive_label=args.positive_label, negative_label=args.negative_label,
        text_field=args.text_field, id_field=args.id_field, lowercase=args.lowercase, max_chars=args.max_chars,
        min_chars=args.min_chars, heldout=args.heldout, seed=args.seed, balance=not args.no_balance,
        lr=args.lr, dim=args.dim, ws=args.ws, epoch=args.epoch, min_count=args.min_count,
        word_ngrams=args.word_ngrams, bucket=args.bucket, loss=args.loss,
        quantize=args.quantize, cutoff=args.cutoff, dsub=args.dsub, keep_bin=not args.drop_bin,
        threshold=args.threshold, progress=args.progress, description=args.description, notes=notes,
        command=command_line(args),
    )
    try:
        card = train(cfg, log=lambda msg: print(msg, file=sys.stderr))
    except (TrainingError, FileNotFoundError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_summary(card)
    return 0


def _print_summary(card: dict) -> None:
    """The held-out figures as a table."""
    from rich.console import Console
    from rich.table import Table

    m = card["heldout_metrics"]["model"]
    t = m["at_threshold"]
    table = Table(title=f"{card['name']}@{card['version']}: held-out ({m['documents']['positive']:,} pos / "
                        f"{m['documents']['negative']:,} neg)")
    for col in ("file", "AUC", "threshold", "precision", "recall", "F1", "threshold percentile"):
        table.add_column(col, justify="left" if col == "file" else "right")
    rows = [card["heldout_metrics"]["model"]]
    if card["heldout_metrics"].get("unquantized"):
        rows.append(card["heldout_metrics"]["unquantized"])
    for r in rows:
        a = r["at_threshold"]
        table.add_row(r["file"], "n/a" if r["auc"] is None else f"{r['auc']:.4f}", f"{a['threshold']:.3f}",
                      f"{a['precision']:.4f}", f"{a['recall']:.4f}", f"{a['f1']:.4f}", f"{r['threshold_percentile']:.1f}%")
    Console(highlight=False).print(table)
    del t
    print(f"model {card['file']} sha256 {card['sha256']}; manifest {card['manifest']}")


def _list(manifest: str | None) -> int:
    """Print a manifest's entries."""
    from dataforge.quality_models.manifest import SHIPPED_MANIFEST, ModelNotFound, read_manifest

    try:
        entries = read_manifest(manifest)
    except ModelNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{manifest or SHIPPED_MANIFEST}: {len(entries)} model(s)")
    for e in entries:
        print(f"  {e.ref:30s} labels {','.join(e.labels):12s} {e.path}  sha256 {e.sha256[:12]}…")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `train-quality` subcommand."""
    p = sub.add_parser("train-quality", help="train a fastText quality classifier (DCLM manner) with a model card",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", help="model name (manifest key), e.g. my-quality")
    p.add_argument("--version", help="model version, e.g. 1")
    p.add_argument("--out", help="folder for model.bin/.ftz, card.md and card.json")
    p.add_argument("--positive", action="append", default=[], metavar="PATH",
                   help="positive documents: JSONL/Parquet file, folder, glob or RUN/stages/NN-stage/data (repeatable)")
    p.add_argument("--negative", action="append", default=[], metavar="PATH",
                   help="negative documents, same forms, e.g. RUN/stages/NN-stage/rejects (repeatable)")
    p.add_argument("--positive-reason", action="append", default=[], metavar="REASON",
                   help="from sources with a `reason` column (rejects), use only rows dropped for this reason")
    p.add_argument("--negative-reason", action="append", default=[], metavar="REASON",
                   help="from rejects, use only rows dropped for this reason (repeatable)")
    p.add_argument("--manifest", help="manifest to add the entry to (default: manifest.json beside --out); "
                                      "with --list: the manifest to show (default: the shipped one)")
    p.add_argument("--list", action="store_true", help="list the models of a manifest and exit")
    p.add_argument("--positive-label", default="hq", help="label of positives (DCLM: hq)")
    p.add_argument("--negative-label", default="cc", help="label of negatives (DCLM: cc)")
    p.add_argument("--text-field", default="text")
    p.add_argument("--id-field", default="id", help="record field with a stable id (default: id; else file position)")
    p.add_argument("--lowercase", action="store_true", help="lowercase text (then scoring lowercases too)")
    p.add_argument("--max-chars", type=int, default=0, help="train and score on the first N characters (0: all, DCLM)")
    p.add_argument("--min-chars", type=int, default=1, help="skip documents shorter than this after preprocessing")
    p.add_argument("--heldout", type=float, default=0.1, help="share of documents held out by hash(seed, id)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--no-balance", action="store_true", help="keep the classes' sizes (default: down-sample the larger)")
    p.add_argument("--lr", type=float, default=0.1, help="DCLM: 0.1")
    p.add_argument("--dim", type=int, default=100, help="DCLM: 100")
    p.add_argument("--ws", type=int, default=5)
    p.add_argument("--epoch", type=int, default=5, help="DCLM: 5")
    p.add_argument("--min-count", type=int, default=1)
    p.add_argument("--word-ngrams", type=int, default=2, help="DCLM: 2 (bigrams)")
    p.add_argument("--bucket", type=int, default=2_000_000, help="hash buckets for bigrams (fastText: 2,000,000)")
    p.add_argument("--loss", default="softmax", choices=["softmax", "hs", "ova", "ns"])
    p.add_argument("--quantize", action="store_true", help="also write a quantized model.ftz and register it")
    p.add_argument("--cutoff", type=int, default=100_000, help="quantization: rows of the input matrix to keep")
    p.add_argument("--dsub", type=int, default=2, help="quantization: sub-vector size")
    p.add_argument("--drop-bin", action="store_true", help="with --quantize: do not keep model.bin")
    p.add_argument("--threshold", type=float, default=0.5, help="threshold on the positive probability the card evaluates")
    p.add_argument("--description", default="", help="one paragraph for the card and the manifest")
    p.add_argument("--notes", help="a markdown file added to the card (limits, provenance)")
    p.add_argument("--progress", action="store_true", help="show fastText's progress line while it trains")
    p.set_defaults(fn=cmd_train_quality, parser=p)


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this training: every option that differs from its default, in parser order."""
    parts = ["dataforge", "train-quality"]
    parser: argparse.ArgumentParser | None = getattr(args, "parser", None)
    for action in parser._actions if parser else []:  # noqa: SLF001 - argparse exposes no public list
        if not action.option_strings or action.dest in ("help", "list", "progress"):
            continue
        value = getattr(args, action.dest, None)
        if value == action.default or value is None:
            continue
        flag = action.option_strings[-1]
        if isinstance(value, bool):
            parts.append(flag)
        elif isinstance(value, list):
            for v in value:
                parts += [flag, shlex.quote(str(v))]
        else:
            parts += [flag, shlex.quote(str(value))]
    return " ".join(parts)

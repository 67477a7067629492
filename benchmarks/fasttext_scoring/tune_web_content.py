"""Choose lr and epochs of the shipped web-content model on a validation split of its *training* pages.

The inputs are those ``quality_models/build_web_content.py`` writes (``--work`` folder:
positives.jsonl, negatives.jsonl). The documents go through the same preprocessing, dedup, held-out
split (hash(42, page id) < 0.2) and balancing as ``dataforge train-quality``; the held-out pages
are set aside untouched. The remaining training pages are split again by hash(7, page id) into
75% fit / 25% validation, and every lr x epochs pair is trained on the fit part and scored on the
validation part (AUC, F1 at 0.5). Accuracy figures: run to completion.

    .venv/bin/python benchmarks/fasttext_scoring/tune_web_content.py --work build/web-content
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from results import write_section  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Train the grid, print and record the validation table."""
    from dataforge.hashing import unit_interval
    from dataforge.quality_models.sources import read_sources
    from dataforge.quality_models.train import (
        Split,
        TrainConfig,
        _dedupe,
        _fit_isolated,
        _prepare,
        _split_and_balance,
        _write_train_file,
        evaluate,
    )

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="the build script's --work folder")
    ap.add_argument("--lr", type=float, nargs="+", default=[0.1, 0.5, 1.0])
    ap.add_argument("--epoch", type=int, nargs="+", default=[5, 10, 25, 50])
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    work = Path(args.work)
    base = TrainConfig(name="tune", version="0", out_dir=str(work / "tune"), positive=[str(work / "positives.jsonl")],
                       negative=[str(work / "negatives.jsonl")], heldout=0.2, seed=42, dim=32, min_count=2,
                       bucket=200_000)
    pos, _ = read_sources(base.positive)
    neg, _ = read_sources(base.negative)
    pos, _ = _prepare(pos, base)
    neg, _ = _prepare(neg, base)
    pos, neg, _ = _dedupe(pos, neg)
    train, _held, _ = _split_and_balance(pos, neg, base)  # the held-out pages are never looked at here
    val = unit_interval(pa.array(train.ids, pa.string()), seed=7) < 0.25

    def part(mask: np.ndarray) -> Split:
        """The training documents selected by ``mask``."""
        idx = np.flatnonzero(mask)
        return Split([train.texts[i] for i in idx], train.labels[idx], [train.ids[i] for i in idx])

    fit, valid = part(~val), part(val)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for lr, epoch in itertools.product(args.lr, args.epoch):
            cfg = TrainConfig(**{**base.__dict__, "lr": lr, "epoch": epoch})
            _write_train_file(fit, Path(tmp) / "train.txt", cfg)
            _fit_isolated(Path(tmp) / "train.txt", Path(tmp) / "m.bin", None, cfg)
            m = evaluate(Path(tmp) / "m.bin", valid, cfg)
            rows.append((lr, epoch, m["auc"], m["at_threshold"]["f1"]))
            print(f"lr {lr} epoch {epoch}: AUC {m['auc']:.4f} F1 {m['at_threshold']['f1']:.4f}", flush=True)
    lines = ["## Tuning the shipped `web-content@1` (validation split of the training pages)", "",
             f"fit {fit.counts()}, validation {valid.counts()} documents; dim 32, minCount 2, bigrams, bucket 200,000.",
             "", "| lr | epochs | validation AUC | F1 at 0.5 |", "| ---: | ---: | ---: | ---: |"]
    best = max(r[2] for r in rows)
    for lr, epoch, auc, f1 in rows:
        mark = " **best**" if auc == best else ""
        lines.append(f"| {lr} | {epoch} | {auc:.4f}{mark} | {f1:.4f} |")
    lines += ["", "Reproduce (after `python -m dataforge.quality_models.build_web_content ... --work build/web-content`):",
              "", "    .venv/bin/python benchmarks/fasttext_scoring/tune_web_content.py " +
              " ".join(argv if argv is not None else sys.argv[1:])]
    print("\n".join(lines))
    if not args.no_write:
        write_section("tuning", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

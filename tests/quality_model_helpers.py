"""Helpers for the quality-model tests (not fixtures): a toy corpus and small fastText models trained in the test.

The toy models use the label conventions of the public classifiers: DCLM's ``__label__hq`` /
``__label__cc``, and a FineWeb-Edu-style model with integer score labels ``__label__0..2``.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import PARAGRAPHS

NAV = ("Home About Contact Login Register Cart Checkout Privacy Terms Sitemap FAQ Blog Shop Sale Deals Subscribe "
       "Newsletter Follow Share Tweet Cookies Accept Settings Imprint Careers Press Help Search Menu Top").split()


def prose(i: int) -> str:
    """A prose document: sentences of the shared paragraphs, shuffled by ``i``."""
    rng = random.Random(i)
    sentences = [s.strip() + "." for p in PARAGRAPHS for s in p.split(".") if s.strip()]
    rng.shuffle(sentences)
    return f"Note {i}. " + " ".join(sentences[: 4 + i % 5])


def navigation(i: int) -> str:
    """A boilerplate document: a menu of short lines."""
    rng = random.Random(10_000 + i)
    return "\n".join(rng.choice(NAV) + (f" {rng.randint(1, 99)}" if rng.random() < 0.2 else "") for _ in range(8 + i % 7))


def toy_corpus(n_pos: int = 240, n_neg: int = 300) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Positive (prose) and negative (menus) records with ids."""
    return ([{"id": f"p{i:04d}", "text": prose(i)} for i in range(n_pos)],
            [{"id": f"n{i:04d}", "text": navigation(i)} for i in range(n_neg)])


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write records as JSON Lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


#: Small, fast training options for tests.
SMALL = {"dim": 16, "bucket": 20_000, "epoch": 5}


def train_toy(root: Path, name: str = "toy", version: str = "1", **overrides: Any) -> dict[str, Any]:
    """Train the toy hq/cc model with ``dataforge.quality_models.train``; returns the card."""
    from dataforge.quality_models.train import TrainConfig, train

    pos, neg = toy_corpus()
    p = write_jsonl(root / "inputs" / "pos.jsonl", pos)
    n = write_jsonl(root / "inputs" / "neg.jsonl", neg)
    cfg = TrainConfig(name=name, version=version, out_dir=str(root / "models" / f"{name}-v{version}"),
                      positive=[str(p)], negative=[str(n)], **{**SMALL, **overrides})
    return train(cfg, log=lambda msg: None)


def train_labels(path: Path, examples: list[tuple[str, str]], **params: Any) -> Path:
    """Train a supervised fastText model on (label, one-line text) pairs in a fresh process; returns the .bin."""
    path.parent.mkdir(parents=True, exist_ok=True)
    train_file = path.with_suffix(".txt")
    train_file.write_text("".join(f"__label__{lab} {text}\n" for lab, text in examples), encoding="utf-8")
    job = {"train_file": str(train_file), "out_bin": str(path), "out_ftz": None,
           "params": {"thread": 1, "seed": 1, "wordNgrams": 2, **SMALL, **params}, "quant": None}
    subprocess.run([sys.executable, "-m", "dataforge.quality_models.train", json.dumps(job)], check=True)
    return path


def edu_examples(n: int = 300) -> list[tuple[str, str]]:
    """A FineWeb-Edu-style three-level corpus: 2 = lesson prose, 1 = mixed, 0 = menus."""
    out = []
    for i in range(n):
        level = i % 3
        if level == 2:
            text = prose(i)
        elif level == 0:
            text = navigation(i).replace("\n", " ")
        else:
            text = " ".join([prose(i)[:120], navigation(i).replace("\n", " ")[:80]])
        out.append((str(level), text))
    return out

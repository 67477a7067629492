"""Train a fastText quality classifier in the DCLM manner: bigrams, balanced classes, held-out evaluation.

The recipe (Li et al. 2024, DataComp-LM; ``baselines/train_fasttext_classifier.py``): positive
documents (``__label__hq``) against negative ones (``__label__cc``), word bigrams
(``wordNgrams=2``), lr 0.1, dim 100, 5 epochs, fastText's softmax loss. Made reproducible here:

- a document's split is a pure function of ``hash(seed, id)``: held out when the draw is under
  ``heldout``, so adding documents never moves old ones between train and held-out;
- classes are balanced by keeping, in each split, the ``min(#pos, #neg)`` documents of each class
  with the smallest ``hash(seed + 1, id)`` (no global random generator);
- exact duplicates (after preprocessing) are kept once per class; a text that appears in both
  classes is dropped from both, so it cannot leak from training into the held-out set;
- the training file is ordered by ``hash(seed + 2, id)``; fastText trains with ``thread=1`` and
  the fixed ``seed``, in a fresh child process (fastText keeps state between trainings in one
  process and can then diverge to NaN), so equal inputs give a byte-identical model.

:func:`train` writes the model (``model.bin``; ``model.ftz`` when quantized), ``card.json`` and
``card.md`` (held-out precision/recall/F1/AUC, score percentiles, the threshold's percentile,
data counts, hyper-parameters, limits) and an entry in a manifest.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataforge.hashing import hash_strings, unit_interval
from dataforge.quality_models.card import render_card
from dataforge.quality_models.manifest import SHIPPED_MANIFEST, ModelEntry, file_sha256, write_entry
from dataforge.quality_models.metrics import at_threshold, percentile_of, quantiles, roc_auc
from dataforge.quality_models.predict import label_probabilities, load_fasttext, model_labels
from dataforge.quality_models.preprocess import prepare_texts
from dataforge.quality_models.sources import SourceReport, read_sources

#: A token fastText would read as a label; removed from training text (at scoring time fastText ignores it).
_LABEL_TOKEN = r"(^|\s)__label__\S*"


class TrainingError(RuntimeError):
    """Training cannot go on: no data in a class, a fastText failure, a bad option."""


@dataclass
class TrainConfig:
    """Everything that determines a trained quality model (and nothing else does)."""

    name: str
    version: str
    out_dir: str
    positive: list[str]
    negative: list[str]
    manifest: str | None = None  # default: manifest.json in the parent of out_dir
    positive_reasons: list[str] = field(default_factory=list)
    negative_reasons: list[str] = field(default_factory=list)
    positive_label: str = "hq"  # DCLM's labels
    negative_label: str = "cc"
    text_field: str = "text"
    id_field: str = "id"
    lowercase: bool = False
    max_chars: int = 0  # 0: the whole document (DCLM)
    min_chars: int = 1  # shorter prepared texts are not used
    heldout: float = 0.1
    seed: int = 42  # DCLM's default seed
    balance: bool = True
    lr: float = 0.1
    dim: int = 100
    ws: int = 5
    epoch: int = 5
    min_count: int = 1
    word_ngrams: int = 2
    bucket: int = 2_000_000
    loss: str = "softmax"
    quantize: bool = False
    cutoff: int = 100_000  # rows of the input matrix a quantized model keeps
    dsub: int = 2
    keep_bin: bool = True  # keep model.bin beside model.ftz
    threshold: float = 0.5
    progress: bool = False  # show fastText's own progress line while it trains
    description: str = ""
    notes: str = ""  # markdown added to the card (limits, provenance)
    command: str = ""  # the command line, recorded in the card

    def hyperparameters(self) -> dict[str, Any]:
        """fastText's train_supervised arguments."""
        return {"lr": self.lr, "dim": self.dim, "ws": self.ws, "epoch": self.epoch, "minCount": self.min_count,
                "wordNgrams": self.word_ngrams, "bucket": self.bucket, "loss": self.loss, "thread": 1,
                "seed": self.seed}

    def quantization(self) -> dict[str, Any] | None:
        """fastText's quantize arguments, or None."""
        if not self.quantize:
            return None
        return {"cutoff": self.cutoff, "dsub": self.dsub, "qnorm": True, "retrain": False, "thread": 1}


@dataclass
class Split:
    """Documents of one split: single-line texts, 1 for positive, 0 for negative, ids."""

    texts: list[str]
    labels: np.ndarray
    ids: list[str]

    def counts(self) -> dict[str, int]:
        """Documents per class."""
        pos = int(self.labels.sum())
        return {"positive": pos, "negative": int(self.labels.size - pos)}


# -- data --------------------------------------------------------------------------------------
def _prepare(table: pa.Table, cfg: TrainConfig) -> tuple[pa.Table, int]:
    """Preprocess texts; return rows with enough text and how many were too short."""
    text, _ = prepare_texts(table.column("text"), lowercase=cfg.lowercase, max_chars=cfg.max_chars)
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, _LABEL_TOKEN, " "))
    ok = pc.greater_equal(pc.utf8_length(text), max(1, cfg.min_chars))
    t = pa.table({"id": table.column("id"), "text": text}).filter(ok)
    return t, table.num_rows - t.num_rows


def _dedupe(pos: pa.Table, neg: pa.Table) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    """Keep each text once per class (first occurrence) and drop texts found in both classes."""
    stats: dict[str, int] = {}

    def first(t: pa.Table) -> tuple[pa.Table, np.ndarray]:
        """The first row of each distinct text, in input order, and the text hashes."""
        h = hash_strings(t.column("text"), seed=0)
        _, idx = np.unique(h, return_index=True)
        idx = np.sort(idx)
        return t.take(pa.array(idx)), h[idx]

    p, hp = first(pos)
    n, hn = first(neg)
    stats["duplicates_positive"] = pos.num_rows - p.num_rows
    stats["duplicates_negative"] = neg.num_rows - n.num_rows
    both = np.intersect1d(hp, hn)
    stats["in_both_classes"] = int(both.size)
    if both.size:
        p = p.filter(pa.array(~np.isin(hp, both)))
        n = n.filter(pa.array(~np.isin(hn, both)))
    return p, n, stats


def _split_and_balance(pos: pa.Table, neg: pa.Table, cfg: TrainConfig) -> tuple[Split, Split, dict[str, Any]]:
    """Held-out split by hash(seed, id), then per-split class balance by hash(seed + 1, id)."""
    def parts(t: pa.Table) -> tuple[pa.Table, pa.Table]:
        """(training rows, held-out rows) by hash(seed, id)."""
        held = unit_interval(t.column("id"), seed=cfg.seed) < cfg.heldout
        return t.filter(pa.array(~held)), t.filter(pa.array(held))

    p_tr, p_ho = parts(pos)
    n_tr, n_ho = parts(neg)
    before = {"train": {"positive": p_tr.num_rows, "negative": n_tr.num_rows},
              "heldout": {"positive": p_ho.num_rows, "negative": n_ho.num_rows}}

    def take(t: pa.Table, k: int) -> pa.Table:
        """The k rows with the smallest hash(seed + 1, id), in input order."""
        if t.num_rows <= k:
            return t
        h = hash_strings(t.column("id"), seed=cfg.seed + 1)
        idx = np.sort(np.argsort(h, kind="stable")[:k])
        return t.take(pa.array(idx))

    if cfg.balance:
        k = min(p_tr.num_rows, n_tr.num_rows)
        p_tr, n_tr = take(p_tr, k), take(n_tr, k)
        k = min(p_ho.num_rows, n_ho.num_rows)
        p_ho, n_ho = take(p_ho, k), take(n_ho, k)

    def join(p: pa.Table, n: pa.Table, shuffle: bool) -> Split:
        """Positives then negatives as a Split, ordered by hash(seed + 2, id) when ``shuffle``."""
        ids = p.column("id").to_pylist() + n.column("id").to_pylist()
        texts = p.column("text").to_pylist() + n.column("text").to_pylist()
        labels = np.r_[np.ones(p.num_rows, np.int8), np.zeros(n.num_rows, np.int8)]
        if shuffle and ids:
            key = hash_strings(pa.array(ids, pa.string()), seed=cfg.seed + 2)
            tie = hash_strings(pa.array(texts, pa.string()), seed=cfg.seed + 2)
            order = np.lexsort((labels, tie, key))
            ids = [ids[i] for i in order]
            texts = [texts[i] for i in order]
            labels = labels[order]
        return Split(texts=texts, labels=labels, ids=ids)

    train_split, held_split = join(p_tr, n_tr, True), join(p_ho, n_ho, False)
    return train_split, held_split, {"before_balance": before}


def _write_train_file(split: Split, path: Path, cfg: TrainConfig) -> None:
    """fastText's supervised format, one ``__label__X text`` line per document."""
    tags = {1: f"__label__{cfg.positive_label}", 0: f"__label__{cfg.negative_label}"}
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for lab, text in zip(split.labels.tolist(), split.texts):
            fh.write(f"{tags[lab]} {text}\n")


# -- fitting (in a child process) -----------------------------------------------------------------
def fit_model(train_file: str, out_bin: str, out_ftz: str | None, params: dict[str, Any],
              quant: dict[str, Any] | None, verbose: int = 0) -> None:
    """Train (and quantize) a supervised fastText model; runs in a fresh process."""
    import fasttext

    model = fasttext.train_supervised(input=train_file, verbose=verbose, **params)
    model.save_model(out_bin)
    if out_ftz and quant is not None:
        model.quantize(input=train_file, verbose=verbose, **quant)
        model.save_model(out_ftz)


def _fit_isolated(train_file: Path, out_bin: Path, out_ftz: Path | None, cfg: TrainConfig) -> None:
    """Run :func:`fit_model` in a fresh Python process (``python -m dataforge.quality_models.train``)."""
    import subprocess
    import sys

    job = {"train_file": str(train_file), "out_bin": str(out_bin), "out_ftz": str(out_ftz) if out_ftz else None,
           "params": cfg.hyperparameters(), "quant": cfg.quantization(), "verbose": 2 if cfg.progress else 0}
    # fastText writes its progress line to stderr: shown when asked for, else kept for the error message
    proc = subprocess.run([sys.executable, "-m", "dataforge.quality_models.train", json.dumps(job)],
                          stdout=subprocess.DEVNULL, stderr=None if cfg.progress else subprocess.PIPE, text=True)
    if proc.returncode == 0:
        return
    err = (proc.stderr or "").strip().splitlines()
    last = err[-1] if err else f"exit status {proc.returncode} (fastText's messages are above)"
    if "NaN" in last:
        raise TrainingError(f"train-quality {cfg.name}@{cfg.version}: fastText diverged ({last}); lower --lr (now {cfg.lr})")
    raise TrainingError(f"train-quality {cfg.name}@{cfg.version}: the fastText training process failed ({last}); "
                        "if memory ran out, lower --bucket or --dim")


# -- evaluation -------------------------------------------------------------------------------
def evaluate(model_path: Path, split: Split, cfg: TrainConfig) -> dict[str, Any]:
    """Held-out metrics of a model file: AUC, P/R/F1 at the threshold, score percentiles."""
    model = load_fasttext(str(model_path), who="train-quality")
    labels = model_labels(model)
    probs = label_probabilities(model, split.texts, [cfg.positive_label])[:, 0].astype(np.float64)
    positive = split.labels.astype(bool)
    result: dict[str, Any] = {
        "file": model_path.name,
        "labels": labels,
        "documents": split.counts(),
        "auc": roc_auc(probs, positive),
        "at_threshold": at_threshold(probs, positive, cfg.threshold),
        "threshold_percentile": percentile_of(probs, cfg.threshold),
        "score_percentiles": quantiles(probs),
        "score_percentiles_positive": quantiles(probs[positive]),
        "score_percentiles_negative": quantiles(probs[~positive]),
        "score_table": quantiles(probs, range(0, 101)),
    }
    candidates = np.unique(np.quantile(probs, np.linspace(0.0, 1.0, 201))) if probs.size else []
    best = max((at_threshold(probs, positive, float(t)) for t in candidates),
               key=lambda r: (r["f1"], -abs(r["threshold"] - 0.5)), default=None)
    if best is not None:
        best["threshold"] = float(best["threshold"])
        result["best_f1"] = best
    return result


# -- the whole command ------------------------------------------------------------------------
def train(cfg: TrainConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Read, split, balance, train, evaluate; write model, card and manifest entry; return the card."""
    import fasttext as _ft  # fail early, in this process, when the module is missing

    del _ft
    if not 0.0 < cfg.heldout < 1.0:
        raise TrainingError(f"train-quality: --heldout must be between 0 and 1 (got {cfg.heldout})")
    if cfg.positive_label == cfg.negative_label:
        raise TrainingError("train-quality: the positive and negative labels must differ")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    log(f"reading positives from {len(cfg.positive)} source(s), negatives from {len(cfg.negative)}")
    pos_raw, pos_reports = read_sources(cfg.positive, cfg.text_field, cfg.id_field, cfg.positive_reasons or None)
    neg_raw, neg_reports = read_sources(cfg.negative, cfg.text_field, cfg.id_field, cfg.negative_reasons or None)
    pos, pos_short = _prepare(pos_raw, cfg)
    neg, neg_short = _prepare(neg_raw, cfg)
    pos, neg, dup = _dedupe(pos, neg)
    data: dict[str, Any] = {
        "read": {"positive": pos_raw.num_rows, "negative": neg_raw.num_rows},
        "too_short": {"positive": pos_short, "negative": neg_short},
        **dup,
        "usable": {"positive": pos.num_rows, "negative": neg.num_rows},
    }
    if pos.num_rows == 0 or neg.num_rows == 0:
        empty = "positive" if pos.num_rows == 0 else "negative"
        raise TrainingError(f"train-quality {cfg.name}@{cfg.version}: no usable {empty} documents "
                            f"(read {data['read'][empty]}); check the --{empty} paths and --text-field")
    train_split, held, balance = _split_and_balance(pos, neg, cfg)
    data.update(balance)
    data["train"] = train_split.counts()
    data["heldout"] = held.counts()
    if min(data["train"].values()) == 0 or min(data["heldout"].values()) == 0:
        raise TrainingError(f"train-quality {cfg.name}@{cfg.version}: too few documents to train and hold out "
                            f"(train {data['train']}, held-out {data['heldout']}); add data or change --heldout")
    log(f"training on {data['train']}, holding out {data['heldout']}")

    bin_path, ftz_path = out / "model.bin", (out / "model.ftz" if cfg.quantize else None)
    with tempfile.TemporaryDirectory(prefix="train-quality-") as tmp:
        train_file = Path(tmp) / "train.txt"
        _write_train_file(train_split, train_file, cfg)
        tmp_bin = Path(tmp) / "model.bin"
        tmp_ftz = Path(tmp) / "model.ftz" if cfg.quantize else None
        _fit_isolated(train_file, tmp_bin, tmp_ftz, cfg)
        shipped = tmp_ftz or tmp_bin
        metrics = {"model": evaluate(shipped, held, cfg)}
        if tmp_ftz is not None:
            metrics["unquantized"] = evaluate(tmp_bin, held, cfg)
        if ftz_path is not None:
            shutil.copyfile(tmp_ftz, ftz_path)  # type: ignore[arg-type]
        if cfg.keep_bin or ftz_path is None:
            shutil.copyfile(tmp_bin, bin_path)
        elif bin_path.exists():
            bin_path.unlink()
    model_file = ftz_path or bin_path
    sha = file_sha256(model_file)
    import fasttext as ft_module

    card = {
        "name": cfg.name,
        "version": str(cfg.version),
        "description": cfg.description,
        "file": model_file.name,
        "sha256": sha,
        "bytes": model_file.stat().st_size,
        "labels": {"positive": cfg.positive_label, "negative": cfg.negative_label},
        "preprocess": {"lowercase": cfg.lowercase, "max_chars": cfg.max_chars,
                       "line_breaks": "replaced by spaces (DCLM: ' '.join(text.splitlines()))"},
        "sources": {"positive": [asdict(r) for r in pos_reports], "negative": [asdict(r) for r in neg_reports]},
        "data": data,
        "split": {"heldout": cfg.heldout, "seed": cfg.seed, "balance": cfg.balance,
                  "rule": "held out when hash(seed, id) < heldout; larger class down-sampled by hash(seed + 1, id)"},
        "hyperparameters": cfg.hyperparameters(),
        "quantization": cfg.quantization(),
        "fasttext": _fasttext_version(ft_module),
        "threshold": cfg.threshold,
        "heldout_metrics": metrics,
        "notes": cfg.notes,
        "command": cfg.command,
    }
    manifest = Path(cfg.manifest) if cfg.manifest else out.resolve().parent / "manifest.json"
    if manifest.resolve() != SHIPPED_MANIFEST.resolve():
        card["manifest"] = str(manifest)  # the shipped manifest is the default; others must be named
    (out / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "card.md").write_text(render_card(card), encoding="utf-8")
    entry = ModelEntry(
        name=cfg.name, version=str(cfg.version), file=str(model_file.resolve()), sha256=sha,
        labels=[cfg.positive_label, cfg.negative_label], positive_label=cfg.positive_label,
        card=str((out / "card.md").resolve()),
        preprocess={"lowercase": cfg.lowercase, "max_chars": cfg.max_chars},
        threshold=cfg.threshold, description=cfg.description, base=manifest.resolve().parent,
    )
    write_entry(entry, manifest)
    card.setdefault("manifest", str(manifest))
    log(f"wrote {model_file} (sha256 {sha[:12]}…), card {out / 'card.md'}, manifest entry {entry.ref} in {manifest}")
    return card


def _fasttext_version(module: Any) -> str:
    """The installed fastText distribution and version."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("fasttext-numpy2-wheel", "fasttext-wheel", "fasttext"):
        try:
            return f"{dist} {version(dist)}"
        except PackageNotFoundError:
            continue
    return getattr(module, "__version__", "unknown")


__all__ = ["TrainConfig", "TrainingError", "SourceReport", "train", "evaluate", "fit_model"]


if __name__ == "__main__":  # the child process of _fit_isolated: one training job given as JSON
    import sys

    _job = json.loads(sys.argv[1])
    fit_model(_job["train_file"], _job["out_bin"], _job["out_ftz"], _job["params"], _job["quant"], _job.get("verbose", 0))

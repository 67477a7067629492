"""Train a multi-class fastText domain classifier (web, math, code, knowledge, ...) with a held-out confusion matrix.

The binary quality trainer (``train.py``) compares two classes; a mixture needs one label out of
several. This module reuses its pieces (text preparation, the isolated fastText child process,
the manifest) with the same reproducibility rules:

- a document's split is a pure function of ``hash(seed, group)``: all documents cut from one
  page, file or problem share a group and fall wholly in training or wholly in the held-out set;
- each class is capped at ``max_per_class`` training documents (and ``max_heldout_per_class``
  held-out ones) by the smallest ``hash(seed + 1, id)``, so one abundant source cannot swamp the
  others; no global random generator;
- exact duplicates are kept once per class, and a text found under two labels is dropped from both;
- the training file is ordered by ``hash(seed + 2, id)``; fastText trains with ``thread=1`` and a
  fixed seed in a fresh process, so the same documents give a byte-identical model.

:func:`train_domains` writes ``model.ftz`` (or ``model.bin``), ``card.json`` and ``card.md``
(held-out accuracy, macro F1, per-class precision/recall/F1 and the confusion matrix) and a
manifest entry ``name@version`` that ``domain_classify_v1`` loads.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataforge.hashing import hash_strings, unit_interval
from dataforge.quality_models.manifest import ModelEntry, file_sha256, write_entry
from dataforge.quality_models.predict import load_fasttext
from dataforge.quality_models.preprocess import prepare_texts
from dataforge.quality_models.train import TrainConfig, TrainingError, _fit_isolated

#: A token fastText would read as a label; removed from training text.
_LABEL_TOKEN = r"(^|\s)__label__\S*"


@dataclass
class DomainTrainConfig:
    """Everything that determines a trained domain model (and nothing else does)."""

    name: str
    version: str
    out_dir: str
    manifest: str | None = None  # default: manifest.json in the parent of out_dir
    lowercase: bool = False
    max_chars: int = 0  # 0: the whole document
    min_chars: int = 20  # shorter prepared texts are not used
    heldout: float = 0.2
    seed: int = 42
    max_per_class: int = 3000
    max_heldout_per_class: int = 1000
    lr: float = 0.5
    dim: int = 32
    ws: int = 5
    epoch: int = 10
    min_count: int = 2
    word_ngrams: int = 2
    bucket: int = 200_000
    loss: str = "softmax"
    quantize: bool = True
    cutoff: int = 50_000
    dsub: int = 2
    description: str = ""
    notes: str = ""  # markdown added to the card (provenance, limits)
    command: str = ""  # the command line, recorded in the card
    sources: dict[str, Any] = field(default_factory=dict)  # what each label was built from, for the card

    def fit_config(self) -> TrainConfig:
        """The binary trainer's config carrying the same fastText arguments (its fitting code is reused)."""
        return TrainConfig(name=self.name, version=self.version, out_dir=self.out_dir, positive=[], negative=[],
                           seed=self.seed, lr=self.lr, dim=self.dim, ws=self.ws, epoch=self.epoch,
                           min_count=self.min_count, word_ngrams=self.word_ngrams, bucket=self.bucket, loss=self.loss,
                           quantize=self.quantize, cutoff=self.cutoff, dsub=self.dsub)


def prepare(docs: pa.Table, cfg: DomainTrainConfig) -> tuple[pa.Table, dict[str, Any]]:
    """Prepared single-line texts (id, group, label, text), deduplicated; counts of what was removed."""
    for col in ("id", "group", "label", "text"):
        if col not in docs.column_names:
            raise TrainingError(f"train-domain {cfg.name}@{cfg.version}: documents need columns id, group, label, "
                                f"text; {col!r} is missing")
    text, _ = prepare_texts(docs.column("text"), lowercase=cfg.lowercase, max_chars=cfg.max_chars)
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, _LABEL_TOKEN, " "))
    t = pa.table({"id": docs.column("id").cast(pa.string()), "group": docs.column("group").cast(pa.string()),
                  "label": docs.column("label").cast(pa.string()), "text": text})
    ok = pc.greater_equal(pc.utf8_length(text), max(1, cfg.min_chars))
    read = {r["label"]: r["count_all"] for r in docs.group_by("label").aggregate([([], "count_all")]).to_pylist()}
    t = t.filter(ok)
    h = hash_strings(t.column("text"), seed=0)
    lab = np.asarray(t.column("label").to_pylist(), dtype=object)
    # a text under two labels is ambiguous: drop it everywhere; otherwise keep its first copy
    pairs = np.unique(np.rec.fromarrays([h, lab.astype(str)]))
    hashes, counts = np.unique(pairs["f0"], return_counts=True)
    ambiguous = hashes[counts > 1]
    keep = ~np.isin(h, ambiguous)
    _, first = np.unique(h, return_index=True)
    is_first = np.zeros(len(h), dtype=bool)
    is_first[first] = True
    keep &= is_first
    out = t.filter(pa.array(keep))
    stats = {"read": dict(sorted(read.items())), "too_short": int(docs.num_rows - t.num_rows),
             "ambiguous_texts": int(ambiguous.size), "duplicates": int((~is_first & ~np.isin(h, ambiguous)).sum())}
    return out, stats


def split(t: pa.Table, cfg: DomainTrainConfig) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """Training and held-out documents: held out by hash(seed, group), each class capped by hash(seed + 1, id)."""
    held_mask = unit_interval(t.column("group"), seed=cfg.seed) < cfg.heldout
    parts = {"train": t.filter(pa.array(~held_mask)), "heldout": t.filter(pa.array(held_mask))}
    caps = {"train": cfg.max_per_class, "heldout": cfg.max_heldout_per_class}
    before: dict[str, dict[str, int]] = {}
    out: dict[str, pa.Table] = {}
    for name, part in parts.items():
        labels = np.asarray(part.column("label").to_pylist(), dtype=object)
        h = hash_strings(part.column("id"), seed=cfg.seed + 1)
        keep = np.zeros(part.num_rows, dtype=bool)
        before[name] = {}
        for lab in sorted(set(labels.tolist())):
            rows = np.flatnonzero(labels == lab)
            before[name][lab] = int(rows.size)
            keep[rows[np.argsort(h[rows], kind="stable")[:caps[name]]]] = True
        out[name] = part.filter(pa.array(keep))
    train_t = out["train"]
    if train_t.num_rows:
        key = hash_strings(train_t.column("id"), seed=cfg.seed + 2)
        tie = hash_strings(train_t.column("text"), seed=0)
        train_t = train_t.take(pa.array(np.lexsort((tie, key))))
    return train_t, out["heldout"], {"before_cap": before}


def _counts(t: pa.Table) -> dict[str, int]:
    """Documents per label."""
    if t.num_rows == 0:
        return {}
    return dict(sorted((r["label"], r["count_all"]) for r in t.group_by("label").aggregate([([], "count_all")]).to_pylist()))


def predict_top(model: Any, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Top label (without ``__label__``) and its probability for each single-line text, in one batched call."""
    if not texts:
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.float32)
    labels, probs = model.predict(texts, k=1)
    lab = np.array([row[0] if row else "" for row in labels], dtype=object)
    lab = np.array([x.removeprefix("__label__") for x in lab.tolist()], dtype=object)
    prob = np.array([row[0] if len(row) else 0.0 for row in probs], dtype=np.float32)
    return lab, prob


def evaluate(model_path: Path, held: pa.Table, labels: list[str]) -> dict[str, Any]:
    """Held-out accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix."""
    model = load_fasttext(str(model_path), who="train-domain")
    truth = np.asarray(held.column("label").to_pylist(), dtype=object)
    pred, prob = predict_top(model, held.column("text").to_pylist())
    index = {lab: i for i, lab in enumerate(labels)}
    k = len(labels)
    cm = np.zeros((k, k), dtype=np.int64)
    for t_i, p_i in zip((index[x] for x in truth.tolist()), (index.get(x, -1) for x in pred.tolist())):
        if p_i >= 0:
            cm[t_i, p_i] += 1
    per_class = {}
    for i, lab in enumerate(labels):
        tp = int(cm[i, i])
        support = int(cm[i].sum())
        predicted = int(cm[:, i].sum())
        p = tp / predicted if predicted else 0.0
        r = tp / support if support else 0.0
        per_class[lab] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": support}
    n = int(truth.size)
    return {
        "file": model_path.name, "documents": n,
        "accuracy": float(np.trace(cm) / n) if n else 0.0,
        "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])) if per_class else 0.0,
        "per_class": per_class, "labels": labels, "confusion": cm.tolist(),
        "median_top_probability": float(np.median(prob)) if prob.size else None,
    }


def train_domains(docs: pa.Table, cfg: DomainTrainConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Prepare, split, train, evaluate; write model, card and manifest entry; return the card."""
    if not 0.0 < cfg.heldout < 1.0:
        raise TrainingError(f"train-domain: heldout must be between 0 and 1 (got {cfg.heldout})")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prepared, data = prepare(docs, cfg)
    train_t, held_t, caps = split(prepared, cfg)
    data.update(caps)
    data["train"], data["heldout"] = _counts(train_t), _counts(held_t)
    labels = sorted(set(data["train"]) | set(data["heldout"]))
    if len(labels) < 2 or any(data["train"].get(x, 0) == 0 or data["heldout"].get(x, 0) == 0 for x in labels):
        raise TrainingError(f"train-domain {cfg.name}@{cfg.version}: every label needs training and held-out "
                            f"documents (train {data['train']}, held-out {data['heldout']}); add data or change heldout")
    log(f"training on {data['train']}, holding out {data['heldout']}")
    fit = cfg.fit_config()
    with tempfile.TemporaryDirectory(prefix="train-domain-") as tmp:
        train_file = Path(tmp) / "train.txt"
        with open(train_file, "w", encoding="utf-8", newline="\n") as fh:
            for lab, text in zip(train_t.column("label").to_pylist(), train_t.column("text").to_pylist()):
                fh.write(f"__label__{lab} {text}\n")
        tmp_bin = Path(tmp) / "model.bin"
        tmp_ftz = Path(tmp) / "model.ftz" if cfg.quantize else None
        _fit_isolated(train_file, tmp_bin, tmp_ftz, fit)
        shipped = tmp_ftz or tmp_bin
        metrics = {"model": evaluate(shipped, held_t, labels)}
        if tmp_ftz is not None:
            metrics["unquantized"] = evaluate(tmp_bin, held_t, labels)
        model_file = out / shipped.name
        shutil.copyfile(shipped, model_file)
    sha = file_sha256(model_file)
    card = {
        "name": cfg.name, "version": str(cfg.version), "kind": "domain", "description": cfg.description,
        "file": model_file.name, "sha256": sha, "bytes": model_file.stat().st_size, "labels": labels,
        "preprocess": {"lowercase": cfg.lowercase, "max_chars": cfg.max_chars,
                       "line_breaks": "replaced by spaces (as fasttext_classify_v1 and domain_classify_v1 do)"},
        "sources": cfg.sources, "data": data,
        "split": {"heldout": cfg.heldout, "seed": cfg.seed, "max_per_class": cfg.max_per_class,
                  "max_heldout_per_class": cfg.max_heldout_per_class,
                  "rule": "held out when hash(seed, group) < heldout; each class capped by the smallest hash(seed + 1, id)"},
        "hyperparameters": fit.hyperparameters(), "quantization": fit.quantization(),
        "heldout_metrics": metrics, "notes": cfg.notes, "command": cfg.command,
    }
    (out / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "card.md").write_text(render_domain_card(card), encoding="utf-8")
    manifest = Path(cfg.manifest) if cfg.manifest else out.resolve().parent / "manifest.json"
    entry = ModelEntry(name=cfg.name, version=str(cfg.version), file=str(model_file.resolve()), sha256=sha,
                       labels=labels, positive_label=None, card=str((out / "card.md").resolve()),
                       preprocess={"lowercase": cfg.lowercase, "max_chars": cfg.max_chars}, threshold=None,
                       description=cfg.description, base=manifest.resolve().parent)
    write_entry(entry, manifest)
    log(f"wrote {model_file} (sha256 {sha[:12]}…), card {out / 'card.md'}, manifest entry {entry.ref} in {manifest}")
    return card


def render_domain_card(card: dict[str, Any]) -> str:
    """The card of a domain model as markdown: data, held-out accuracy, per-class table, confusion matrix."""
    m = card["heldout_metrics"]["model"]
    labels = m["labels"]
    lines = [f"# {card['name']}@{card['version']}", "", card.get("description", ""), "",
             f"- file: `{card['file']}` ({card['bytes']:,} bytes), sha256 `{card['sha256']}`",
             f"- labels: {', '.join(f'`{x}`' for x in labels)}",
             f"- load: `domain_classify_v1` with `model: {card['name']}@{card['version']}`", ""]
    if card.get("command"):
        lines += ["Rebuild:", "", "```", card["command"], "```", ""]
    lines += ["## Held-out evaluation", "",
              f"{m['documents']:,} held-out documents (groups never seen in training): accuracy **{m['accuracy']:.3f}**, "
              f"macro F1 **{m['macro_f1']:.3f}**."]
    if "unquantized" in card["heldout_metrics"]:
        u = card["heldout_metrics"]["unquantized"]
        lines.append(f"Before quantisation: accuracy {u['accuracy']:.3f}, macro F1 {u['macro_f1']:.3f}.")
    lines += ["", "| class | precision | recall | F1 | held-out docs |", "| --- | ---: | ---: | ---: | ---: |"]
    for lab in labels:
        c = m["per_class"][lab]
        lines.append(f"| {lab} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']:,} |")
    lines += ["", "Confusion matrix (rows: true label, columns: predicted):", "",
              "| true \\ predicted | " + " | ".join(labels) + " |", "| --- |" + " ---: |" * len(labels)]
    for lab, row in zip(labels, m["confusion"]):
        lines.append(f"| {lab} | " + " | ".join(f"{v:,}" for v in row) + " |")
    d = card["data"]
    lines += ["", "## Data", "", "| label | read | train (before cap) | train | held-out (before cap) | held-out |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for lab in labels:
        lines.append(f"| {lab} | {d['read'].get(lab, 0):,} | {d['before_cap']['train'].get(lab, 0):,} | "
                     f"{d['train'].get(lab, 0):,} | {d['before_cap']['heldout'].get(lab, 0):,} | {d['heldout'].get(lab, 0):,} |")
    lines += ["", f"Too short: {d['too_short']:,}; exact duplicates removed: {d['duplicates']:,}; texts under two "
              f"labels dropped: {d['ambiguous_texts']:,}. Split: {card['split']['rule']} "
              f"(heldout {card['split']['heldout']}, seed {card['split']['seed']}).", ""]
    if card.get("sources"):
        lines += ["## Sources", ""]
        for lab, what in sorted(card["sources"].items()):
            lines.append(f"- `{lab}`: {what}")
        lines.append("")
    hp = card["hyperparameters"]
    lines += ["## Training", "", "fastText supervised: " + ", ".join(f"{k}={v}" for k, v in hp.items())
              + (f"; quantised: {card['quantization']}" if card.get("quantization") else "") + ".", ""]
    if card.get("notes"):
        lines += [card["notes"].rstrip(), ""]
    return "\n".join(lines)


__all__ = ["DomainTrainConfig", "train_domains", "evaluate", "predict_top", "render_domain_card"]

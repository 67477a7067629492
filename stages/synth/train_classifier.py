"""Train a fastText classifier on LLM grades inside a pipeline, report its agreement with the LLM, score every row."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from dataforge.schema import with_columns
from dataforge.stage import BatchResult, DatasetStage, StageParams, apply_drops

MODEL_DIR = "model"
REPORT_FILE = "classifier_report.json"
PART_COLUMN = "_part"


class TrainClassifierParams(StageParams):
    """Which grades to learn from, the fastText recipe, and the score columns written."""

    label_column: str = Field("edu_score", description="numeric grades written by llm_annotate_v1 (nulls ignored)")
    threshold: float = Field(3.0, description="grades >= threshold are positives (FineWeb-Edu: int_score >= 3)")
    prefix: str = Field("edu_classifier_", description="score columns <prefix>hq / <prefix>cc on every row")
    heldout: float = Field(0.2, gt=0, lt=1, description="share of graded documents held out by hash(seed, id)")
    seed: int = Field(42, description="split and fastText seed (DCLM's default)")
    balance: bool = Field(True, description="down-sample the larger class (DCLM)")
    epoch: int = Field(5, ge=1, description="DCLM: 5")
    lr: float = Field(0.1, gt=0, description="DCLM: 0.1")
    word_ngrams: int = Field(2, ge=1, description="DCLM: 2 (bigrams)")
    dim: int = Field(100, ge=1, description="DCLM: 100")
    min_per_class: int = Field(10, ge=1, description="graded documents each class needs")
    on_too_few: Literal["error", "skip"] = Field(
        "error", description="too few graded documents: stop the run (error), or skip training and write null "
                             "scores with a warning (skip)")
    model_name: str = Field("llm-graded", description="name of the model in the run's manifest")


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), as Spearman's rho needs."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return sums[inv] / counts[inv]


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation of two vectors (None when either is constant or too short)."""
    if len(a) < 3:
        return None
    ra, rb = _ranks(np.asarray(a, float)), _ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


class TrainClassifier(DatasetStage):
    """Train a fastText classifier on LLM grades (the annotated sample), report agreement, then score every row.

    The "LLM as annotator, cheap classifier for the corpus" step of FineWeb-Edu and the Qwen
    recipe, inside one pipeline: every shard sends its graded rows (``label_column`` not null)
    to one training task, which labels grades ``>= threshold`` as ``hq`` and the rest ``cc``
    and trains with ``quality_models`` (DCLM recipe: bigrams, lr 0.1, dim 100, 5 epochs,
    balanced classes, held-out split by hash(seed, id), byte-identical for equal inputs). The
    model, its card and a manifest entry ``<model_name>@run`` land in the stage folder
    (``RUN/stages/NN-train_classifier_v1/model``), so ``fasttext_classify_v1`` can also use it
    later (``model_path``). Agreement with the LLM on the held-out documents goes to
    ``classifier_report.json`` and the run summary: accuracy and F1 at 0.5, AUC, and Spearman's
    rho between the classifier's ``hq`` probability and the LLM's grade.

    Then every row (graded or not) gets ``<prefix>hq`` and ``<prefix>cc`` probabilities;
    threshold them with ``score_filter_v1``. No row is dropped. With too few graded documents
    per class the run stops with the counts, unless ``on_too_few: skip`` (scores null).
    """

    name = "train_classifier_v1"
    Params = TrainClassifierParams
    batch_size = 4096
    example = {"on_too_few": "skip"}

    # -- round 1: graded rows of every shard -> partition 0 --------------------------------------
    def shard_labels(self, unit: int, batches: Iterator[pa.Table]) -> pa.Table | None:
        """The shard's graded rows: id, text, grade (routed to partition 0, the training task)."""
        p: TrainClassifierParams = self.params  # type: ignore[assignment]
        parts = []
        for b in batches:
            if b.num_rows == 0 or p.label_column not in b.column_names:
                continue
            grade = pc.cast(b.column(p.label_column), pa.float64())
            ok = pc.and_(pc.is_valid(grade), pc.is_valid(b.column("text")))
            t = pa.table({"id": pc.cast(b.column("id"), pa.string()), "text": b.column("text"), "grade": grade})
            t = t.filter(ok)
            if t.num_rows:
                parts.append(t)
        if not parts:
            return None
        t = pa.concat_tables(parts)
        return t.append_column(PART_COLUMN, pa.array(np.zeros(t.num_rows, dtype=np.int32)))

    # -- round 2: train on partition 0 ----------------------------------------------------------
    def partition_train(self, part: int, tables: dict[str, pa.Table | None], folder: str) -> tuple[None, dict[str, Any]]:
        """Train, evaluate against the LLM's grades and write the model and report (partition 0 only)."""
        if part != 0:
            return None, {}
        report = self._train(tables.get("labels"), Path(folder))
        (Path(folder) / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True))
        return None, {"trained": report.get("trained", False)}

    def run_dataset(self, ctx: Any) -> None:
        """Collect the graded rows, train once, leave the model in the stage folder."""
        folder = Path(ctx.folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / REPORT_FILE).unlink(missing_ok=True)
        ctx.map_shards("labels", "shard_labels")
        ctx.map_partitions("trained", "partition_train", inputs=["labels"], folder=str(folder))
        report = json.loads((folder / REPORT_FILE).read_text())
        if not report.get("trained"):
            print(f"warning: {self.name}: {report.get('skipped')}", file=sys.stderr)

    def _train(self, labels: pa.Table | None, folder: Path) -> dict[str, Any]:
        """Train the model on the graded rows; a report with counts and the agreement figures."""
        from dataforge.quality_models.train import TrainConfig, TrainingError, train

        p: TrainClassifierParams = self.params  # type: ignore[assignment]
        n = 0 if labels is None else labels.num_rows
        pos = neg = 0
        if labels is not None and n:
            labels = labels.sort_by("id")  # the same order whatever the shard layout
            is_pos = pc.greater_equal(labels.column("grade"), p.threshold)
            pos = int(pc.sum(pc.cast(is_pos, pa.int64())).as_py() or 0)
            neg = n - pos
        report: dict[str, Any] = {"graded": n, "positive": pos, "negative": neg, "threshold": p.threshold,
                                  "label_column": p.label_column, "trained": False}
        if min(pos, neg) < p.min_per_class:
            why = (f"{n} graded documents in {p.label_column!r} ({pos} with grade >= {p.threshold:g}, {neg} below); "
                   f"each class needs min_per_class={p.min_per_class}: grade more documents (raise fraction of "
                   "llm_annotate_v1), change threshold, or lower min_per_class")
            if p.on_too_few == "error":
                raise RuntimeError(f"{self.name}: {why}")
            report["skipped"] = why
            return report
        data = folder / "train_data"
        data.mkdir(parents=True, exist_ok=True)
        pq.write_table(labels.filter(is_pos).select(["id", "text"]), data / "positive.parquet")
        pq.write_table(labels.filter(pc.invert(is_pos)).select(["id", "text"]), data / "negative.parquet")
        cfg = TrainConfig(
            name=p.model_name, version="run", out_dir=str(folder / MODEL_DIR), manifest=str(folder / "manifest.json"),
            positive=[str(data / "positive.parquet")], negative=[str(data / "negative.parquet")],
            heldout=p.heldout, seed=p.seed, balance=p.balance, epoch=p.epoch, lr=p.lr, word_ngrams=p.word_ngrams,
            dim=p.dim, description=f"fastText trained on LLM grades {p.label_column} >= {p.threshold:g} (hq) vs below (cc)",
            command=f"{self.name} inside a pipeline")
        try:
            card = train(cfg, log=lambda msg: None)
        except TrainingError as exc:
            raise RuntimeError(f"{self.name}: training failed: {exc}") from None
        report.update(self._agreement(labels, folder / MODEL_DIR / card["file"], cfg))
        report["model"] = str(folder / MODEL_DIR / card["file"])
        report["sha256"] = card["sha256"]
        report["card_heldout"] = card["heldout_metrics"]["model"]
        report["trained"] = True
        return report

    def _agreement(self, labels: pa.Table, model_path: Path, cfg: Any) -> dict[str, Any]:
        """Classifier vs LLM on the held-out graded documents (all of them, not class-balanced)."""
        from dataforge.hashing import unit_interval
        from dataforge.quality_models.metrics import roc_auc
        from dataforge.quality_models.predict import label_probabilities, load_fasttext
        from dataforge.quality_models.preprocess import prepare_texts

        p: TrainClassifierParams = self.params  # type: ignore[assignment]
        held = unit_interval(labels.column("id"), seed=cfg.seed) < cfg.heldout
        ho = labels.filter(pa.array(held))
        if ho.num_rows == 0:
            return {"heldout": {"documents": 0}}
        model = load_fasttext(str(model_path), self.name)
        texts, _ = prepare_texts(ho.column("text"), lowercase=False, max_chars=0)
        prob = label_probabilities(model, texts.to_pylist(), ["hq"])[:, 0].astype(np.float64)
        grade = ho.column("grade").to_numpy(zero_copy_only=False)
        truth = grade >= p.threshold
        pred = prob >= 0.5
        tp = int((pred & truth).sum())
        precision = tp / max(1, int(pred.sum()))
        recall = tp / max(1, int(truth.sum()))
        return {"heldout": {
            "documents": int(ho.num_rows), "positive": int(truth.sum()),
            "accuracy": float((pred == truth).mean()),
            "f1": 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall),
            "precision": precision, "recall": recall,
            "auc": roc_auc(prob, truth.astype(np.int8)) if 0 < truth.sum() < len(truth) else None,
            "spearman": spearman(prob, grade),
        }}

    # -- applying: score every row --------------------------------------------------------------
    def _scorer(self, folder: Any) -> Any:
        """A fasttext_classify_v1 stage on the trained model (None when training was skipped)."""
        if getattr(self, "_scorer_cache", None) is not None:
            return self._scorer_cache
        from dataforge.stages.quality.fasttext_classifier import FastTextClassify

        report = json.loads((Path(folder) / REPORT_FILE).read_text()) if folder else {}
        if not report.get("trained"):
            return None
        p: TrainClassifierParams = self.params  # type: ignore[assignment]
        scorer = FastTextClassify(model_path=report["model"], model_sha256=report["sha256"], prefix=p.prefix,
                                  labels=["hq", "cc"])
        scorer.ensure_setup()
        self._scorer_cache = scorer
        return scorer

    def _null_scores(self, batch: pa.Table) -> pa.Table:
        """Null score columns (no model)."""
        p: TrainClassifierParams = self.params  # type: ignore[assignment]
        return with_columns(batch, {f"{p.prefix}hq": pa.nulls(batch.num_rows, pa.float32()),
                                    f"{p.prefix}cc": pa.nulls(batch.num_rows, pa.float32())})

    def annotate_kept(self, batch: pa.Table, annotations: pa.Table | None) -> pa.Table:
        """Without a trained model (an empty input): null score columns."""
        return self._null_scores(batch)

    def apply_batch(self, batch: pa.Table, drops: pa.Table | None, annotations: pa.Table | None, folder: Any) -> BatchResult:
        """Keep every row and add the classifier's probabilities."""
        res = apply_drops(batch, drops) if drops is not None else BatchResult(kept=batch)
        scorer = self._scorer(folder)
        if scorer is None or res.kept.num_rows == 0:
            res.kept = self._null_scores(res.kept)
            return res
        scored = scorer.annotate(res.kept)
        p: TrainClassifierParams = self.params  # type: ignore[assignment]
        res.kept = with_columns(scored, {c: pc.cast(scored.column(c), pa.float32())
                                         for c in (f"{p.prefix}hq", f"{p.prefix}cc")})
        return res

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the loaded scorer."""
        state = dict(self.__dict__)
        state.pop("_scorer_cache", None)
        return state

    def report(self, folder: Any) -> dict[str, Any] | None:
        """The training counts and classifier-vs-LLM agreement, for the run summary."""
        path = Path(folder) / REPORT_FILE
        return json.loads(path.read_text()) if path.is_file() else None

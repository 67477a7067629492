"""Label mixture domains with a fastText domain classifier, after (or before) the URL/source rules."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from dataforge.schema import with_columns
from dataforge.stage import Annotator, StageError, StageParams

#: The domain model the project ships (quality_models/manifest.json, quality_models/web_domain_v1/).
DEFAULT_MODEL = "web-domain@1"


class DomainClassifyParams(StageParams):
    """Which model, which columns, and who wins when rules and the classifier disagree."""

    model: str = Field(DEFAULT_MODEL, description="name@version in the manifest (default: the shipped web-domain@1)")
    manifest: str | None = Field(None, description="manifest listing `model` (default: the shipped one)")
    model_path: str | None = Field(None, description="a supervised fastText model file instead of a manifest entry")
    model_sha256: str | None = Field(None, description="expected sha256 of model_path, checked in setup")
    column: str = Field("mix_domain", description="the mixture-domain column (read and written)")
    score_column: str = Field("mix_domain_score", description="probability of the classifier's label (null where unused)")
    by_column: str | None = Field("mix_domain_by", description="who labelled the row: rule, classifier or fallback "
                                                               "(null: do not write it)")
    precedence: Literal["rules", "classifier"] = Field(
        "rules", description="rules: a label already in `column` (from domain_rules_v1 or the source) is kept and "
                             "the classifier labels the rest; classifier: a confident prediction replaces it")
    min_score: float = Field(0.0, ge=0.0, le=1.0, description="predictions below this probability are not used")
    fallback: str = Field("web", description="label of rows neither a rule nor a confident prediction labelled")
    rename: dict[str, str] = Field(default_factory=dict, description="model label -> domain name, e.g. {knowledge: wiki}")
    max_chars: int | None = Field(None, ge=0, description="predict on the first N characters (default: as trained)")


class DomainClassify(Annotator):
    """Label each document's mixture domain (``mix_domain``) with a fastText domain classifier, rules first.

    Meant to follow ``domain_rules_v1`` with ``fallback: null``: with ``precedence: rules`` (the
    default) rows a rule (or the source) already labelled keep their label and the classifier
    labels the others; with ``precedence: classifier`` a prediction of at least ``min_score``
    replaces the rule's label and rules decide only where the model is unsure. Rows neither
    labelled get ``fallback``. Writes ``mix_domain_score`` (the probability of the label used, null
    where no prediction was used) and ``mix_domain_by`` (``rule``, ``classifier`` or ``fallback``).
    The model is ``name@version`` from the manifest (default: the shipped ``web-domain@1`` with
    labels web, math, code, knowledge; see its card) or ``model_path``, checked by sha256 in
    ``setup()``; ``rename`` maps its labels to your domain names. One batched top-1
    ``predict`` per batch, on the text as one line (as the model was trained).
    """

    name = "domain_classify_v1"
    Params = DomainClassifyParams
    batch_size = 4096
    stateful = True  # the model loads once per actor

    def setup(self) -> None:
        """Resolve the model, check its sha256 and load it."""
        from dataforge.quality_models.predict import model_labels
        from dataforge.stages.quality.fasttext_classifier import load_verified_model

        p: DomainClassifyParams = self.params  # type: ignore[assignment]
        model, path, ref, digest, preprocess = load_verified_model(self.name, p.model, p.manifest, p.model_path,
                                                                   p.model_sha256)
        labels = model_labels(model)
        unknown = sorted(set(p.rename) - set(labels))
        if unknown:
            raise StageError(f"{self.name}: rename lists {unknown}, which are not labels of {ref}; it has {labels}")
        self._model = model
        self._labels = labels
        self._lowercase = bool(preprocess.get("lowercase", False))
        self._max_chars = p.max_chars if p.max_chars is not None else int(preprocess.get("max_chars", 0) or 0)
        self._ref, self._sha = ref, digest

    def versions(self) -> dict[str, str]:
        """The model and its sha256, for manifests."""
        if not getattr(self, "_sha", None):
            return {}
        return {"domain_model": self._ref, "domain_model_sha256": self._sha}

    def _predict(self, text: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, np.ndarray]:
        """Top label (renamed, null where the text has no words) and its probability per row."""
        from dataforge.quality_models.preprocess import prepare_texts

        p: DomainClassifyParams = self.params  # type: ignore[assignment]
        n = len(text)
        lines, present = prepare_texts(text, lowercase=self._lowercase, max_chars=self._max_chars)
        idx = np.flatnonzero(present)
        prob = np.zeros(n, dtype=np.float32)
        label = pa.nulls(n, pa.string())
        if idx.size:
            subset = lines if idx.size == n else pc.take(lines, pa.array(idx))
            labs, probs = self._model.predict(subset.to_pylist(), k=1)
            top = pa.array([row[0] if row else None for row in labs], pa.string())
            top = pc.utf8_replace_slice(top, 0, len("__label__"), "")  # fastText's prefix
            if p.rename:
                keys = pa.array(list(p.rename), pa.string())
                where = pc.index_in(top, value_set=keys)
                top = pc.coalesce(pc.take(pa.array(list(p.rename.values()), pa.string()), where), top)
            prob[idx] = np.fromiter((row[0] if len(row) else 0.0 for row in probs), dtype=np.float32, count=idx.size)
            if idx.size == n:
                label = top
            else:
                full = np.full(n, None, dtype=object)
                full[idx] = np.asarray(top.to_pylist(), dtype=object)
                label = pa.array(full.tolist(), pa.string())
        return label, prob

    def annotate(self, batch: pa.Table) -> pa.Table:
        """Fill (or, with precedence classifier, override) the domain column; add score and by columns."""
        p: DomainClassifyParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        existing = (pc.cast(batch.column(p.column), pa.string()) if p.column in batch.column_names
                    else pa.nulls(n, pa.string()))
        if isinstance(existing, pa.ChunkedArray):
            existing = existing.combine_chunks()
        has_rule = pc.is_valid(existing)
        if p.precedence == "rules":
            need = pc.invert(has_rule)
        else:
            need = pa.array(np.ones(n, dtype=bool))
        predicted = pa.nulls(n, pa.string())
        prob = np.zeros(n, dtype=np.float32)
        rows = np.flatnonzero(np.asarray(need.to_numpy(zero_copy_only=False), dtype=bool)) if n else np.zeros(0, np.int64)
        if rows.size:
            text = batch.column("text") if "text" in batch.column_names else pa.nulls(n, pa.string())
            sub = text if rows.size == n else pc.take(text, pa.array(rows))
            lab, pr = self._predict(sub)
            if rows.size == n:
                predicted = lab
            else:
                full = np.full(n, None, dtype=object)
                full[rows] = np.asarray(lab.to_pylist(), dtype=object)
                predicted = pa.array(full.tolist(), pa.string())
            prob[rows] = pr
        confident = pc.and_(pc.is_valid(predicted), pa.array(prob.astype(np.float64) >= p.min_score))
        confident = pc.fill_null(confident, False)
        use_clf = pc.and_(confident, need) if p.precedence == "rules" else confident
        label = pc.if_else(use_clf, predicted, existing)
        by = pc.if_else(use_clf, "classifier", pc.if_else(has_rule, "rule", "fallback"))
        label = pc.fill_null(label, p.fallback)
        score = pa.array(prob, pa.float32(), mask=~np.asarray(use_clf.to_numpy(zero_copy_only=False), dtype=bool))
        cols: dict[str, Any] = {p.column: label, p.score_column: score}
        if p.by_column:
            cols[p.by_column] = by
        return with_columns(batch, cols)

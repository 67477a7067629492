"""Score documents with a fastText quality classifier (DCLM, FineWeb-Edu style, or trained by train-quality)."""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from dataforge.schema import with_columns
from dataforge.stage import Annotator, StageError, StageParams

#: The quality model the project ships (quality_models/manifest.json).
DEFAULT_MODEL = "web-content@1"


def column_suffix(label: str) -> str:
    """A label as a column-name suffix: lowercase, runs of other characters as ``_`` (``__label__hq`` -> ``hq``)."""
    label = label.removeprefix("__label__")
    return re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_") or "label"


class FastTextClassifyParams(StageParams):
    """Which model, which columns, and how text is prepared."""

    model: str = Field(DEFAULT_MODEL, description="name@version in the manifest (default: the shipped model); "
                                                  "ignored when model_path is set")
    manifest: str | None = Field(None, description="manifest file listing `model` (default: the shipped one)")
    model_path: str | None = Field(
        None, description="a fastText model file on disk instead of a manifest entry (DCLM .bin, FineWeb-Edu style, ...)")
    model_sha256: str | None = Field(None, description="expected sha256 of model_path, checked in setup")
    prefix: str = Field("quality_", description="column prefix: one float column <prefix><label> per label")
    labels: list[str] = Field(default_factory=list, description="labels to write (default: all the model's labels)")
    lowercase: bool | None = Field(None, description="lowercase before predicting (default: as the model was trained; else no)")
    max_chars: int | None = Field(
        None, ge=0, description="predict on the first N characters (default: as trained; else 0 = whole text, as DCLM)")
    score_weights: dict[str, float] = Field(
        default_factory=dict,
        description="also write <prefix>score = sum of weight x probability, e.g. {'0': 0, ..., '5': 5} for an "
                    "educational-score classifier")

    @field_validator("labels")
    @classmethod
    def _strip(cls, v: list[str]) -> list[str]:
        """Labels compare without fastText's __label__ prefix."""
        return [x.removeprefix("__label__") for x in v]

    @field_validator("score_weights")
    @classmethod
    def _strip_keys(cls, v: dict[str, float]) -> dict[str, float]:
        """Weight keys compare without fastText's __label__ prefix."""
        return {k.removeprefix("__label__"): float(w) for k, w in v.items()}


def load_verified_model(who: str, model: str | None, manifest: str | None, model_path: str | None,
                        model_sha256: str | None) -> tuple[Any, str, str, str, dict[str, Any]]:
    """Resolve a fastText model (``name@version`` in a manifest, or a path), check its sha256 and load it.

    Returns (model, path, ref, sha256, preprocess); every failure is a StageError naming ``who`` and the fix.
    """
    from dataforge.quality_models.manifest import ModelNotFound, file_sha256, resolve
    from dataforge.quality_models.predict import load_fasttext

    preprocess: dict[str, Any] = {}
    if model_path:
        path, expected, ref = model_path, model_sha256, os.path.basename(model_path)
        if not os.path.isfile(path):
            raise StageError(f"{who}: params.model_path {path!r} is not a file; give the path of a "
                             "supervised fastText model (.bin or .ftz)")
    else:
        try:
            entry = resolve(model, manifest)
        except ModelNotFound as exc:
            raise StageError(f"{who}: {exc}") from None
        path, expected, ref = str(entry.path), entry.sha256, entry.ref
        preprocess = entry.preprocess or {}
        if not os.path.isfile(path):
            raise StageError(f"{who}: {ref} points to {path}, which does not exist; fix the manifest entry "
                             "or reinstall dataforge")
    digest = file_sha256(path)
    if expected and digest != expected:
        raise StageError(f"{who}: {path} has sha256 {digest}, but {expected} is expected for {ref}; the file "
                         "changed or is a different model: restore it, or update the manifest / params.model_sha256")
    try:
        loaded = load_fasttext(path, who=who)
    except ImportError as exc:
        raise StageError(str(exc)) from None
    except ValueError as exc:
        raise StageError(f"{who}: {path} is not a fastText model ({exc})") from None
    return loaded, path, ref, digest, preprocess


class FastTextClassify(Annotator):
    """Write a fastText classifier's label probabilities as columns (quality_hq, quality_cc, ...), DCLM-style.

    The model comes from ``model: name@version`` in a manifest (default: the shipped
    ``web-content@1``; see quality_models/) or from ``model_path`` (any supervised fastText
    model, e.g. DCLM's ``openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train.bin`` with labels
    hq/cc, or a FineWeb-Edu-style classifier), checked against its sha256 in ``setup()``.
    Each document is predicted as one line, the way DCLM scores it (line breaks become spaces;
    ``lowercase`` and ``max_chars`` follow the manifest entry, else off and the whole text), in
    one batched ``predict(k=-1)`` per batch. Every label gets a float column
    ``<prefix><label>`` (``quality_hq``, ``quality_cc``): fastText's probabilities, which for a
    softmax model sum to 1 (plus 1e-5 per label that fastText adds). DCLM's
    ``fasttext_hq_prob`` equals ``quality_hq`` when hq is the top label and ``1 - quality_cc``
    (``quality_hq`` - 2e-5) otherwise, so published DCLM thresholds apply as they are.
    ``score_weights`` adds ``<prefix>score``, a weighted sum of probabilities (FineWeb-Edu's
    expected score over labels 0..5). Empty or whitespace-only text gets null scores (no
    words to judge); a later ``score_filter_v1`` drops them as ``score_missing`` unless told to
    keep them. Threshold with ``score_filter_v1`` or sample with ``score_sample_v1``, so that
    re-thresholding never re-runs the model.
    """

    name = "fasttext_classify_v1"
    Params = FastTextClassifyParams
    batch_size = 2048
    stateful = True

    def setup(self) -> None:
        """Resolve the model, check its sha256, load it and map its labels to columns."""
        from dataforge.quality_models.predict import model_labels

        p: FastTextClassifyParams = self.params  # type: ignore[assignment]
        model, path, ref, digest, preprocess = load_verified_model(self.name, p.model, p.manifest, p.model_path,
                                                                   p.model_sha256)
        labels = model_labels(model)
        try:
            model.predict(["probe"], k=1)
        except Exception as exc:  # noqa: BLE001 - unsupervised models cannot predict
            raise StageError(f"{self.name}: {path} is not a supervised fastText classifier ({exc})") from None
        wanted = p.labels or labels
        unknown = [x for x in [*wanted, *p.score_weights] if x not in labels]
        if unknown:
            raise StageError(f"{self.name}: labels {unknown} are not labels of {ref}; it has {labels}")
        columns = [p.prefix + column_suffix(x) for x in wanted]
        if len(set(columns)) != len(columns):
            raise StageError(f"{self.name}: labels {wanted} give clashing column names {columns}; "
                             "choose params.labels to write fewer")
        self._model = model
        self._labels = list(wanted)
        self._columns = columns
        self._weights = np.array([p.score_weights.get(x, 0.0) for x in wanted], dtype=np.float64)
        self._score_column = p.prefix + "score" if p.score_weights else None
        if self._score_column and set(p.score_weights) - set(wanted):
            raise StageError(f"{self.name}: score_weights names labels that params.labels leaves out")
        self._lowercase = p.lowercase if p.lowercase is not None else bool(preprocess.get("lowercase", False))
        self._max_chars = p.max_chars if p.max_chars is not None else int(preprocess.get("max_chars", 0) or 0)
        self._ref, self._sha = ref, digest

    def versions(self) -> dict[str, str]:
        """The model and its sha256, for manifests."""
        if not getattr(self, "_sha", None):
            return {}
        return {"quality_model": self._ref, "quality_model_sha256": self._sha}

    def output_columns(self) -> list[str]:
        """The columns this stage writes (after setup)."""
        return self._columns + ([self._score_column] if self._score_column else [])

    def annotate(self, batch: pa.Table) -> pa.Table:
        """Add one probability column per label (null where the text has no words)."""
        from dataforge.quality_models.predict import label_probabilities
        from dataforge.quality_models.preprocess import prepare_texts

        n = batch.num_rows
        k = len(self._labels)
        probs = np.zeros((n, k), dtype=np.float32)
        present = np.zeros(n, dtype=bool)
        if n:
            text = batch.column("text") if "text" in batch.column_names else pa.nulls(n, pa.string())
            lines, present = prepare_texts(text, lowercase=self._lowercase, max_chars=self._max_chars)
            idx = np.flatnonzero(present)
            if idx.size == n:
                probs = label_probabilities(self._model, lines.to_pylist(), self._labels)
            elif idx.size:
                subset = pc.take(lines, pa.array(idx)).to_pylist()
                probs[idx] = label_probabilities(self._model, subset, self._labels)
        missing = ~present
        cols: dict[str | pa.Field, pa.Array] = {
            name: pa.array(probs[:, j], pa.float32(), mask=missing) for j, name in enumerate(self._columns)
        }
        if self._score_column:
            cols[self._score_column] = pa.array(probs.astype(np.float64) @ self._weights, pa.float32(), mask=missing)
        return with_columns(batch, cols)

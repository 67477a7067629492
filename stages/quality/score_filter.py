"""Keep documents whose score passes a threshold, or the best p% by a global percentile fixed in advance."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from dataforge.stage import Filter, StageError, StageParams
from dataforge.stages.quality.scores import ScoreColumnError, missing_detail, score_values


class ScoreFilterParams(StageParams):
    """A threshold, or a share to keep with where its percentile comes from."""

    column: str = Field(description="numeric score column, e.g. quality_hq from fasttext_classify_v1")
    threshold: float | None = Field(None, description="keep documents scoring >= threshold (<= with keep: low)")
    keep_percent: float | None = Field(
        None, gt=0, le=100,
        description="keep this share of documents from the good end; the threshold is the matching percentile of "
                    "`reference` (exact) or of the model card's held-out distribution (`model`)")
    reference: list[str] = Field(
        default_factory=list,
        description="Parquet files/folders/globs already scored (e.g. RUN/stages/02-fasttext_classify_v1/data) "
                    "whose `column` sets the percentile")
    model: str | None = Field(None, description="name@version whose card's held-out score distribution sets the percentile")
    manifest: str | None = Field(None, description="manifest listing `model` (default: the shipped one)")
    keep: Literal["high", "low"] = Field("high", description="which end is good: high scores (quality) or low (e.g. toxicity)")
    missing: Literal["drop", "keep"] = Field("drop", description="documents without a score (null, NaN, no column)")

    @model_validator(mode="after")
    def _one_rule(self) -> "ScoreFilterParams":
        """Exactly one rule, and a percentile source only where a percentile needs one."""
        if (self.threshold is None) == (self.keep_percent is None):
            raise ValueError("give exactly one of threshold or keep_percent")
        if self.keep_percent is not None and bool(self.reference) == bool(self.model):
            raise ValueError("keep_percent needs exactly one source for its percentile: reference (scored Parquet "
                             "files) or model (a name@version whose card has a held-out distribution)")
        if self.threshold is not None and (self.reference or self.model):
            raise ValueError("reference and model only serve keep_percent; with a threshold, leave them out")
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise ValueError("threshold must be a finite number")
        return self


def threshold_from_values(values: np.ndarray, keep_percent: float, keep: str) -> tuple[float, int]:
    """The score that keeps ``round(n * keep_percent / 100)`` of ``values`` (ties may keep more), and n.

    keep high: the m-th largest value (keep ``>=`` it); keep low: the m-th smallest (keep ``<=`` it).
    """
    v = np.sort(values[np.isfinite(values)])
    n = v.size
    if n == 0:
        raise ValueError("no finite scores")
    m = int(round(n * keep_percent / 100.0))
    if m == 0:
        return (math.inf if keep == "high" else -math.inf), n
    return (float(v[n - m]) if keep == "high" else float(v[m - 1])), n


class ScoreFilter(Filter):
    """Drop documents whose score is under a threshold (``score_below_threshold``), or keep the best p%.

    ``threshold`` keeps ``score >= threshold`` (``keep: low`` keeps ``score <= threshold`` and drops
    ``score_above_threshold``). A percentile needs the global distribution, which one batch does
    not see, so ``keep_percent`` takes its threshold from a distribution fixed before the run,
    resolved once in ``setup()`` and recorded in the stage manifest:

    - ``reference``: scored Parquet files (a previous run's ``fasttext_classify_v1`` output); the
      threshold is the exact order statistic that keeps ``keep_percent`` of them. Score a sample
      first, then filter the full crawl with the same threshold.
    - ``model``: the held-out score distribution in the model card (101 percentiles of the
      positive label's probability, interpolated). The held-out set is balanced positives and
      negatives from the training sources, so "top 10%" means top 10% of *that* mix, not of
      your data; prefer ``reference`` or a threshold read off ``dataforge stats RUN --signals``.

    Documents without a score (empty text, a missing column) are dropped as ``score_missing``
    unless ``missing: keep``. The detail of each drop shows the score and the threshold.
    """

    name = "score_filter_v1"
    Params = ScoreFilterParams
    batch_size = 8192
    example = {"column": "quality_hq", "threshold": 0.5}

    def setup(self) -> None:
        """Fix the threshold: given, or the percentile of the reference data or the model card."""
        p: ScoreFilterParams = self.params  # type: ignore[assignment]
        if p.threshold is not None:
            self._threshold, self._origin = float(p.threshold), "threshold"
            return
        assert p.keep_percent is not None
        if p.reference:
            values = self._reference_values(p.reference, p.column)
            try:
                t, n = threshold_from_values(values, p.keep_percent, p.keep)
            except ValueError:
                raise StageError(f"{self.name}: params.reference has no finite {p.column!r} scores; point it at the "
                                 "output of the stage that writes them") from None
            self._threshold, self._origin = t, f"keep {p.keep_percent}% of {n} reference scores"
            return
        self._threshold, self._origin = self._card_threshold(p)

    def _reference_values(self, paths: list[str], column: str) -> np.ndarray:
        """The column from every reference Parquet file (only that column is read)."""
        import pyarrow.parquet as pq

        from dataforge.readers.files import expand, filesystem

        try:
            files = expand(paths, (".parquet", ".pq"))
        except FileNotFoundError as exc:
            raise StageError(f"{self.name}: params.reference: {exc}") from None
        chunks = []
        for f in files:
            fs, path = filesystem(f.path)
            pf = pq.ParquetFile(fs.open_input_file(path))
            if column not in pf.schema_arrow.names:
                raise StageError(f"{self.name}: reference file {f.path} has no column {column!r}; give the output of "
                                 "the stage that writes it")
            col = pf.read(columns=[column]).column(column)
            chunks.append(np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64))
        return np.concatenate(chunks) if chunks else np.zeros(0)

    def _card_threshold(self, p: ScoreFilterParams) -> tuple[float, str]:
        """The threshold that keeps ``keep_percent`` of the card's held-out distribution."""
        from dataforge.quality_models.manifest import ModelNotFound, resolve
        from dataforge.quality_models.metrics import value_at_top_percent
        from dataforge.stages.quality.fasttext_classifier import column_suffix

        try:
            entry = resolve(p.model or "", p.manifest)
        except ModelNotFound as exc:
            raise StageError(f"{self.name}: {exc}") from None
        card = entry.card_json() or {}
        table = ((card.get("heldout_metrics") or {}).get("model") or {}).get("score_table")
        if not table:
            raise StageError(f"{self.name}: the card of {entry.ref} has no held-out score distribution; use "
                             "params.reference or a threshold")
        pos = entry.positive_label or ""
        if not p.column.endswith(column_suffix(pos)):
            raise StageError(f"{self.name}: the card of {entry.ref} describes the probability of label {pos!r}, "
                             f"but params.column is {p.column!r}; use the column fasttext_classify_v1 writes for "
                             f"{pos!r} (e.g. quality_{column_suffix(pos)})")
        pct = p.keep_percent if p.keep == "high" else 100.0 - float(p.keep_percent)  # type: ignore[operator]
        t = value_at_top_percent(table, pct)
        return t, f"keep {p.keep_percent}% of {entry.ref}'s held-out distribution"

    def versions(self) -> dict[str, str]:
        """The threshold in force and where it came from, for manifests."""
        if not hasattr(self, "_threshold"):
            return {}
        return {"score_filter_threshold": repr(self._threshold), "score_filter_threshold_origin": self._origin}

    def reasons(self, batch: pa.Table) -> tuple[pa.Array, pa.Array]:
        """``score_below_threshold`` / ``score_above_threshold`` / ``score_missing`` per row, with details."""
        p: ScoreFilterParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        if n == 0:
            return pa.nulls(0, pa.string()), pa.nulls(0, pa.string())
        try:
            values, present = score_values(batch, p.column, self.name)
        except ScoreColumnError as exc:
            raise StageError(str(exc)) from None
        t = self._threshold
        if present and pa.types.is_float32(batch.column(p.column).type) and math.isfinite(t):
            t = float(np.float32(t))  # compare in the column's precision: a float32 0.2 is "0.2", not above it
        missing = np.isnan(values)
        with np.errstate(invalid="ignore"):
            bad = (values < t) if p.keep == "high" else (values > t)
        bad &= ~missing
        reason_name = "score_below_threshold" if p.keep == "high" else "score_above_threshold"
        sign = "<" if p.keep == "high" else ">"
        null = pa.scalar(None, pa.string())
        shown = pc.cast(pc.round(pa.array(np.where(missing, 0.0, values)), 6), pa.string())
        detail_bad = pc.binary_join_element_wise(pa.scalar(f"{p.column}="), shown, pa.scalar(f" {sign} {t:.6g}"), "")
        drop_missing = missing if p.missing == "drop" else np.zeros(n, dtype=bool)
        bad_arr, miss_arr = pa.array(bad), pa.array(drop_missing)
        reason = pc.if_else(miss_arr, pa.scalar("score_missing"), pc.if_else(bad_arr, pa.scalar(reason_name), null))
        detail = pc.if_else(miss_arr, pa.scalar(missing_detail(p.column, present)), pc.if_else(bad_arr, detail_bad, null))
        return reason, detail

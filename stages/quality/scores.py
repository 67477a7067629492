"""Read a numeric score column of a batch for thresholding or sampling, with missing scores marked."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class ScoreColumnError(TypeError):
    """The score column exists but is not numeric."""


def score_values(batch: pa.Table, column: str, stage: str) -> tuple[np.ndarray, bool]:
    """The column as float64 with NaN for null/NaN scores, and whether the column exists at all.

    An absent column gives all-NaN (every score missing); a non-numeric one is an error that names it.
    """
    n = batch.num_rows
    if column not in batch.column_names:
        return np.full(n, np.nan), False
    col = batch.column(column)
    t = col.type
    if not (pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)):
        raise ScoreColumnError(f"{stage}: column {column!r} has type {t}, not a number; point params.column at a "
                               "score column such as quality_hq")
    values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float64), True


def missing_detail(column: str, present: bool, producer: str = "fasttext_classify_v1") -> str:
    """The detail of a ``score_missing`` drop: why the score is missing and what to do."""
    if not present:
        return (f"column {column} is absent: run {producer} (or the stage that writes it) earlier in the pipeline, "
                "or fix params.column")
    return f"{column} is null (e.g. empty text); set params.missing: keep to keep such documents"

"""Drop columns from documents."""

from __future__ import annotations

import pyarrow as pa
from pydantic import Field, field_validator

from dataforge.schema import CORE_COLUMNS
from dataforge.stage import StageParams, Transform


class DropColumnsParams(StageParams):
    """Columns to remove (core columns cannot be removed)."""

    columns: list[str] = Field(min_length=1, description="names of columns to drop; absent ones are ignored")

    @field_validator("columns")
    @classmethod
    def _not_core(cls, v: list[str]) -> list[str]:
        core = sorted(set(v) & set(CORE_COLUMNS))
        if core:
            raise ValueError(f"core columns {core} cannot be dropped; every stage relies on them")
        return v


class DropColumns(Transform):
    """Remove columns (signatures, raw HTML, intermediate signals) before publishing; absent ones are ignored."""

    name = "drop_columns_v1"
    Params = DropColumnsParams
    batch_size = 16384
    example = {"columns": ["zz_extra_absent"]}

    def transform(self, batch: pa.Table) -> pa.Table:
        """Return the batch without the configured columns."""
        present = [c for c in self.params.columns if c in batch.column_names]
        return batch.drop_columns(present) if present else batch

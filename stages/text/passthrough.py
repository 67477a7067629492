"""The identity stage."""

from __future__ import annotations

import pyarrow as pa

from dataforge.stage import Transform


class PassThrough(Transform):
    """Pass every row through unchanged (measures engine overhead; a placeholder while drafting a pipeline)."""

    name = "passthrough_v1"
    batch_size = 8192

    def transform(self, batch: pa.Table) -> pa.Table:
        """Return the batch as it is."""
        return batch

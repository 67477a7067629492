"""Deterministic sampling by document id."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from dataforge.hashing import unit_interval
from dataforge.stage import Filter, StageParams


class SampleParams(StageParams):
    """What fraction to keep and the seed of the draw."""

    rate: float = Field(ge=0.0, le=1.0, description="fraction of documents kept")
    seed: int = Field(0, description="changing it draws a different, equally deterministic sample")


class Sample(Filter):
    """Keep a deterministic fraction of documents: row kept iff u(seed, id) < rate.

    u is a uniform draw from a hash of (seed, id), never a global generator, so the same
    documents are kept on any number of workers and reruns, and a larger rate keeps a superset.
    Dropped rows carry the reason ``sampled_out``.
    """

    name = "sample_v1"
    Params = SampleParams
    batch_size = 16384
    example = {"rate": 0.5}

    def reasons(self, batch: pa.Table) -> pa.Array:
        """``sampled_out`` for rows outside the sample."""
        p: SampleParams = self.params  # type: ignore[assignment]
        if batch.num_rows == 0:
            return pa.array([], pa.string())
        u = unit_interval(batch.column("id"), p.seed)
        out = pa.array(np.where(u < p.rate, None, "sampled_out"), pa.string())
        return pc.cast(out, pa.string())

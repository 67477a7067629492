"""Basic text statistics as columns."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from dataforge.schema import with_columns
from dataforge.stage import Annotator


class TextStats(Annotator):
    """Annotate each document with ``n_chars``, ``n_bytes``, ``n_words`` and ``n_lines`` (vectorised; words split on whitespace)."""

    name = "text_stats_v1"
    batch_size = 8192

    def annotate(self, batch: pa.Table) -> pa.Table:
        """Add the four count columns."""
        n = batch.num_rows
        if "text" in batch.column_names and n:
            text = pc.fill_null(batch.column("text"), "")
            chars = pc.utf8_length(text)
            nbytes = pc.binary_length(text)
            words = pc.count_substring_regex(text, r"\S+")
            lines = pc.add(pc.count_substring(text, "\n"), pc.cast(pc.greater(chars, 0), pa.int32()))
        else:
            chars = nbytes = words = lines = pa.array([0] * n, pa.int32())
        counts = {"n_chars": chars, "n_bytes": nbytes, "n_words": words, "n_lines": lines}
        return with_columns(batch, {name: pc.cast(col, pa.int64()) for name, col in counts.items()})

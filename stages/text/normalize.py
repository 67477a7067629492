"""Unicode and whitespace normalisation of the text column."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from dataforge.stage import StageParams, Transform


class NormalizeParams(StageParams):
    """How to normalise."""

    form: Literal["NFC", "NFKC", "NFD", "NFKD", "none"] = Field("NFC", description="Unicode normalisation form")
    collapse_spaces: bool = Field(True, description="runs of spaces and tabs become one space")
    max_newlines: int = Field(2, ge=1, description="runs of more blank lines are cut to this many newlines")
    strip: bool = Field(True, description="trim whitespace at both ends of each line and of the document")
    remove_control: bool = Field(True, description="drop C0/C1 control characters except tab and newline")


class NormalizeText(Transform):
    """Normalise text: Unicode form (NFC by default, as Qwen's tokenizer expects), control characters, whitespace runs.

    Vectorised over the Arrow batch (pyarrow compute with RE2 regexes); never changes row count.
    """

    name = "normalize_text_v1"
    Params = NormalizeParams
    batch_size = 4096

    def transform(self, batch: pa.Table) -> pa.Table:
        """Rewrite the ``text`` column."""
        p: NormalizeParams = self.params  # type: ignore[assignment]
        if batch.num_rows == 0 or "text" not in batch.column_names:
            return batch
        text = batch.column("text")
        text = pc.replace_substring_regex(text, r"\r\n?", "\n")
        if p.form != "none":
            text = pc.utf8_normalize(text, p.form)
        if p.remove_control:
            text = pc.replace_substring_regex(text, r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", "")
        if p.collapse_spaces:
            text = pc.replace_substring_regex(text, r"[ \t\x{00a0}\x{3000}]+", " ")
        if p.strip:
            text = pc.replace_substring_regex(text, r"(?m)^ +| +$", "")
            text = pc.utf8_trim_whitespace(text)
        text = pc.replace_substring_regex(text, r"\n{" + str(p.max_newlines + 1) + ",}", "\n" * p.max_newlines)
        return batch.set_column(batch.column_names.index("text"), "text", text)

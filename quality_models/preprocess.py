"""Turn document text into the single line a fastText quality classifier reads, the DCLM way.

DCLM scores ``" ".join(text.strip().splitlines())`` (baselines/mappers/enrichers/
quality_prediction_enrichers_calc_fasttext.py); FineWeb-Edu-style and datatrove classifiers
replace ``\\n`` with a space. fastText splits words on whitespace and ends a line at ``\\n``,
so replacing every character ``str.splitlines`` breaks on by one space gives fastText exactly
the tokens DCLM gives it. Training (``dataforge train-quality``) and scoring
(``fasttext_classify_v1``) both go through :func:`prepare_texts`, so a model sees the same
text at both ends.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Characters ``str.splitlines`` breaks on (\n \r \v \f \x1c \x1d \x1e \x85 U+2028 U+2029), plus NUL.
LINE_BREAKS = r"[\n\r\x0b\x0c\x1c\x1d\x1e\x85\x{2028}\x{2029}\x00]"


def prepare_texts(
    text: pa.Array | pa.ChunkedArray, lowercase: bool = False, max_chars: int = 0
) -> tuple[pa.Array, np.ndarray]:
    """One line per document (line breaks to spaces, optional lowercase, first ``max_chars``) and a has-words mask.

    Null text counts as empty. The mask is False where nothing but whitespace is left: such
    rows have no defined score and are not sent to the model.
    """
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks() if text.num_chunks != 1 else text.chunk(0)
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        text = pc.cast(text, pa.string())
    text = pc.fill_null(text, "")
    if max_chars and max_chars > 0:
        text = pc.utf8_slice_codeunits(text, 0, max_chars)
    text = pc.replace_substring_regex(text, LINE_BREAKS, " ")
    if lowercase:
        text = pc.utf8_lower(text)
    text = pc.utf8_trim_whitespace(text)
    present = np.asarray(pc.greater(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False), dtype=bool)
    return text, present

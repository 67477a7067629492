"""Vectorised line and paragraph statistics over a text column, matching Python's string semantics.

The reference rules use three notions of a line: ``str.splitlines()`` (Gopher quality, C4),
``str.split("\\n")`` (FineWeb) and ``re.split("\\n+")`` / ``re.split("\\n{2,}")`` (Gopher
repetition). These helpers compute the same counts with Arrow kernels (RE2) over a whole batch;
the tests check them against the Python definitions on awkward inputs.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Python's ``str.splitlines`` boundaries (``\r\n`` counts once), as an RE2 pattern.
_BREAKS = r"\r\n|[\n\x0b\x0c\r\x1c\x1d\x1e\x{85}\x{2028}\x{2029}]"
#: Whitespace that is not a line boundary (``str.isspace`` minus the boundaries), as an RE2 class body.
_INLINE_SPACE = r"\t\x1f \x{a0}\x{1680}\x{2000}-\x{200a}\x{202f}\x{205f}\x{3000}"

Column = pa.Array | pa.ChunkedArray


def normalize_breaks(text: Column) -> Column:
    """Replace every ``str.splitlines`` boundary with ``\\n``."""
    return pc.replace_substring_regex(text, _BREAKS, "\n")


def splitlines_count(norm: Column) -> np.ndarray:
    """``len(text.splitlines())`` per row, given break-normalised text."""
    breaks = pc.count_substring(norm, "\n").to_numpy(zero_copy_only=False).astype(np.int64)
    chars = pc.utf8_length(norm).to_numpy(zero_copy_only=False)
    ends = pc.ends_with(norm, "\n").to_numpy(zero_copy_only=False)
    return breaks + ((chars > 0) & ~ends)


def _escape(chars: list[str]) -> str:
    """An RE2 alternation of literal strings."""
    return "|".join("".join(f"\\x{{{ord(c):x}}}" for c in s) for s in chars)


def _count_matching_lines(norm: Column, pattern: str) -> np.ndarray:
    """Lines (of break-normalised text) matching an RE2 pattern, per row.

    Lines are matched one by one: Arrow's ``count_substring_regex`` restarts each search as if at
    the start of the text, so a multi-line ``^`` would match again after every hit.
    """
    lines, rows, n = split_flat(norm, "\n", regex=False)
    hit = pc.match_substring_regex(lines, pattern).to_numpy(zero_copy_only=False)
    return np.bincount(rows[hit], minlength=n).astype(np.int64)


def count_lines_starting(norm: Column, prefixes: list[str]) -> np.ndarray:
    """Lines whose ``lstrip()`` starts with one of ``prefixes``, per row (break-normalised text)."""
    return _count_matching_lines(norm, f"^[{_INLINE_SPACE}]*(?:{_escape(prefixes)})")


def count_lines_ending(norm: Column, suffixes: list[str]) -> np.ndarray:
    """Lines whose ``rstrip()`` ends with one of ``suffixes``, per row (break-normalised text)."""
    return _count_matching_lines(norm, f"(?:{_escape(suffixes)})[{_INLINE_SPACE}]*$")


def split_flat(text: Column, pattern: str, regex: bool = True) -> tuple[pa.Array, np.ndarray, int]:
    """Split every row; return the pieces flattened, each piece's row index, and the number of rows."""
    parts = pc.split_pattern_regex(text, pattern) if regex else pc.split_pattern(text, pattern)
    if isinstance(parts, pa.ChunkedArray):
        parts = parts.combine_chunks()
    offsets = parts.offsets.to_numpy().astype(np.int64)
    counts = np.diff(offsets)
    rows = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    return parts.flatten(), rows, len(counts)


def duplicates(pieces: pa.Array, rows: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: pieces equal to an earlier piece of the same row, and their characters.

    The vectorised form of datatrove's ``find_duplicates``: a piece seen before in its row counts
    as one duplicate and adds its length; so duplicates = pieces - distinct pieces, and duplicate
    characters = all characters - characters of the distinct pieces.
    """
    if len(pieces) == 0:
        return np.zeros(n_rows, np.int64), np.zeros(n_rows, np.int64)
    lengths = pc.utf8_length(pieces).to_numpy(zero_copy_only=False).astype(np.int64)
    total_n = np.bincount(rows, minlength=n_rows)
    total_c = np.bincount(rows, weights=lengths, minlength=n_rows)
    distinct = pa.table({"row": rows, "piece": pieces}).group_by(["row", "piece"]).aggregate([])
    d_rows = distinct.column("row").to_numpy()
    d_len = pc.utf8_length(distinct.column("piece")).to_numpy().astype(np.int64)
    uniq_n = np.bincount(d_rows, minlength=n_rows)
    uniq_c = np.bincount(d_rows, weights=d_len, minlength=n_rows)
    return (total_n - uniq_n).astype(np.int64), np.rint(total_c - uniq_c).astype(np.int64)

"""The vectorised line helpers agree with the Python definitions the reference rules use."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from dataforge.stages.quality.lines import (
    count_lines_ending,
    count_lines_starting,
    duplicates,
    normalize_breaks,
    split_flat,
    splitlines_count,
)

AWKWARD = [
    "", "\n", "\n\n", "a", "a\n", "a\nb", "a\r\nb\rc\x0bd\x0ce\x1cf\x1dg\x1eh\x85i\u2028j\u2029k",
    "- x\n  • y\n\t-z\nw -", "- - -", "• • •\n- -", "ends...\nmid... no\nspace…  \nx...\u3000", "....",
    "\u00a0- nbsp bullet",
    "dup\ndup\n\ndup\n\n\ndup", "\nlead\n\ntrail\n", "\u2028- after ls", "a\r\n\r\nb",
]


def _find_duplicates(x: list[str]) -> tuple[int, int]:
    """datatrove's find_duplicates."""
    seen: set[str] = set()
    n = c = 0
    for e in x:
        if e in seen:
            n += 1
            c += len(e)
        else:
            seen.add(e)
    return n, c


def test_splitlines_and_line_starts_and_ends() -> None:
    col = pa.array(AWKWARD)
    norm = normalize_breaks(col)
    assert splitlines_count(norm).tolist() == [len(t.splitlines()) for t in AWKWARD]
    starts = count_lines_starting(norm, ["•", "-"]).tolist()
    assert starts == [sum(s.lstrip().startswith(("•", "-")) for s in t.splitlines()) for t in AWKWARD]
    ends = count_lines_ending(norm, ["...", "…"]).tolist()
    assert ends == [sum(s.rstrip().endswith(("...", "…")) for s in t.splitlines()) for t in AWKWARD]


def test_split_and_duplicates_match_re_split() -> None:
    col = pa.array(AWKWARD)
    for pattern in (r"\n+", r"\n{2,}"):
        pieces, rows, n = split_flat(col, pattern)
        assert n == len(AWKWARD)
        dn, dc = duplicates(pieces, rows, n)
        for i, t in enumerate(AWKWARD):
            expected = re.split(pattern, t)
            assert pieces.to_pylist()[int(np.searchsorted(rows, i)):][: len(expected)] == expected
            assert (dn[i], dc[i]) == _find_duplicates(expected)

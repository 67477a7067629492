"""The mixture report reads only small per-document columns (never the text) from a mix_v1 output."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dataforge.stages.mix.report import _read_stats


def _write(folder: Path, tables: list[pa.Table]) -> None:
    folder.mkdir(parents=True)
    for i, t in enumerate(tables):
        pq.write_table(t, folder / f"part-{i:05d}.parquet")


def test_token_counts_present_text_not_read(tmp_path: Path) -> None:
    """With a token column the text column is not loaded at all."""
    t = pa.table({"mixture": ["m", "m"], "mix_domain": ["a", "b"], "n_tokens": [3, 5], "text": ["x" * 100, "y" * 200]})
    _write(tmp_path / "data", [t])
    got = _read_stats(tmp_path / "data", ["mixture", "mix_domain", "n_tokens", "language", "source"], "n_tokens", 4.0)
    assert got is not None
    assert got.column_names == ["mixture", "mix_domain", "n_tokens"]
    assert got.column("n_tokens").to_pylist() == [3, 5]


def test_estimate_from_text_per_batch_in_file_order(tmp_path: Path) -> None:
    """Without token counts, ceil(bytes / bytes_per_token) per document, in file order, text dropped."""
    texts = [["abcde", None, "é" * 3], ["z" * 17]]
    tables = [pa.table({"mixture": ["m"] * len(x), "mix_domain": ["a"] * len(x), "text": x}) for x in texts]
    _write(tmp_path / "data", tables)
    got = _read_stats(tmp_path / "data", ["mixture", "mix_domain", "n_tokens"], "n_tokens", 4.0)
    assert got is not None
    assert "text" not in got.column_names
    assert got.column("n_tokens").to_pylist() == [math.ceil(5 / 4), 0, math.ceil(6 / 4), math.ceil(17 / 4)]


def test_empty_folder(tmp_path: Path) -> None:
    """No output files: no table."""
    (tmp_path / "data").mkdir()
    assert _read_stats(tmp_path / "data", ["mixture"], "n_tokens", 4.0) is None

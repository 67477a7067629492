"""Input readers, one per ``input.format``, resolved lazily by name like stages."""

from __future__ import annotations

import importlib
from functools import lru_cache

from dataforge.readers.base import ReadBatch, Reader, Unit

READERS: dict[str, str] = {
    "jsonl": "dataforge.readers.jsonl:JsonlReader",
    "parquet": "dataforge.readers.parquet:ParquetReader",
    "warc": "dataforge.readers.warc:WarcReader",
    "html": "dataforge.readers.html:HtmlReader",
    "pdf": "dataforge.readers.pdf:PdfReader",
}

__all__ = ["READERS", "ReadBatch", "Reader", "Unit", "get_reader", "reader_names"]


def reader_names() -> list[str]:
    """Formats whose reader module exists in this installation."""
    out = []
    for name, target in READERS.items():
        module = target.partition(":")[0]
        if importlib.util.find_spec(module) is not None:
            out.append(name)
    return out


@lru_cache(maxsize=None)
def get_reader(fmt: str) -> type[Reader]:
    """The reader class for a format name."""
    module, _, cls = READERS[fmt].partition(":")
    return getattr(importlib.import_module(module), cls)

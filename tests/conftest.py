"""Shared fixtures: real-looking documents, JSONL writers, one module-scoped local Ray."""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PLUGINS = Path(__file__).resolve().parent / "plugins"

# Test-only stages (slow_v1, crash_once_v1, boom_v1) come in through the plugin entry point; the
# path is exported so Ray workers and CLI subprocesses find them too.
sys.path.insert(0, str(PLUGINS))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))

# A few paragraphs of ordinary English, combined below into distinct documents.
PARAGRAPHS = [
    "The river flows through the valley and feeds the farms that line its banks. In spring the water rises "
    "with the melting snow, and the farmers open the old channels to carry it to their fields.",
    "A compiler translates the source code of a program into instructions that a machine can execute. Most "
    "compilers work in phases: they read the text, build a tree of the program, check it, and emit code.",
    "The museum opened a new wing this year with paintings from the northern coast. Visitors can see how the "
    "light of the sea changed the colours that the painters chose over a century of work.",
    "To bake bread you need flour, water, salt and yeast. Mix them, knead the dough until it is smooth, let it "
    "rise for an hour, shape it, and bake it in a hot oven until the crust is brown.",
    "Photosynthesis is the process by which plants turn light, water and carbon dioxide into sugar and oxygen. "
    "It takes place in the chloroplasts, small green bodies inside the cells of the leaf.",
    "The committee met on Tuesday to review the budget for the coming year. After a long debate the members "
    "agreed to fund the new library and to delay the repairs of the bridge until the autumn.",
]


def make_text(i: int, paragraphs: int = 3) -> str:
    """A distinct multi-paragraph document for index i."""
    parts = [PARAGRAPHS[(i + k) % len(PARAGRAPHS)] for k in range(paragraphs)]
    return f"Document {i}. " + "\n\n".join(parts) + f"\n\nThis note carries the number {i * 7919 % 10007}."


def docs(n: int, start: int = 0) -> list[dict[str, Any]]:
    """n JSON records with id, text, url."""
    return [{"id": f"d{i:05d}", "text": make_text(i), "url": f"https://example.org/{i}"} for i in range(start, start + n)]


def write_jsonl(path: Path, rows: list[Any], raw_lines: list[bytes] | None = None) -> Path:
    """Write records (and optional raw byte lines) as JSONL, gzip when the name ends with .gz."""
    lines = [json.dumps(r).encode() if not isinstance(r, bytes) else r for r in rows] + (raw_lines or [])
    data = b"\n".join(lines) + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    elif path.name.endswith(".zst"):
        import zstandard

        path.write_bytes(zstandard.ZstdCompressor().compress(data))
    else:
        path.write_bytes(data)
    return path


def table(rows: list[dict[str, Any]]) -> pa.Table:
    """A core-schema table from dicts (missing core columns become nulls)."""
    from dataforge.schema import conform

    keys = list(dict.fromkeys(k for r in rows for k in r))  # every row's keys, not only the first row's
    return conform(pa.table({k: [r.get(k) for r in rows] for k in keys}) if rows else pa.table({}))


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    """One local Ray (2 CPUs) shared by a test module."""
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, ignore_reinit_error=True, logging_level="ERROR")
    yield ray
    ray.shutdown()


def needs_shared(*parts: str) -> Path:
    """Path under ../shared/data, skipping the test when the development data is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(reason=f"development data {path} is absent (it lives beside the repo in ../shared/data)")
    return path

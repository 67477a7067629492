"""Benchmark sets from local files: layouts (GSM8K, MATH, MMLU, ARC, HumanEval, TriviaQA) and a generic field list.

A benchmark is declared by a file (JSONL, optionally .gz/.zst; Parquet; a Hugging Face
``datasets`` folder written by ``save_to_disk``, or its ``.arrow`` files) or inline records,
plus the fields whose text must not leak into training data. Nothing is downloaded.

Bad records never stop a load; they are skipped and counted in ``LoadStats.skipped`` with the
reason: ``bad_utf8`` (a JSONL line that is not UTF-8), ``bad_json`` (not a JSON object),
``missing_field`` (a protected field absent from a record; the item keeps its other fields),
``empty_item`` (no text left to protect). Items longer than ``max_item_chars`` are clipped and
counted as ``clipped_long``. A file that does not exist, holds no usable record, or where a
protected field is absent from every record is an error naming the file, the field and the fix.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Protected fields and item id field of each named layout (dotted paths into a record).
LAYOUTS: dict[str, dict[str, Any]] = {
    "gsm8k": {"fields": ["question", "answer"], "id": None},
    "math": {"fields": ["problem", "solution"], "id": None},
    "mmlu": {"fields": ["question", "choices"], "id": None},
    "arc": {"fields": ["question", "choices.text"], "id": "id"},
    "humaneval": {"fields": ["prompt", "canonical_solution", "test"], "id": "task_id"},
    "triviaqa": {"fields": ["question", "answer.value", "answer.aliases"], "id": "question_id"},
}

#: GSM8K calculator annotations (``<<48/2=24>>``) and the final-answer marker (``#### 72``).
_GSM8K_CALC = re.compile(r"<<[^<>]*>>")
_GSM8K_FINAL = re.compile(r"^####\s*", re.M)


class BenchmarkError(ValueError):
    """A benchmark declaration or file cannot be used; the message names the file, field and fix."""


class BenchmarkSpec(BaseModel):
    """One benchmark to protect: where its records are, which layout, which fields hold the text."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="benchmark name used in reports and reject details")
    path: str | None = Field(None, description="JSONL(.gz/.zst), Parquet, HF save_to_disk folder or .arrow file; globs allowed")
    items: list[dict[str, Any]] | None = Field(None, description="inline records instead of a file (tiny sets, tests)")
    layout: Literal["gsm8k", "math", "mmlu", "arc", "humaneval", "triviaqa", "fields"] = "fields"
    fields: list[str] = Field(default_factory=list, description="dotted paths of the protected fields (required for layout 'fields')")
    id_field: str | None = Field(None, description="record field with the item id (default: the layout's, else the record number)")
    split: str | None = Field(None, description="split of a Hugging Face DatasetDict folder (default: every split)")
    ngram: int | Literal["auto"] | None = Field(None, description="n-gram size for this benchmark (default: the stage's)")

    @model_validator(mode="after")
    def _check(self) -> "BenchmarkSpec":
        if (self.path is None) == (self.items is None):
            raise ValueError(f"benchmark {self.name!r}: give exactly one of 'path' (a file) or 'items' (inline records)")
        if self.layout == "fields" and not self.fields:
            raise ValueError(f"benchmark {self.name!r}: layout 'fields' needs 'fields: [...]' naming the text to protect, "
                             f"or use a named layout ({', '.join(LAYOUTS)})")
        if isinstance(self.ngram, int) and not 1 <= self.ngram <= 64:
            raise ValueError(f"benchmark {self.name!r}: ngram must be 1..64 or 'auto'")
        return self

    def protected_fields(self) -> list[str]:
        """The fields to protect: explicit ones, else the layout's."""
        return list(self.fields) or list(LAYOUTS[self.layout]["fields"])

    def item_id_field(self) -> str | None:
        """The id field: explicit, else the layout's (None: record number)."""
        return self.id_field or (LAYOUTS[self.layout]["id"] if self.layout in LAYOUTS else None)


@dataclass
class Item:
    """One benchmark item: its id and the protected text (fields joined by newlines)."""

    benchmark: str
    item_id: str
    text: str


@dataclass
class LoadStats:
    """What a load saw: records, items kept, and skips by reason."""

    records: int = 0
    items: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def skip(self, reason: str, n: int = 1) -> None:
        """Count a skipped record."""
        self.skipped[reason] = self.skipped.get(reason, 0) + n


def resolve_files(spec: BenchmarkSpec) -> list[Path]:
    """The files (or HF dataset folders) a spec's path names; an error when there are none."""
    assert spec.path is not None
    matches = sorted(glob.glob(spec.path)) if any(c in spec.path for c in "*?[") else [spec.path]
    paths = [Path(m) for m in matches if Path(m).exists()]
    if not paths:
        raise BenchmarkError(f"benchmark {spec.name!r}: {spec.path} does not exist; give the path of a local JSONL, "
                             "Parquet or Hugging Face save_to_disk copy (nothing is downloaded)")
    return paths


def content_fingerprint(spec: BenchmarkSpec) -> str:
    """sha256 over the declaration and the bytes of its files (inline items: their JSON)."""
    h = hashlib.sha256(json.dumps(spec.model_dump(mode="json", exclude={"path"}), sort_keys=True).encode())
    if spec.path is not None:
        try:
            files = resolve_files(spec)
        except BenchmarkError:
            return "missing:" + spec.path
        for f in files:
            for p in sorted(f.rglob("*")) if f.is_dir() else [f]:
                if p.is_file():
                    h.update(p.name.encode())
                    with open(p, "rb") as fh:
                        while chunk := fh.read(1 << 20):
                            h.update(chunk)
    return h.hexdigest()[:24]


# -- reading records ---------------------------------------------------------------------------


def _open_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def _jsonl_records(path: Path, stats: LoadStats) -> Iterator[dict[str, Any] | None]:
    for line in io.BytesIO(_open_bytes(path)):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            stats.skip("bad_utf8")
            yield None
            continue
        try:
            rec = json.loads(text)
        except json.JSONDecodeError:
            stats.skip("bad_json")
            yield None
            continue
        if not isinstance(rec, dict):
            stats.skip("bad_json")
            yield None
            continue
        yield rec


def _arrow_records(table: Any) -> Iterator[dict[str, Any]]:
    for batch in table.to_batches(max_chunksize=4096):
        yield from batch.to_pylist()


def _read_arrow_file(path: Path) -> Any:
    import pyarrow as pa

    with pa.memory_map(str(path)) as src:
        try:
            return pa.ipc.open_stream(src).read_all()  # datasets' save_to_disk writes the stream format
        except pa.ArrowInvalid:
            src.seek(0)
            return pa.ipc.open_file(src).read_all()


def _hf_folder_files(folder: Path, split: str | None, name: str) -> list[Path]:
    """The .arrow files of a save_to_disk folder (a Dataset, or one/every split of a DatasetDict)."""
    if (folder / "dataset_dict.json").exists():
        splits = json.loads((folder / "dataset_dict.json").read_text()).get("splits", [])
        if split is not None:
            if split not in splits:
                raise BenchmarkError(f"benchmark {name!r}: {folder} has splits {splits}, not {split!r}; set 'split'")
            splits = [split]
        return [f for s in splits for f in sorted((folder / s).glob("*.arrow"))]
    return sorted(folder.glob("*.arrow"))


def iter_records(spec: BenchmarkSpec, stats: LoadStats) -> Iterator[dict[str, Any] | None]:
    """Every record of a benchmark (None for a record that could not be read; it is counted)."""
    if spec.items is not None:
        yield from spec.items
        return
    import pyarrow.parquet as pq

    for path in resolve_files(spec):
        stats.files.append(str(path))
        if path.is_dir():
            files = _hf_folder_files(path, spec.split, spec.name) or sorted(path.glob("*.parquet"))
            if not files:
                raise BenchmarkError(f"benchmark {spec.name!r}: folder {path} holds no .arrow or .parquet files; "
                                     "give a Hugging Face save_to_disk folder or the data files")
            for f in files:
                yield from _arrow_records(pq.read_table(f) if f.suffix == ".parquet" else _read_arrow_file(f))
        elif path.suffix == ".parquet":
            yield from _arrow_records(pq.read_table(path))
        elif path.suffix == ".arrow":
            yield from _arrow_records(_read_arrow_file(path))
        else:
            yield from _jsonl_records(path, stats)


# -- items ---------------------------------------------------------------------------------------

_MISSING = object()


def get_path(record: Any, dotted: str) -> Any:
    """A dotted field of a record; lists map over their elements (``choices.text``)."""
    cur: Any = record
    for part in dotted.split("."):
        if isinstance(cur, list):
            cur = [c.get(part, _MISSING) if isinstance(c, dict) else _MISSING for c in cur]
            cur = [c for c in cur if c is not _MISSING]
        elif isinstance(cur, dict):
            cur = cur.get(part, _MISSING)
        else:
            return _MISSING
        if cur is _MISSING:
            return _MISSING
    return cur


def field_text(value: Any) -> str:
    """The text of a field value: strings as they are, lists joined by newlines, numbers as digits."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8")  # raises UnicodeDecodeError: counted as bad_utf8
    if isinstance(value, (list, tuple)):
        return "\n".join(field_text(v) for v in value)
    if isinstance(value, dict):
        return "\n".join(field_text(v) for v in value.values())
    return str(value)


def clean_field(layout: str, name: str, text: str) -> str:
    """Layout-specific clean-up: GSM8K answers lose calculator annotations and the ``####`` marker."""
    if layout == "gsm8k" and name == "answer":
        return _GSM8K_FINAL.sub("", _GSM8K_CALC.sub("", text))
    return text


def load_items(spec: BenchmarkSpec, max_item_chars: int = 100_000) -> tuple[list[Item], LoadStats]:
    """Read a benchmark's items (protected fields joined by newlines), with skips counted."""
    stats = LoadStats()
    fields = spec.protected_fields()
    id_field = spec.item_id_field()
    seen_field = {f: 0 for f in fields}
    items: list[Item] = []
    for rec in iter_records(spec, stats):
        stats.records += 1
        if rec is None:
            continue
        parts = []
        try:
            for f in fields:
                v = get_path(rec, f)
                if v is _MISSING:
                    stats.skip("missing_field")
                    continue
                seen_field[f] += 1
                t = clean_field(spec.layout, f, field_text(v)).strip()
                if t:
                    parts.append(t)
        except UnicodeDecodeError:
            stats.skip("bad_utf8")
            continue
        text = "\n".join(parts)
        if not text.strip():
            stats.skip("empty_item")
            continue
        if len(text) > max_item_chars:
            text = text[:max_item_chars]
            stats.skip("clipped_long")
        raw_id = get_path(rec, id_field) if id_field else _MISSING
        item_id = str(raw_id) if raw_id is not _MISSING and raw_id is not None else str(stats.records - 1)
        items.append(Item(spec.name, item_id, text))
    where = spec.path or "inline items"
    if stats.records and not any(seen_field.values()):
        raise BenchmarkError(f"benchmark {spec.name!r}: none of the fields {fields} is in any record of {where}; "
                             f"set 'fields' to the record's text fields or pick the right 'layout'")
    for f, n in seen_field.items():
        if stats.records and n == 0 and len(fields) > 1:
            raise BenchmarkError(f"benchmark {spec.name!r}: field {f!r} is in no record of {where}; "
                                 f"remove it from 'fields' or fix the path (layout {spec.layout!r})")
    if not items:
        raise BenchmarkError(f"benchmark {spec.name!r}: {where} has no usable item ({stats.records} record(s); "
                             f"skipped {stats.skipped or 'none'}); check the file and its fields {fields}")
    stats.items = len(items)
    return items, stats

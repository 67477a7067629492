"""JSON Lines reader (plain, .gz, .zst): block-parsed with pyarrow, bad lines quarantined one by one.

Plain files are split into byte ranges of ``input.split_bytes``; a unit owns the lines that
start inside its range. Document ids are ``relpath:byte_offset`` of the line (in the
decompressed stream), which is stable whatever the split.
"""

from __future__ import annotations

import io
import json
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from dataforge.readers.base import ReadBatch, Reader, Unit
from dataforge.readers.files import FileInfo, is_compressed, open_input, open_random
from dataforge.readers.records import input_columns, to_documents
from dataforge.schema import quarantine_table

BLOCK_BYTES = 16 * 1024 * 1024


class JsonlReader(Reader):
    """Reads JSON Lines; malformed lines, invalid UTF-8 and non-object lines are quarantined."""

    format = "jsonl"
    extensions = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".jsonl.zstd", ".ndjson.gz")

    def plan(self, files: list[FileInfo]) -> list[Unit]:
        """One unit per compressed file; plain files are cut into ``split_bytes`` ranges."""
        units: list[Unit] = []
        step = self.spec.split_bytes
        for f in files:
            if is_compressed(f.path) or f.size <= step:
                units.append(Unit(len(units), f.path, f.relpath, 0, -1, f.size, f.mtime_ns))
                continue
            for start in range(0, f.size, step):
                end = min(start + step, f.size)
                units.append(Unit(len(units), f.path, f.relpath, start, end, f.size, f.mtime_ns))
        return units

    # -- reading -----------------------------------------------------------------------------
    def read(self, unit: Unit) -> Iterator[ReadBatch]:
        """Stream the unit's lines as document batches."""
        ranged = unit.end >= 0
        if ranged:
            stream = open_random(unit.path)
            pos = self._align(stream, unit.start)
        else:
            stream = open_input(unit.path)
            pos = 0
        limit = unit.end if ranged else None
        max_line = self.spec.max_text_bytes * 2 + (1 << 20)
        carry = b""  # an incomplete line; it starts at byte ``pos``
        skip_from: int | None = None  # start of an over-long line being skipped
        with stream:
            while True:
                chunk = stream.read(BLOCK_BYTES)
                if not chunk:
                    if skip_from is not None:
                        yield self._too_long(unit, skip_from)
                    elif carry.strip():
                        yield from self._parse(unit, carry + b"\n", pos)
                    break
                if skip_from is not None:
                    nl = chunk.find(b"\n")
                    if nl < 0:
                        pos += len(chunk)
                        continue
                    yield self._too_long(unit, skip_from)
                    pos += nl + 1
                    skip_from = None
                    chunk = chunk[nl + 1 :]
                    if limit is not None and pos >= limit:
                        break
                buf = carry + chunk if carry else chunk
                cut = buf.rfind(b"\n")
                complete, carry = (buf[: cut + 1], buf[cut + 1 :]) if cut >= 0 else (b"", buf)
                if len(carry) > max_line:  # an unfinished line already too long: skip it, never hold it whole
                    skip_from = pos + len(complete)
                    pos_after = skip_from + len(carry)
                    carry = b""
                else:
                    pos_after = None
                if not complete:
                    if pos_after is not None:
                        pos = pos_after
                        if limit is not None and skip_from is not None and skip_from >= limit:
                            break
                    continue
                stop = False
                for batch, whole in self._parse_ranged(unit, complete, pos, limit):
                    yield batch
                    stop = stop or not whole
                pos = pos_after if pos_after is not None else pos + len(complete)
                if skip_from is not None and limit is not None and skip_from >= limit:
                    break  # the over-long line belongs to the next unit
                if skip_from is None and (stop or (limit is not None and pos >= limit)):
                    break

    def _too_long(self, unit: Unit, offset: int) -> ReadBatch:
        q = quarantine_table(
            [f"{unit.relpath}:{offset}"], unit.relpath, "read", ["line_too_large"],
            [f"a line longer than {self.spec.max_text_bytes * 2 + (1 << 20)} bytes; raise input.max_text_bytes to read it"],
            [None],
        )
        return ReadBatch(documents=self._empty(), quarantined=q)

    def _empty(self) -> pa.Table:
        from dataforge.schema import empty_documents

        return empty_documents()

    @staticmethod
    def _align(stream, start: int) -> int:
        """Seek to the first line that starts at or after ``start``."""
        if start == 0:
            stream.seek(0)
            return 0
        stream.seek(start - 1)
        pos = start - 1
        while True:
            block = stream.read(1 << 16)
            if not block:
                return pos
            nl = block.find(b"\n")
            if nl >= 0:
                pos += nl + 1
                stream.seek(pos)
                return pos
            pos += len(block)

    def _parse_ranged(self, unit: Unit, complete: bytes, pos: int, limit: int | None) -> Iterator[tuple[ReadBatch, bool]]:
        """Parse complete lines, stopping at the first line that starts at or after ``limit``."""
        if limit is not None and pos + len(complete) > limit:
            arr = np.frombuffer(complete, dtype=np.uint8)
            nl = np.flatnonzero(arr == 10)
            starts = np.concatenate(([0], nl[:-1] + 1))
            inside = starts[pos + starts < limit]
            end = int(nl[len(inside) - 1]) + 1 if len(inside) else 0
            for b in self._parse(unit, complete[:end], pos):
                yield b, False
            return
        for b in self._parse(unit, complete, pos):
            yield b, True

    def _parse(self, unit: Unit, data: bytes, pos: int) -> Iterator[ReadBatch]:
        """Parse newline-terminated lines in batches of ``batch_rows``."""
        if not data:
            return
        arr = np.frombuffer(data, dtype=np.uint8)
        nl = np.flatnonzero(arr == 10)
        starts = np.concatenate(([0], nl[:-1] + 1)).astype(np.int64)
        ends = nl.astype(np.int64)  # exclusive of the newline
        length = ends - starts
        cr = np.zeros(len(ends), dtype=bool)
        has = length > 0
        cr[has] = arr[ends[has] - 1] == 13
        blank = (length - cr) <= 0
        keep = np.flatnonzero(~blank)
        step = self.spec.batch_rows
        for a in range(0, len(keep), step):
            idx = keep[a : a + step]
            lo, hi = int(starts[idx[0]]), int(ends[idx[-1]]) + 1
            offsets = pa.array(pos + starts[idx], pa.int64())
            ids = pc.binary_join_element_wise(pa.scalar(f"{unit.relpath}:"), pc.cast(offsets, pa.string()), "")
            raw = self._fast(data[lo:hi], len(idx))
            if raw is None:
                yield self._slow(unit, data, starts[idx], ends[idx], ids)
                continue
            docs, q = to_documents(raw, ids, self.spec, unit.relpath)
            yield ReadBatch(docs, q)

    def _fast(self, block: bytes, expected: int) -> pa.Table | None:
        """Parse a block with pyarrow; None when any line is bad (the slow path then isolates it)."""
        cols = input_columns(self.spec)
        ropts = pajson.ReadOptions(block_size=len(block) + 1, use_threads=True)
        tries = []
        if not self.spec.metadata_fields and not self.spec.extra_fields:
            schema = pa.schema([(c, pa.string()) for c in cols])
            tries.append(pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"))
        tries.append(pajson.ParseOptions(unexpected_field_behavior="infer"))
        for popts in tries:
            try:
                table = pajson.read_json(io.BytesIO(block), read_options=ropts, parse_options=popts)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                continue
            if table.num_rows != expected:
                return None
            present = [c for c in cols if c in table.column_names]
            return table.select(present)
        return None

    def _slow(self, unit: Unit, data: bytes, starts: np.ndarray, ends: np.ndarray, ids: pa.Array) -> ReadBatch:
        """Parse line by line, quarantining each bad line with its reason."""
        cols = input_columns(self.spec)
        good_rows: list[dict] = []
        good_ids: list[str] = []
        q_ids, q_reasons, q_details, q_raw = [], [], [], []
        id_list = ids.to_pylist()
        for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
            line = data[s:e]
            if not line.strip():
                continue  # a whitespace-only line is not a record
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                q_ids.append(id_list[i]); q_reasons.append("invalid_utf8")
                q_details.append(f"{exc.reason} at byte {exc.start} of the line; re-encode the file as UTF-8")
                q_raw.append(line.decode("utf-8", errors="replace"))
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                q_ids.append(id_list[i]); q_reasons.append("malformed_json")
                q_details.append(f"{exc.msg} at column {exc.colno}")
                q_raw.append(text)
                continue
            if not isinstance(obj, dict):
                q_ids.append(id_list[i]); q_reasons.append("not_a_json_object")
                q_details.append(f"the line is a JSON {type(obj).__name__}, expected an object")
                q_raw.append(text)
                continue
            good_rows.append({c: obj.get(c) for c in cols})
            good_ids.append(id_list[i])
        quarantined = None
        if q_ids:
            quarantined = quarantine_table(q_ids, unit.relpath, "read", q_reasons, q_details, q_raw)
        if not good_rows:
            from dataforge.schema import empty_documents

            return ReadBatch(empty_documents(), quarantined)
        raw = _rows_to_table(good_rows, cols)
        docs, q2 = to_documents(raw, pa.array(good_ids, pa.string()), self.spec, unit.relpath)
        if q2 is not None:
            quarantined = q2 if quarantined is None else pa.concat_tables([quarantined, q2])
        return ReadBatch(docs, quarantined)


def _rows_to_table(rows: list[dict], cols: list[str]) -> pa.Table:
    """Rows of mixed types to a table: strings stay strings, anything else becomes JSON text."""
    out = {}
    for c in cols:
        values = [r.get(c) for r in rows]
        if all(v is None or isinstance(v, str) for v in values):
            out[c] = pa.array(values, pa.string())
        elif all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
            out[c] = pa.array([None if v is None else str(v) for v in values], pa.string())
        else:
            # keep non-string values distinguishable so text_not_a_string can be reported
            try:
                out[c] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                out[c] = pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values], pa.string())
    return pa.table(out)

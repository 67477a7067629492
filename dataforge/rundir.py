"""The run directory: per-stage outputs, rejects, quarantine, per-shard stats and manifests.

Layout::

    RUN_DIR/
      summary.json                      run totals and per-stage counts (machine-readable)
      pipeline.yaml                     the resolved pipeline that produced this run
      stages/00-read/                   the input, as read
        quarantine/part-00000.parquet   rows that could not be read, with reason
        stats/part-00000.json           per-shard counts; written last, it marks the shard done
        manifest.json                   config hash, fingerprint, inputs, counts, timings, versions
      stages/01-<stage>/
        data/part-00000.parquet         kept rows (zstd)
        rejects/part-00000.parquet      dropped rows with `reason` and `detail`
        quarantine/part-00000.parquet   rows the stage failed on, with the error
        stats/part-00000.json
        manifest.json

Every file is written to a temporary name and renamed into place, and a shard's stats file
is renamed last: a shard counts as done only when its stats file exists with the expected
fingerprint, so a run killed at any point resumes from completed shards.
"""

from __future__ import annotations

import errno as errno_codes
import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

PART = "part-{:05d}"

_FULL = {errno_codes.ENOSPC, errno_codes.EDQUOT, errno_codes.EFBIG}
_DENIED = {errno_codes.EACCES, errno_codes.EPERM, errno_codes.EROFS}


class OutputError(OSError):
    """The run directory or output path cannot be written (disk full, read-only, no permission); names the path and the fix."""

    def __init__(self, path: str | Path, problem: str, code: int | None = None) -> None:
        """Build the message from the path, what went wrong and the errno (which picks the fix)."""
        self.path, self.problem, self.code = str(path), problem, code
        if code in _FULL or "No space left" in problem or "quota" in problem.lower():
            fix = ("free space on that filesystem, or point --run-dir / output.path at a larger one, then rerun the "
                   "same command: finished shards are kept and the run resumes")
        elif code in _DENIED or "ermission denied" in problem or "Read-only" in problem:
            fix = ("make the folder writable (chmod/chown, or remount read-write), or choose another --run-dir / "
                   "output.path, then rerun the same command")
        else:
            fix = "check the path and the filesystem, then rerun the same command: finished shards are kept"
        super().__init__(code or 0, f"cannot write {self.path}: {problem}. Nothing was marked complete. Fix: {fix}")

    def __str__(self) -> str:
        """The message alone (not OSError's ``[Errno n]`` prefix)."""
        return str(self.args[1]) if len(self.args) > 1 else super().__str__()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by constructor arguments (errors cross process boundaries on Ray)."""
        return (OutputError, (self.path, self.problem, self.code))


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an OSError raised while writing ``path`` into an OutputError that names the path and the fix."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        code = exc.errno
        if code is None:  # pyarrow puts the errno in the message only: "[Errno 28] No space left on device"
            import re

            m = re.search(r"\[Errno (\d+)\]", str(exc))
            code = int(m.group(1)) if m else None
        problem = exc.strerror or str(exc)
        raise OutputError(getattr(exc, "filename", None) or path, problem, code) from exc


def check_writable(folder: str | Path) -> None:
    """Create ``folder`` and write then delete a probe file in it, so an unwritable output fails before any work."""
    folder = Path(folder)
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        probe = tmp_name(folder / "write-probe")
        probe.write_bytes(b"ok")
        probe.unlink()


def stage_dir(run_dir: Path, index: int, name: str) -> Path:
    """Folder of stage ``index`` (0 is the reader)."""
    return run_dir / "stages" / f"{index:02d}-{name}"


def part_path(folder: Path, kind: str, unit: int, suffix: str = ".parquet") -> Path:
    """Path of one shard's file of a kind (data, rejects, quarantine, stats, keys)."""
    return folder / kind / (PART.format(unit) + suffix)


def tmp_name(path: Path) -> Path:
    """A unique temporary sibling of ``path``."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` atomically (temporary file, then rename).

    Atomic against a killed process or worker (the case resume handles); no fsync, so a
    machine that loses power may lose the last shards, which the next run then recomputes.
    """
    tmp = tmp_name(path)
    try:
        with writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: Path) -> None:
    """Remove a temporary file if it is there; never raise (used while another error propagates)."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically, keys sorted, so equal content gives equal bytes."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode())


def read_json(path: Path) -> Any:
    """Read a JSON file, or None when it is absent or unreadable (a half-written file never is: writes are atomic)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


class PartWriter:
    """Streams tables into one Parquet file under a temporary name; ``commit`` renames it in place."""

    def __init__(self, path: Path, compression: str = "zstd", always: bool = False) -> None:
        """Create lazily on the first table; ``always`` writes an empty file when nothing came."""
        self.path = path
        self.compression = None if compression == "none" else compression
        self.always = always
        self.rows = 0
        self._tmp: Path | None = None
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        """Append a table (schema fixed by the first one; later tables are cast to it)."""
        if self._schema is None:
            self._schema = table.schema
        if table.num_rows == 0:
            return
        with writing(self.path):
            if self._writer is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._tmp = tmp_name(self.path)
                self._writer = pq.ParquetWriter(
                    self._tmp, self._schema, compression=self.compression, write_statistics=True,
                    use_dictionary=True,
                )
            if table.schema != self._schema:
                table = unify(table, self._schema)
            self._writer.write_table(table, row_group_size=64 * 1024)
        self.rows += table.num_rows

    def commit(self) -> bool:
        """Close and rename into place; returns whether a file was written."""
        with writing(self.path):
            if self._writer is None:
                if self.always and self._schema is not None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = tmp_name(self.path)
                    try:
                        pq.write_table(self._schema.empty_table(), tmp, compression=self.compression)
                        os.replace(tmp, self.path)
                    except BaseException:
                        _unlink_quietly(tmp)
                        raise
                    return True
                if self.path.exists():
                    self.path.unlink()  # a stale file from an earlier config
                return False
            writer, self._writer = self._writer, None
            try:
                writer.close()
                os.replace(self._tmp, self.path)  # type: ignore[arg-type]
            except BaseException:
                _unlink_quietly(self._tmp)  # type: ignore[arg-type]
                raise
        return True

    def abort(self) -> None:
        """Drop the temporary file (never raises: it runs while another error propagates)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except Exception:  # noqa: BLE001  (a full disk fails the close too)
                pass
        if self._tmp is not None:
            _unlink_quietly(self._tmp)


def unify(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast or extend ``table`` to ``schema`` (missing columns become nulls, extras are an error)."""
    cols = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            cols.append(col if col.type == field.type else col.cast(field.type))
        else:
            cols.append(pa.nulls(table.num_rows, field.type))
    extra = set(table.column_names) - set(schema.names)
    if extra:
        raise ValueError(f"batch has columns {sorted(extra)} that earlier batches of this shard did not")
    return pa.Table.from_arrays(cols, schema=schema)


def clean_tmp(run_dir: Path) -> int:
    """Remove temporary files left by a killed run; returns how many."""
    n = 0
    stages = run_dir / "stages"
    if not stages.exists():
        return 0
    for p in stages.rglob(".*.tmp"):
        p.unlink(missing_ok=True)
        n += 1
    return n


def remove_stale_parts(folder: Path, keep_units: int) -> None:
    """Delete shard files whose index is beyond the current number of shards."""
    for kind in ("data", "rejects", "quarantine", "stats", "keys"):
        d = folder / kind
        if not d.exists():
            continue
        for p in d.glob("part-*"):
            try:
                idx = int(p.name.split("-")[1].split(".")[0])
            except ValueError:
                continue
            if idx >= keep_units:
                p.unlink(missing_ok=True)


def reset_dir(path: Path) -> None:
    """Empty a folder (create it if needed)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)

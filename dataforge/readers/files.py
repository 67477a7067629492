"""Expand input paths (files, folders, globs, object-store URIs) and open them, compressed or not."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import BinaryIO

import pyarrow.fs as pafs


@dataclass(frozen=True)
class FileInfo:
    """One input file: where it is, the stable name used in ids, its size and modification time."""

    path: str
    relpath: str
    size: int
    mtime_ns: int


class InputNotFound(FileNotFoundError):
    """An input path that matches no file."""


def filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem for a local path or URI (s3://, gs://, hdfs://, file://)."""
    if "://" in path:
        return pafs.FileSystem.from_uri(path)
    return pafs.LocalFileSystem(), os.path.abspath(path)


def _has_glob(p: str) -> bool:
    return any(c in p for c in "*?[")


def expand(paths: list[str], extensions: tuple[str, ...]) -> list[FileInfo]:
    """Resolve paths to a sorted, de-duplicated list of files.

    A folder contributes every file below it whose name ends with one of ``extensions``
    (all files when the tuple is empty). ``relpath`` is relative to the folder or to the
    non-glob prefix of a pattern, so ids do not depend on where the data was mounted.
    """
    found: dict[str, FileInfo] = {}
    for raw in paths:
        fs, path = filesystem(raw)
        if _has_glob(path):
            base = path.split("*")[0].split("?")[0].split("[")[0]
            base = base if base.endswith(("/", os.sep)) else os.path.dirname(base)
            if isinstance(fs, pafs.LocalFileSystem):
                matches = sorted(glob.glob(path, recursive=True))
            else:
                import fsspec  # object-store globbing

                scheme = raw.split("://", 1)[0]
                ffs = fsspec.filesystem(scheme)
                matches = sorted(f"{m}" for m in ffs.glob(path))
            infos = fs.get_file_info(matches) if matches else []
            files = [i for i in infos if i.type == pafs.FileType.File]
            if not files:
                raise InputNotFound(f"input path {raw!r} matches no file; check the pattern and the folder")
            for info in files:
                f = _info(info, base, raw)
                found[f.path] = f
            continue
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise InputNotFound(f"input path {raw!r} does not exist")
        if info.type == pafs.FileType.Directory:
            selector = pafs.FileSelector(path, recursive=True)
            entries = [
                e
                for e in fs.get_file_info(selector)
                if e.type == pafs.FileType.File
                and not os.path.basename(e.path).startswith((".", "_"))
                and (not extensions or e.path.lower().endswith(extensions))
            ]
            for e in entries:
                f = _info(e, path, raw)
                found[f.path] = f
        else:
            f = _info(info, os.path.dirname(path), raw)
            found[f.path] = f
    return [found[k] for k in sorted(found)]


def _info(info: pafs.FileInfo, base: str, raw: str) -> FileInfo:
    rel = os.path.relpath(info.path, base) if base else os.path.basename(info.path)
    if rel.startswith(".."):
        rel = os.path.basename(info.path)
    path = info.path
    if "://" in raw:  # keep the scheme and options (endpoint, region) so workers can reopen it
        scheme = raw.split("://", 1)[0]
        query = raw.split("?", 1)[1] if "?" in raw else ""
        path = f"{scheme}://{info.path}" + (f"?{query}" if query else "")
    return FileInfo(
        path=path,
        relpath=rel.replace(os.sep, "/"),
        size=int(info.size or 0),
        mtime_ns=int(info.mtime_ns or 0),
    )


def bare(path: str) -> str:
    """The path without a URI's ``?options`` part."""
    return path.split("?", 1)[0] if "://" in path else path


def is_compressed(path: str) -> bool:
    """Whether the file is compressed (and so cannot be split by byte ranges)."""
    return bare(path).lower().endswith((".gz", ".zst", ".zstd", ".bz2", ".lz4", ".xz"))


def open_input(path: str, decompress: bool = True) -> BinaryIO:
    """Open a file for streaming reads, decompressing gzip/zstd/bz2/lz4 by extension."""
    fs, p = filesystem(path)
    lower = p.lower()
    if decompress and lower.endswith(".xz"):
        import lzma

        return lzma.open(fs.open_input_stream(p))  # type: ignore[return-value]
    if decompress and lower.endswith(".zstd"):
        return fs.open_input_stream(p, compression="zstd")  # type: ignore[return-value]
    return fs.open_input_stream(p, compression="detect" if decompress else None)  # type: ignore[return-value]


def open_random(path: str) -> BinaryIO:
    """Open an uncompressed file for seeking."""
    fs, p = filesystem(path)
    return fs.open_input_file(p)  # type: ignore[return-value]

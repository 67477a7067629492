"""The reader contract: plan deterministic units of work, then stream each unit as Arrow batches."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from dataforge.schema import QUARANTINE_SCHEMA

if TYPE_CHECKING:
    from dataforge.spec import InputSpec


class NoOptions(BaseModel):
    """A reader without options."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Unit:
    """A deterministic slice of the input: a whole file or a byte/row range of one.

    Units depend only on the input files and ``split_bytes``, never on the number of workers,
    so outputs, ids and resume points are the same on any cluster.
    """

    index: int
    path: str  # as the filesystem understands it
    relpath: str  # stable name used in document ids
    start: int = 0
    end: int = -1  # -1: to the end
    size: int = 0
    mtime_ns: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, for Ray rows and manifests."""
        return asdict(self)

    @property
    def fingerprint(self) -> str:
        """What identifies this unit's input content for resume decisions."""
        return f"{self.relpath}|{self.start}|{self.end}|{self.size}|{self.mtime_ns}"


@dataclass(frozen=True)
class FileGroupUnit(Unit):
    """A shard of consecutive small files (HTML pages, PDFs): ``members`` holds (path, relpath, size, mtime_ns)."""

    members: tuple[tuple[str, str, int, int], ...] = ()

    @property
    def fingerprint(self) -> str:
        """Identifies the member files with their sizes and mtimes, for resume decisions."""
        import hashlib

        h = hashlib.sha256()
        for _, rel, size, mtime in self.members:
            h.update(f"{rel}|{size}|{mtime}\x1f".encode())
        return f"{self.relpath}|{len(self.members)}|{h.hexdigest()[:24]}"

    @staticmethod
    def members_of(unit: Unit) -> tuple[tuple[str, str, int, int], ...]:
        """The files of a unit: its members, or the unit's own file."""
        if isinstance(unit, FileGroupUnit):
            return unit.members
        return ((unit.path, unit.relpath, unit.size, unit.mtime_ns),)


def plan_file_groups(files: list["FileInfo"], files_per_unit: int, split_bytes: int) -> list[Unit]:
    """Group sorted files into units of at most ``files_per_unit`` files and about ``split_bytes`` bytes."""
    units: list[Unit] = []
    group: list[FileInfo] = []
    size = 0

    def close() -> None:
        first = group[0]
        label = first.relpath if len(group) == 1 else f"{first.relpath} (+{len(group) - 1} more)"
        units.append(FileGroupUnit(
            index=len(units), path=first.path, relpath=label, start=0, end=-1,
            size=sum(f.size for f in group), mtime_ns=max(f.mtime_ns for f in group),
            members=tuple((f.path, f.relpath, f.size, f.mtime_ns) for f in group),
        ))

    for f in files:
        if group and (len(group) >= files_per_unit or size + f.size > split_bytes):
            close()
            group, size = [], 0
        group.append(f)
        size += f.size
    if group:
        close()
    return units


@dataclass
class ReadBatch:
    """Documents read from a unit, the rows quarantined while reading, and how many records were seen."""

    documents: pa.Table
    quarantined: pa.Table | None = None

    @property
    def seen(self) -> int:
        """Input records this batch accounts for."""
        return self.documents.num_rows + (0 if self.quarantined is None else self.quarantined.num_rows)


def empty_quarantine() -> pa.Table:
    """An empty quarantine table."""
    return QUARANTINE_SCHEMA.empty_table()


class Reader:
    """Base class of readers: ``plan`` the units, ``read`` one unit as batches."""

    format: ClassVar[str] = ""
    #: File name endings this reader picks up when a path is a folder.
    extensions: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, spec: "InputSpec") -> None:
        """Keep the input spec and validated options."""
        self.spec = spec
        self.options = self.Options.model_validate(spec.options)

    def plan(self, files: list["FileInfo"]) -> list[Unit]:
        """Split files into units; by default one unit per file."""
        return [
            Unit(index=i, path=f.path, relpath=f.relpath, size=f.size, mtime_ns=f.mtime_ns)
            for i, f in enumerate(files)
        ]

    def read(self, unit: Unit) -> Iterator[ReadBatch]:
        """Yield the unit's documents in batches of about ``spec.batch_rows`` rows."""
        raise NotImplementedError


from dataforge.readers.files import FileInfo  # noqa: E402  (circular-safe: files imports nothing from here)

"""The manifest of quality models: ``name@version`` entries with file, sha256, labels and card.

A manifest is a JSON (or YAML) file ``{"models": [entry, ...]}``; each entry names a fastText
model file relative to the manifest's folder (or absolute), its sha256, its labels, the label
that means "good", its card, and the preprocessing it was trained with. The project ships one
(:data:`SHIPPED_MANIFEST`); ``dataforge train-quality`` writes entries into any other, and
users list models they have on disk (DCLM, FineWeb-Edu-style classifiers) in theirs::

    {"models": [{"name": "dclm-oh-eli5", "version": "1",
                 "file": "/models/openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train.bin",
                 "sha256": "<sha256sum of the file>", "labels": ["hq", "cc"], "positive_label": "hq"}]}
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: The manifest of the models shipped inside the package.
SHIPPED_MANIFEST = Path(__file__).resolve().parent / "manifest.json"


class ModelNotFound(LookupError):
    """A ``name@version`` that the manifest does not list, or a manifest that cannot be read."""


@dataclass
class ModelEntry:
    """One model version: where its file is, how to check it, and what its labels mean."""

    name: str
    version: str
    file: str  # relative to the manifest's folder, or absolute
    sha256: str
    labels: list[str]  # without fastText's __label__ prefix
    positive_label: str | None = None  # the label that means "keep" (hq)
    card: str | None = None  # markdown card, relative like file
    preprocess: dict[str, Any] = field(default_factory=dict)  # lowercase, max_chars used in training
    threshold: float | None = None  # the card's suggested threshold on the positive label
    description: str = ""
    base: Path = field(default=Path("."), repr=False)  # folder the relative paths start from

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    @property
    def path(self) -> Path:
        """Absolute path of the model file."""
        return (self.base / self.file).resolve() if not os.path.isabs(self.file) else Path(self.file)

    @property
    def card_path(self) -> Path | None:
        """Absolute path of the markdown card, if any."""
        if not self.card:
            return None
        return (self.base / self.card).resolve() if not os.path.isabs(self.card) else Path(self.card)

    def card_json(self) -> dict[str, Any] | None:
        """The machine-readable card (``card.json`` beside the markdown one), or None."""
        md = self.card_path
        if md is None:
            return None
        path = md.with_suffix(".json")
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def to_json(self) -> dict[str, Any]:
        """The entry as stored in a manifest (without ``base``)."""
        d = asdict(self)
        d.pop("base")
        return d


def split_ref(ref: str) -> tuple[str, str]:
    """``name@version`` -> (name, version); a missing version is an error that says how to write one."""
    name, sep, version = ref.partition("@")
    if not sep or not name or not version:
        raise ModelNotFound(f"model reference {ref!r} must be name@version (e.g. web-content@1); "
                            "`dataforge train-quality --list` shows the entries of a manifest")
    return name.strip(), version.strip()


def read_manifest(path: str | Path | None = None) -> list[ModelEntry]:
    """The entries of a manifest file (JSON, or YAML when it ends in .yaml/.yml); an absent file has none."""
    p = Path(path) if path else SHIPPED_MANIFEST
    if not p.exists():
        return []
    try:
        text = p.read_text(encoding="utf-8")
        if p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text) if text.strip() else {}
    except (OSError, ValueError) as exc:
        raise ModelNotFound(f"quality model manifest {p} cannot be read ({exc}); fix or remove it") from None
    rows = data.get("models", []) if isinstance(data, dict) else data
    out = []
    for i, row in enumerate(rows or []):
        try:
            out.append(ModelEntry(**{k: v for k, v in row.items() if k != "base"}, base=p.resolve().parent))
        except TypeError as exc:
            raise ModelNotFound(f"quality model manifest {p}: entry {i} is malformed ({exc}); each entry needs "
                                "name, version, file, sha256 and labels") from None
    return out


def resolve(ref: str, manifest: str | Path | None = None) -> ModelEntry:
    """The entry for ``name@version`` in a manifest (default: the shipped one)."""
    name, version = split_ref(ref)
    entries = read_manifest(manifest)
    for e in entries:
        if e.name == name and str(e.version) == version:
            return e
    where = manifest or SHIPPED_MANIFEST
    known = ", ".join(e.ref for e in entries) or "none"
    raise ModelNotFound(f"no quality model {ref!r} in {where} (it lists: {known}); give params.manifest "
                        "for your own models or params.model_path for a file on disk")


def write_entry(entry: ModelEntry, manifest: str | Path) -> Path:
    """Add or replace ``entry`` (same name and version) in a JSON manifest, entries sorted, atomically."""
    p = Path(manifest)
    entries = [e for e in read_manifest(p) if not (e.name == entry.name and str(e.version) == str(entry.version))]
    entries.append(entry)
    entries.sort(key=lambda e: (e.name, str(e.version)))
    base = p.resolve().parent
    rows = []
    for e in entries:
        row = e.to_json()
        for key in ("file", "card"):  # store paths relative to the manifest when they live below it
            value = row.get(key)
            if value:
                absolute = (e.base / value).resolve() if not os.path.isabs(value) else Path(value)
                try:
                    row[key] = absolute.relative_to(base).as_posix()
                except ValueError:
                    row[key] = str(absolute)
        rows.append(row)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps({"models": rows}, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, p)
    return p


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

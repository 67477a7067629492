"""Built-in stages, one family per folder.

Each family's ``__init__.py`` holds a plain ``INDEX`` dict (versioned name -> "module:Class")
and imports nothing heavy, so the engine can list and resolve stages lazily.
"""

from __future__ import annotations

import importlib
import importlib.util

FAMILIES: tuple[str, ...] = (
    "text", "filters", "dedup", "extract", "language", "quality", "decontam", "mix", "tokenize", "synth",
)


def build_index() -> dict[str, str]:
    """Merge the families' indexes (families not present in this checkout are skipped)."""
    index: dict[str, str] = {}
    for family in FAMILIES:
        name = f"{__name__}.{family}"
        if importlib.util.find_spec(name) is None:
            continue
        for stage, target in getattr(importlib.import_module(name), "INDEX", {}).items():
            if stage in index:
                raise RuntimeError(f"stage name {stage!r} is registered twice ({index[stage]} and {target})")
            index[stage] = target
    return index

"""The stage registry: versioned names resolved to classes by lazy import.

The engine never imports stage modules directly. Built-in stages are listed in
the ``INDEX`` dict of each family package under ``dataforge.stages`` (name -> "module:Class"); third-party packages add theirs through the
``dataforge.stages`` entry-point group with the same "module:Class" form.
"""

from __future__ import annotations

import difflib
import importlib
import re
from functools import lru_cache
from importlib.metadata import entry_points

from dataforge.stage import Stage

VERSIONED = re.compile(r"^[a-z][a-z0-9_]*_v[0-9]+$")


class UnknownStage(KeyError):
    """A stage name that no registered stage carries."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable
        return str(self.args[0])


@lru_cache(maxsize=1)
def index() -> dict[str, str]:
    """All registered names mapped to their "module:Class" targets."""
    from dataforge.stages import build_index  # the family indexes are plain data, cheap to import

    names = build_index()
    for ep in entry_points(group="dataforge.stages"):
        names.setdefault(ep.name, ep.value)
    return names


def names() -> list[str]:
    """Registered stage names, sorted."""
    return sorted(index())


@lru_cache(maxsize=None)
def get(name: str) -> type[Stage]:
    """Return the stage class registered under ``name``; the error suggests close names."""
    target = index().get(name)
    if target is None:
        close = difflib.get_close_matches(name, names(), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else "run `dataforge list-stages` to see them all"
        raise UnknownStage(f"unknown stage {name!r}: {hint}")
    module_name, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise TypeError(f"registry entry {name!r} -> {target} is not a Stage subclass")
    if cls.name != name:
        raise TypeError(f"registry entry {name!r} -> {target} declares name {cls.name!r}; they must match")
    return cls

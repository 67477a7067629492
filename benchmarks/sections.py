"""Keep a benchmark's RESULTS.md as named sections, each rewritten by the script that measures it."""

from __future__ import annotations

import re
from pathlib import Path


def write_section(path: Path, header: str, name: str, body: str, heading: bool = False) -> None:
    """Replace (or append) section ``name`` of ``path``, leaving the others as they are.

    Sections sit between ``<!-- name -->`` and ``<!-- /name -->`` markers; with ``heading`` the markers are
    ``<!-- section:name -->`` and the section opens with ``## name``.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else header
    tag = f"section:{name}" if heading else name
    title = f"## {name}\n\n" if heading else ""
    block = f"<!-- {tag} -->\n{title}{body.rstrip()}\n<!-- /{tag} -->"
    pattern = re.compile(rf"<!-- {re.escape(tag)} -->.*?<!-- /{re.escape(tag)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def table(rows: list[dict], columns: list[str]) -> str:
    """A markdown table of ``rows`` with ``columns``."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |")
    return "\n".join(out)

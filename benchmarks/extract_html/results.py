"""Keep benchmarks/extract_html/RESULTS.md as named sections that each script rewrites on its own."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TITLE = ("# Web extraction benchmarks (html_extract_v1, WARC and HTML readers)\n\n"
         "Written by the scripts in this folder; each section says how to reproduce it.\n")


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``## name`` in RESULTS.md."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else TITLE
    block = f"<!-- section:{name} -->\n## {name}\n\n{body.rstrip()}\n<!-- /section:{name} -->\n"
    pattern = re.compile(rf"<!-- section:{re.escape(name)} -->.*?<!-- /section:{re.escape(name)} -->\n", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    RESULTS.write_text(text, encoding="utf-8")


def table(rows: list[dict], columns: list[str]) -> str:
    """A markdown table of ``rows`` with ``columns``."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |")
    return "\n".join(out)

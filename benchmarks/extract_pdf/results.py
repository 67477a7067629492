"""Keep benchmarks/extract_pdf/RESULTS.md as named sections that each script rewrites on its own."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import sections  # noqa: E402
from benchmarks.sections import table  # noqa: E402,F401  (re-exported for the scripts)

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TITLE = "# PDF extraction benchmarks\n\nWritten by the scripts in this folder; each section says how to reproduce it.\n"


def write_section(name: str, body: str, path: Path = RESULTS) -> None:
    """Replace (or append) the section ``name`` of this folder's RESULTS.md."""
    sections.write_section(path, TITLE, name, body, heading=True)

"""Write one section of ``benchmarks/quality_rules/RESULTS.md``, leaving the others as they are."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import sections  # noqa: E402
from benchmarks.sections import table  # noqa: E402,F401  (re-exported for the scripts)

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = """# Heuristic quality rules: agreement with datatrove and speed

Reproduce from the repository root (needs `../shared/data` and the benchmark venv, see
`benchmarks/quality_rules/README.md`). Each section below is rewritten by the command it names.
"""


def write_section(name: str, body: str, path: Path = RESULTS) -> None:
    """Replace (or append) the section ``name`` of this folder's RESULTS.md."""
    sections.write_section(path, HEADER, name, body, heading=False)

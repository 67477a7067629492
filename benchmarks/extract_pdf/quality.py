"""Bag-of-words token F1 of extracted PDF text against the docling reference renderings.

For every PDF in ``pdf/docling/pdfs`` that has a ``groundtruth/<name>.md``, compares
(a) raw pymupdf ``page.get_text()`` joined over pages, (b) ``pdf_extract_v1`` with every
cleanup switched off, and (c) ``pdf_extract_v1`` with its defaults, and writes a table per file
and the means to ``RESULTS.md`` beside this script (section "quality").

    python benchmarks/extract_pdf/quality.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa

HERE = Path(__file__).resolve().parent
TOKEN = re.compile(r"\w+", re.UNICODE)
COMMENT = re.compile(r"<!--.*?-->", re.S)


def tokens(text: str) -> Counter:
    """Lowercased word tokens (Unicode \\w+), markdown comments removed, as a bag."""
    return Counter(TOKEN.findall(COMMENT.sub(" ", text).lower()))


def f1(pred: Counter, ref: Counter) -> tuple[float, float, float]:
    """Bag-of-words precision, recall and F1 (multiset overlap)."""
    overlap = sum((pred & ref).values())
    p = overlap / max(sum(pred.values()), 1)
    r = overlap / max(sum(ref.values()), 1)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def raw_pymupdf(path: Path) -> str:
    """Plain pymupdf: page.get_text() over all pages."""
    import pymupdf

    with pymupdf.open(path) as doc:
        return "\n".join(page.get_text() for page in doc)


def stage_text(path: Path, params: dict) -> str:
    """Text of pdf_extract_v1 on one file (kept document, or empty when dropped/quarantined)."""
    from dataforge.stages.extract.pdf import PdfExtract

    stage = PdfExtract(params)
    batch = pa.table({"id": [path.name], "text": pa.array([None], pa.string()), "pdf": [path.read_bytes()]})
    res = stage(batch)
    return res.kept.column("text")[0].as_py() if res.kept.num_rows else ""


VARIANTS = {
    "pymupdf get_text()": None,
    "pdf_extract_v1, no cleanup": {"remove_headers_footers": False, "dehyphenate": False},
    "pdf_extract_v1, no header/footer removal": {"remove_headers_footers": False},
    "pdf_extract_v1, no dehyphenation": {"dehyphenate": False},
    "pdf_extract_v1 (defaults)": {},
}


def main() -> int:
    """Score every variant on every file with a reference; print and record the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(HERE.parents[2] / "shared" / "data"), help="the shared data folder")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()
    root = Path(args.data) / "pdf" / "docling"
    pdfs = sorted(p for p in (root / "pdfs").glob("*.pdf") if (root / "groundtruth" / f"{p.stem}.md").exists())
    if not pdfs:
        print(f"no PDFs with references under {root}", file=sys.stderr)
        return 1
    names = list(VARIANTS)
    rows = []
    for pdf in pdfs:
        ref = tokens((root / "groundtruth" / f"{pdf.stem}.md").read_text(encoding="utf-8"))
        scores = []
        for name in names:
            params = VARIANTS[name]
            text = raw_pymupdf(pdf) if params is None else stage_text(pdf, params)
            scores.append(f1(tokens(text), ref))
        rows.append((pdf.name, scores))
    means = [[sum(r[1][k][j] for r in rows) / len(rows) for j in range(3)] for k in range(len(names))]
    lines = ["| file | " + " | ".join(f"F1: {n}" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for fname, scores in rows:
        lines.append(f"| {fname} | " + " | ".join(f"{s[2]:.3f}" for s in scores) + " |")
    lines.append("| **mean F1** | " + " | ".join(f"**{m[2]:.3f}**" for m in means) + " |")
    lines.append("| mean precision | " + " | ".join(f"{m[0]:.3f}" for m in means) + " |")
    lines.append("| mean recall | " + " | ".join(f"{m[1]:.3f}" for m in means) + " |")
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        from results import write_section

        cmd = "python benchmarks/extract_pdf/quality.py --data ../shared/data"
        note = ("Columns: raw `page.get_text()` over all pages; `pdf_extract_v1` with header/footer removal and "
                "dehyphenation switched off (its line-level normalisation stays on: ligatures, tatweel, Arabic "
                "lam-alef order, whitespace); with one of the two switched off; and with its defaults.")
        write_section("quality", f"Bag-of-words token F1 (lowercased `\\w+` tokens, multiset overlap) against "
                                 f"`pdf/docling/groundtruth/*.md`, the {len(rows)} PDFs that have a reference. {note}"
                                 f"\n\nReproduce: `{cmd}`\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    raise SystemExit(main())

"""Run datatrove's heuristic filters on the benchmark corpus: the reference decisions and timings.

Runs in the benchmark venv (datatrove 0.10.1, spaCy, tldextract, pyahocorasick; never a
dataforge dependency). Every family sees every document independently (no filter runs on
another's output), with datatrove's defaults:

- ``gopher_quality``: ``GopherQualityFilter()``
- ``gopher_repetition``: ``GopherRepetitionFilter()``
- ``fineweb``: ``FineWebQualityFilter()``
- ``c4``: ``C4QualityFilter()`` (the cleaned text of kept documents is recorded too)
- ``c4_fineweb``: ``C4QualityFilter(filter_no_terminal_punct=False)`` (FineWeb's setting)
- ``url``: ``URLFilter(use_integrated_lists=False, ...)`` given datatrove's own lists as files
  (``--lists``: ``domains``, ``urls``, ``banned_words.txt``, ``banned_subwords.txt``,
  ``soft_banned_words.txt``), with the public-suffix snapshot bundled in tldextract (no download).

Output: a Parquet file with ``id`` and, per family, the drop reason (null: kept), plus a JSON
file of CPU seconds per family. ``--suite`` also times the four text families as one datatrove
pipeline runs them: each document goes through Gopher quality, Gopher repetition, FineWeb and
C4 in turn and stops at the first filter that drops it (spaCy tokenisations are shared between
the filters through datatrove's cache), in one process.

``.bench/datatrove-venv/bin/python benchmarks/quality_rules/reference.py``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / ".bench" / "quality_rules"


def read_lines(path: Path) -> list[str]:
    """The lines of a list file (datatrove parses comments and blanks itself)."""
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def make_filters(lists: Path) -> dict[str, Any]:
    """The datatrove filters, one per family, with their default parameters."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    filters: dict[str, Any] = {
        "gopher_quality": GopherQualityFilter(),
        "gopher_repetition": GopherRepetitionFilter(),
        "fineweb": FineWebQualityFilter(),
        "c4": C4QualityFilter(),
        "c4_fineweb": C4QualityFilter(filter_no_terminal_punct=False),
    }
    if (lists / "domains").exists():
        import tldextract
        from datatrove.pipeline.filters import URLFilter

        url = URLFilter(
            use_integrated_lists=False,
            extra_domains=read_lines(lists / "domains"),
            extra_urls=read_lines(lists / "urls"),
            banned_words=read_lines(lists / "banned_words.txt"),
            banned_subwords=read_lines(lists / "banned_subwords.txt"),
            soft_banned_words=read_lines(lists / "soft_banned_words.txt"),
        )
        url.tldextractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        filters["url"] = url
    return filters


def decide(f: Any, doc: Any) -> str | None:
    """datatrove's decision for one document: None to keep, else the reason."""
    res = f.filter(doc)
    ok, reason = (res if isinstance(res, tuple) else (res, None))
    return None if ok else (reason or "dropped")


def main() -> None:
    """Run every family on every document and write the decisions."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=BENCH / "corpus.parquet")
    ap.add_argument("--lists", type=Path, default=BENCH / "lists")
    ap.add_argument("--out", type=Path, default=BENCH / "reference.parquet")
    ap.add_argument("--limit", type=int, default=None, help="only the first N documents")
    ap.add_argument("--families", default=None, help="comma-separated subset")
    ap.add_argument("--suite", action="store_true", help="also time the four text families as one pipeline")
    args = ap.parse_args()
    from datatrove.data import Document

    rows = pq.read_table(args.corpus).to_pylist()[: args.limit]
    filters = make_filters(args.lists)
    if args.families:
        filters = {k: v for k, v in filters.items() if k in args.families.split(",")}
    out: dict[str, list[Any]] = {"id": [r["id"] for r in rows]}
    seconds: dict[str, float] = {}
    for fam, f in filters.items():
        docs = [Document(text=r["text"], id=r["id"], metadata={"url": r["url"]} if r["url"] else {}) for r in rows]
        if fam == "url":
            docs = [d for d in docs if d.metadata.get("url")]
        t0 = time.process_time()
        decisions = {d.id: decide(f, d) for d in docs}
        seconds[fam] = time.process_time() - t0
        out[fam] = [decisions.get(r["id"], "no_url" if fam == "url" else None) for r in rows]
        if fam.startswith("c4"):
            texts = {d.id: d.text for d in docs}
            out[f"{fam}_text"] = [texts[r["id"]] if decisions[r["id"]] is None else None for r in rows]
        kept = sum(1 for d in out[fam] if d is None)
        rate = len(rows) / seconds[fam]
        print(f"{fam:18s} kept {kept:5d}/{len(rows)}  {seconds[fam]:8.2f} cpu s  {rate:8.1f} docs/s")
    if args.suite:
        suite = [make_filters(args.lists)[k] for k in ("gopher_quality", "gopher_repetition", "fineweb", "c4")]
        docs = [Document(text=r["text"], id=r["id"]) for r in rows]
        t0 = time.process_time()
        for d in docs:
            for f in suite:
                if decide(f, d) is not None:
                    break
        seconds["suite"] = time.process_time() - t0
        print(f"{'suite':18s} {seconds['suite']:8.2f} cpu s  {len(rows) / seconds['suite']:8.1f} docs/s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(out), args.out)
    args.out.with_suffix(".seconds.json").write_text(json.dumps({"docs": len(rows), "cpu_seconds": seconds}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

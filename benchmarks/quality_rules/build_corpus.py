"""Build the real-document corpus for the heuristic-rule agreement and speed benchmarks.

Construction (deterministic, no randomness):

1. ``page``: every page of ``../shared/data/html_eval/pages/*.html.gz`` (sorted by file name),
   extracted with trafilatura (``include_tables=True``, ``fast=True``); pages that extract
   to nothing are skipped. The URL is the page's own (canonical / og:url) from trafilatura's
   metadata, when it declares one.
2. ``ccnet``: the Common Crawl documents after CCNet in ``../shared/data/warc/dolma/ccnet_jsonl``
   (``*.jsonl`` and ``*.json.gz``, deduplicated by id; the id is the URL).
3. ``slice``: windows of consecutive non-empty lines of every extracted page and CCNet
   document, so documents of every length and shape occur (and the set reaches 5,000).
   Each of the two ``TILINGS`` cuts the document into non-overlapping windows whose sizes
   cycle through its list, from the first line; a window that would run past the end takes
   the remaining lines (if at least 2). Windows of the two tilings overlap each other. A
   slice keeps its document's URL.

Run it with a Python that has trafilatura (the benchmark venv):
``.bench/datatrove-venv/bin/python benchmarks/quality_rules/build_corpus.py``
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
#: Two tilings of each document into windows of consecutive lines (sizes cycle).
TILINGS: tuple[tuple[int, ...], ...] = ((3, 8, 20, 5, 40, 12), (10, 4, 25))


def extract_pages(pages: Path, limit: int | None) -> list[dict[str, str | None]]:
    """Extract the main text of each HTML page with trafilatura."""
    import trafilatura

    docs = []
    files = sorted(pages.glob("*.html.gz"))[:limit]
    for i, f in enumerate(files):
        raw = gzip.decompress(f.read_bytes())
        text = trafilatura.extract(raw, include_tables=True, fast=True)
        if text and text.strip():
            meta = trafilatura.extract_metadata(raw)
            url = meta.url if meta is not None else None
            docs.append({"id": f"page/{f.name.removesuffix('.html.gz')}", "text": text, "kind": "page", "url": url})
        if (i + 1) % 100 == 0:
            print(f"  extracted {i + 1}/{len(files)} pages", flush=True)
    return docs


def read_ccnet(folder: Path) -> list[dict[str, str | None]]:
    """The CCNet documents, deduplicated by id."""
    seen: dict[str, dict[str, str | None]] = {}
    for f in sorted(folder.iterdir()):
        if f.name.endswith(".jsonl"):
            lines = f.read_text(encoding="utf-8").splitlines()
        elif f.name.endswith(".json.gz"):
            lines = gzip.decompress(f.read_bytes()).decode("utf-8").splitlines()
        else:
            continue
        for line in lines:
            if line.strip():
                row = json.loads(line)
                seen.setdefault(row["id"], {"id": f"ccnet/{row['id']}", "text": row["text"], "kind": "ccnet",
                                            "url": row["id"]})
    return list(seen.values())


def slices(doc: dict[str, str | None], sizes: tuple[int, ...], tiling: int) -> list[dict[str, str | None]]:
    """Non-overlapping windows of consecutive non-empty lines, sizes cycling through ``sizes``."""
    lines = [ln for ln in str(doc["text"]).split("\n") if ln.strip()]
    out, start, k = [], 0, 0
    while start < len(lines):
        size = sizes[k % len(sizes)]
        window = lines[start:start + size]
        if len(window) >= 2:
            out.append({"id": f"{doc['id']}#t{tiling}:{start}+{len(window)}", "text": "\n".join(window),
                        "kind": "slice", "url": doc["url"]})
        start += size
        k += 1
    return out


def main() -> None:
    """Build the corpus and write it as Parquet."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    ap.add_argument("--out", type=Path, default=ROOT / ".bench" / "quality_rules" / "corpus.parquet")
    ap.add_argument("--limit", type=int, default=None, help="only the first N pages (smoke runs)")
    args = ap.parse_args()
    if not args.data.exists():
        raise SystemExit(f"{args.data} not found: the benchmark needs ../shared/data beside the repository")
    docs = extract_pages(args.data / "html_eval" / "pages", args.limit)
    docs += read_ccnet(args.data / "warc" / "dolma" / "ccnet_jsonl")
    whole = list(docs)
    for t, sizes in enumerate(TILINGS):
        for d in whole:
            docs.extend(slices(d, sizes, t))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(docs)
    pq.write_table(table, args.out)
    kinds = {k: sum(1 for d in docs if d["kind"] == k) for k in ("page", "ccnet", "slice")}
    print(f"wrote {len(docs)} documents to {args.out}: {kinds}")


if __name__ == "__main__":
    main()

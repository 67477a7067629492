"""Build the MinHash benchmark corpus: real documents, repeated with perturbations to any size.

Base documents (real, third-party, from ``../shared/data``):

* every page of ``html_eval/pages/*.html.gz`` (1,032 multilingual web pages), extracted with
  trafilatura 2.3.1 from the raw bytes (``include_tables=True``, no fallbacks); pages that
  yield fewer than 20 characters are skipped;
* the 30 CCNet documents of ``warc/dolma/ccnet_jsonl`` (``cc_en_head-0091.jsonl``,
  ``cc_en_head-0174.jsonl``, ``000.json.gz``).

The base set is cached as ``.bench/minhash/base.parquet``. ``expand(base, n, seed)`` then
makes ``n`` documents: copy ``k`` of base document ``d`` (k = 0 is the original) gets a
deterministic perturbation chosen from ``random.Random(seed * 1_000_003 + i)``: delete a
sentence, duplicate a sentence, swap two adjacent words, replace a word with a random one
from the same document, change the case of a line, append a paragraph of another document,
truncate the tail by up to 20%, or insert a boilerplate line ("Share this article",
"Cookie settings", ...). One to three perturbations are applied per copy, so the copies are
near duplicates of their base (word 5-gram Jaccard typically 0.6-0.99), as crawled web
data is. Languages: those of the pages (mostly en/de, some fr, zh, ja, ru, ...).
"""

from __future__ import annotations

import gzip
import json
import random
import re
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
WORK = ROOT / ".bench" / "minhash"

BOILERPLATE = [
    "Share this article", "Cookie settings", "Subscribe to our newsletter", "All rights reserved.",
    "Read more", "Click here to continue", "Related posts", "Leave a comment",
]


def _extract_pages() -> list[dict[str, str]]:
    """Extract the main text of every html_eval page with trafilatura."""
    import trafilatura

    pages = sorted((SHARED / "html_eval" / "pages").glob("*.html.gz"))
    docs = []
    for i, path in enumerate(pages):
        raw = gzip.decompress(path.read_bytes())
        text = trafilatura.extract(raw, include_tables=True, no_fallback=True) or ""
        if len(text) >= 20:
            docs.append({"id": f"html/{path.name[:-8]}", "text": text, "source": "html_eval"})
        if i % 100 == 0:
            print(f"  extracted {i}/{len(pages)}", file=sys.stderr)
    return docs


def _ccnet() -> list[dict[str, str]]:
    """The 30 CCNet documents."""
    base = SHARED / "warc" / "dolma" / "ccnet_jsonl"
    docs = []
    for name in ("cc_en_head-0091.jsonl", "cc_en_head-0174.jsonl", "000.json.gz"):
        path = base / name
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for j, line in enumerate(fh):
                rec = json.loads(line)
                docs.append({"id": f"ccnet/{name}/{j}", "text": rec["text"], "source": "ccnet"})
    return docs


def base_documents() -> pa.Table:
    """The real base documents (cached under .bench/minhash/base.parquet)."""
    path = WORK / "base.parquet"
    if path.exists():
        return pq.read_table(path)
    if not SHARED.exists():
        raise SystemExit(f"development data {SHARED} is absent; the benchmark needs ../shared/data")
    docs = _extract_pages() + _ccnet()
    table = pa.Table.from_pylist(docs)
    WORK.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return table


_SENT = re.compile(r"(?<=[.!?。！？])\s+")


def _perturb(text: str, other: str, rng: random.Random) -> str:
    """Apply one random edit to text."""
    kind = rng.randrange(8)
    sents = _SENT.split(text)
    words = text.split(" ")
    if kind == 0 and len(sents) > 2:
        del sents[rng.randrange(len(sents))]
        return " ".join(sents)
    if kind == 1 and sents:
        i = rng.randrange(len(sents))
        sents.insert(i, sents[i])
        return " ".join(sents)
    if kind == 2 and len(words) > 3:
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
        return " ".join(words)
    if kind == 3 and len(words) > 3:
        words[rng.randrange(len(words))] = rng.choice(words)
        return " ".join(words)
    if kind == 4:
        lines = text.split("\n")
        i = rng.randrange(len(lines))
        lines[i] = lines[i].upper() if rng.random() < 0.5 else lines[i].lower()
        return "\n".join(lines)
    if kind == 5:
        paras = [p for p in other.split("\n") if p.strip()]
        return text + "\n" + (rng.choice(paras) if paras else "")
    if kind == 6 and len(text) > 200:
        return text[: int(len(text) * (1 - 0.2 * rng.random()))]
    lines = text.split("\n")
    lines.insert(rng.randrange(len(lines) + 1), rng.choice(BOILERPLATE))
    return "\n".join(lines)


def expand(base: pa.Table, n: int, seed: int = 0) -> pa.Table:
    """n documents: the base ones, then perturbed copies of them in turn (deterministic)."""
    texts = base.column("text").to_pylist()
    ids = base.column("id").to_pylist()
    out_ids, out_texts, out_base = [], [], []
    for i in range(n):
        d = i % len(texts)
        copy = i // len(texts)
        text = texts[d]
        if copy:
            rng = random.Random(seed * 1_000_003 + i)
            for _ in range(rng.randint(1, 3)):
                text = _perturb(text, texts[rng.randrange(len(texts))], rng)
        out_ids.append(f"{ids[d]}#{copy}")
        out_texts.append(text)
        out_base.append(ids[d])
    return pa.table({"id": out_ids, "text": out_texts, "base_id": out_base})


def corpus(n: int, seed: int = 0) -> pa.Table:
    """The n-document benchmark corpus, cached as .bench/minhash/corpus_{n}_{seed}.parquet."""
    path = WORK / f"corpus_{n}_{seed}.parquet"
    if path.exists():
        return pq.read_table(path)
    table = expand(base_documents(), n, seed)
    pq.write_table(table, path)
    return table


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t = corpus(args.docs, args.seed)
    mb = sum(len(s.encode()) for s in t.column("text").to_pylist()) / 1e6
    print(f"{t.num_rows} documents, {mb:.1f} MB -> {WORK}")

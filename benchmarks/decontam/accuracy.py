"""Decontamination accuracy: plant GSM8K and HumanEval items into real text; recall on copies, false positives on clean text.

Clean text: the html_eval pages extracted with trafilatura (the extract family's engine) and the
CCNet documents, from ../shared/data. Each benchmark item is planted once per variant into a
host document (chosen by hash, at a hashed position):

- ``verbatim``: the whole item as in the file (GSM8K with its ``<<..>>`` annotations);
- ``reformatted``: GSM8K as "Question: ... Answer: ..." with lines re-wrapped and no annotations;
  HumanEval re-indented (2 spaces / tabs), quotes swapped, blank lines dropped;
- ``question_only``: the question (GSM8K) or the prompt (HumanEval) without the answer;
- ``changed_number``: GSM8K with every number in the question changed, answer dropped
  (HumanEval: one literal in the prompt's doctest changed, solution and tests dropped).

A planted copy counts as found when its document matches the planted item. The false-positive
rate is the share of clean documents that match any item. Matching is decontaminate_v1's own
code (index + match_texts), with the stage's defaults (13-grams, GPT-3).

    python benchmarks/decontam/accuracy.py [--ngram 13|auto] [--write]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from pathlib import Path

import pyarrow as pa

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

from dataforge.hashing import hash_strings  # noqa: E402
from dataforge.stages.decontam.benchmarks import BenchmarkSpec  # noqa: E402
from dataforge.stages.decontam.index import IndexConfig, NgramIndex  # noqa: E402
from dataforge.stages.decontam.matching import match_texts  # noqa: E402


def clean_documents() -> list[tuple[str, str]]:
    """(id, text) of real clean documents: extracted html_eval pages and CCNet documents."""
    import trafilatura

    out = []
    for page in sorted((DATA / "html_eval" / "pages").glob("*.html.gz")):
        text = trafilatura.extract(gzip.decompress(page.read_bytes()), include_tables=True) or ""
        if len(text) >= 200:
            out.append((page.name, text))
    for f in sorted((DATA / "warc" / "dolma" / "ccnet_jsonl").glob("*.jsonl")):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            out.append((r["id"], r.get("text") or r.get("raw_content") or ""))
    return out


def _h(s: str) -> int:
    return int(hash_strings(pa.array([s]))[0])


def gsm8k_variants(rec: dict) -> dict[str, str]:
    q, a = rec["question"], rec["answer"]
    plain = re.sub(r"<<[^<>]*>>", "", a).replace("#### ", "The answer is ")
    words = (q + " " + plain).split()
    wrapped = "\n".join(" ".join(words[i:i + 9]) for i in range(0, len(words), 9))
    changed = re.sub(r"\d+", lambda m: str(int(m.group()) + 3), q)
    return {"verbatim": q + "\n" + a, "reformatted": "Question:  " + wrapped.replace(plain.split()[0], "\nAnswer: " + plain.split()[0], 1),
            "question_only": q, "changed_number": changed}


def humaneval_variants(rec: dict) -> dict[str, str]:
    p, s, t = rec["prompt"], rec["canonical_solution"], rec["test"]
    def reindent(code: str) -> str:
        lines = [ln for ln in code.splitlines() if ln.strip()]
        return "\n".join(re.sub(r"^( {4})+", lambda m: "  " * (len(m.group()) // 4), ln) for ln in lines)
    swapped = (p + s).replace('"""', "'''")
    changed = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), p, count=1)
    return {"verbatim": p + s + t, "reformatted": reindent(swapped).replace("  ", "\t", 3),
            "question_only": p, "changed_number": changed}


def plant(host: str, copy: str, key: str) -> str:
    """Insert the copy at a paragraph break (by hash) of the host text."""
    breaks = [m.end() for m in re.finditer(r"\n", host)] or [len(host)]
    pos = breaks[_h(key) % len(breaks)]
    return host[:pos] + "\n" + copy + "\n" + host[pos:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ngram", default="13", help="13 (GPT-3) or auto")
    ap.add_argument("--write", action="store_true", help="append the table to benchmarks/decontam/RESULTS.md")
    args = ap.parse_args()
    if not DATA.exists():
        print(f"development data {DATA} is absent", file=sys.stderr)
        return 2
    bench = DATA / "benchmarks"
    specs = [BenchmarkSpec(name="gsm8k", layout="gsm8k", path=str(bench / "gsm8k_test.jsonl")),
             BenchmarkSpec(name="humaneval", layout="humaneval", path=str(bench / "HumanEval.jsonl.gz"))]
    t0 = time.perf_counter()
    index = NgramIndex.build(specs, IndexConfig(ngram="auto" if args.ngram == "auto" else int(args.ngram)))
    t_index = time.perf_counter() - t0
    clean = clean_documents()
    gsm = [json.loads(line) for line in (bench / "gsm8k_test.jsonl").read_text().splitlines()]
    he = [json.loads(line) for line in gzip.decompress((bench / "HumanEval.jsonl.gz").read_bytes()).decode().splitlines()]
    planted: list[tuple[str, str, str, str]] = []  # (benchmark, variant, item id, text)
    for name, recs, fn, idf in (("gsm8k", gsm, gsm8k_variants, None), ("humaneval", he, humaneval_variants, "task_id")):
        for i, rec in enumerate(recs):
            item = str(rec[idf]) if idf else str(i)
            for variant, copy in fn(rec).items():
                key = f"{name}/{item}/{variant}"
                host = clean[_h(key + "host") % len(clean)][1]
                planted.append((name, variant, item, plant(host, copy, key)))
    t0 = time.perf_counter()
    m_clean = match_texts(pa.array([t for _, t in clean], pa.large_string()), index)
    m_plant = match_texts(pa.array([p[3] for p in planted], pa.large_string()), index)
    t_match = time.perf_counter() - t0
    rows = []
    results: dict[tuple[str, str], list[int]] = {}
    for r, (name, variant, item, _) in enumerate(planted):
        dm = m_plant.docs.get(r)
        ok = dm is not None and (name, item) in dm.items
        results.setdefault((name, variant), [0, 0])
        results[(name, variant)][0] += ok
        results[(name, variant)][1] += 1
    for (name, variant), (found, total) in sorted(results.items()):
        rows.append(f"| {name} | {variant} | {total} | {found} | {found / total:.4f} |")
    fp = len(m_clean.docs)
    fp_line = f"false positives: {fp} of {len(clean)} clean documents ({fp / len(clean):.3%})"
    examples = [f"  {clean[r][0]}: {dm.items[:3]} {dm.excerpt[:100]!r}" for r, dm in list(m_clean.docs.items())[:5]]
    table = "\n".join(["| benchmark | variant | planted | found | recall |", "| --- | --- | ---: | ---: | ---: |", *rows])
    print(table)
    print(fp_line)
    print("\n".join(examples))
    print(f"index: {index.meta['items']} items, n={[b['ngram'] for b in index.meta['benchmarks'].values()]}, "
          f"{index.nbytes / 1e6:.1f} MB, built in {t_index:.1f}s; matched {len(clean) + len(planted)} docs in {t_match:.1f}s")
    if args.write:
        cmd = "python benchmarks/decontam/accuracy.py" + (f" --ngram {args.ngram}" if args.ngram != "13" else "")
        with open(Path(__file__).parent / "RESULTS.md", "a") as fh:
            fh.write(f"\n### Accuracy, ngram={args.ngram}\n\n`{cmd}`\n\n{table}\n\n{fp_line}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

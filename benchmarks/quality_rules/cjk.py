"""What language-aware word splitting changes for the Chinese and Japanese documents of the corpus.

Documents whose characters are at least 30% Han/kana are taken (their pages and the slices of
those pages); each family runs twice: without a language (datatrove's behaviour: spaCy-English
words, so a run of Chinese is one "word") and with ``language`` set to ``ja`` when the text has
kana, else ``zh`` (every CJK character is a word, see ``stages/quality/words.py``).

``.venv/bin/python benchmarks/quality_rules/cjk.py``
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / ".bench" / "quality_rules"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import write_section  # noqa: E402

HAN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
KANA = re.compile(r"[\u3040-\u30ff]")
FAMILIES = {
    "gopher_quality": ("gopher_quality_filter_v1", {}),
    "gopher_repetition": ("gopher_repetition_filter_v1", {}),
    "fineweb": ("fineweb_filter_v1", {}),
    "c4": ("c4_filter_v1", {}),
    "c4_fineweb": ("c4_filter_v1", {"filter_no_terminal_punct": False}),
}


def main() -> None:
    """Run every family with and without the language and write the section of RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=BENCH / "corpus.parquet")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from dataforge import registry

    corpus = pq.read_table(args.corpus)
    rows = [r for r in corpus.to_pylist() if len(HAN.findall(r["text"])) >= 0.3 * len(r["text"])]
    langs = ["ja" if KANA.search(r["text"]) else "zh" for r in rows]
    base = pa.Table.from_pylist([{"id": r["id"], "text": r["text"]} for r in rows])
    tagged = base.append_column("language", pa.array(langs, pa.string()))
    untagged = base.append_column("language", pa.nulls(base.num_rows, pa.string()))
    lines = [f"{len(rows)} documents ({Counter(langs)['zh']} zh, {Counter(langs)['ja']} ja), "
             f"{sum(1 for r in rows if r['kind'] == 'page')} of them whole pages.", "",
             "| family | kept without language (as datatrove) | kept with language | main reasons without | "
             "main reasons with |", "| --- | ---: | ---: | --- | --- |"]
    for fam, (name, params) in FAMILIES.items():
        out = []
        for t in (untagged, tagged):
            res = registry.get(name)(params)(t)
            reasons = Counter(res.dropped.column("reason").to_pylist()) if res.dropped is not None else Counter()
            out.append((res.kept.num_rows, ", ".join(f"{k} {v}" for k, v in reasons.most_common(2)) or "-"))
        lines.append(f"| {fam} | {out[0][0]} | {out[1][0]} | {out[0][1]} | {out[1][1]} |")
    body = "\n".join(["## Chinese and Japanese documents", "",
                      "`.venv/bin/python benchmarks/quality_rules/cjk.py`", "", *lines])
    print(body)
    if not args.no_write:
        write_section("cjk", body)


if __name__ == "__main__":
    main()

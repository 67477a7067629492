"""Keep/drop agreement of dataforge's heuristic rule stages with datatrove's filters, per family.

Reads the corpus (``build_corpus.py``) and datatrove's decisions (``reference.py``), runs the
matching dataforge filter of each family on the same documents (directly, no Ray), and
reports, per family: documents, kept by each, agreement, agreement on the drop reason where
both drop, and for C4 whether the cleaned text of pages both keep is identical. Every
disagreement is written to ``.bench/quality_rules/differences.jsonl`` with the signals, and the
first ones are listed in RESULTS.md.

``.venv/bin/python benchmarks/quality_rules/agreement.py``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / ".bench" / "quality_rules"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import write_section  # noqa: E402

#: datatrove reason -> dataforge reason, to compare reasons across the two.
REASONS = {
    "gopher_short_doc": "gopher_too_few_words", "gopher_long_doc": "gopher_too_many_words",
    "gopher_below_avg_threshold": "gopher_short_words", "gopher_above_avg_threshold": "gopher_long_words",
    "gopher_too_many_hashes": "gopher_hash_ratio", "gopher_too_many_ellipsis": "gopher_ellipsis_ratio",
    "gopher_too_many_bullets": "gopher_bullet_lines", "gopher_too_many_end_ellipsis": "gopher_ellipsis_lines",
    "gopher_below_alpha_threshold": "gopher_alpha_words", "gopher_enough_stop_words": "gopher_stop_words",
    "dup_para_frac": "gopher_dup_para_frac", "dup_para_char_frac": "gopher_dup_para_char_frac",
    "dup_line_frac": "gopher_dup_line_frac", "dup_line_char_frac": "gopher_dup_line_char_frac",
    **{f"top_{n}_gram": f"gopher_top_{n}_gram" for n in (2, 3, 4)},
    **{f"duplicated_{n}_n_grams": f"gopher_dup_{n}_grams" for n in range(5, 11)},
    "line_punct_ratio": "fineweb_line_punct_ratio", "short_line_ratio": "fineweb_short_line_ratio",
    "char_dup_ratio": "fineweb_char_dup_ratio", "list_ratio": "fineweb_list_ratio", "empty": "empty",
    "lorem_ipsum": "c4_lorem_ipsum", "curly_bracket": "c4_curly_bracket", "too_few_sentences": "c4_too_few_sentences",
    "domain": "url_blocklisted", "subdomain": "url_blocklisted", "url": "url_blocklisted",
    "hard_blacklisted": "banned_words", "soft_blacklisted": "banned_words", "blacklisted_subword": "banned_words",
}


def families(lists: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """Family -> (dataforge stage name, params), matching reference.py's datatrove filters."""
    url_params = {
        "domains_file": str(lists / "domains"), "urls_file": str(lists / "urls"),
        "banned_words_file": str(lists / "banned_words.txt"),
        "banned_subwords_file": str(lists / "banned_subwords.txt"),
        "soft_banned_words_file": str(lists / "soft_banned_words.txt"),
    }
    return {
        "gopher_quality": ("gopher_quality_filter_v1", {}),
        "gopher_repetition": ("gopher_repetition_filter_v1", {}),
        "fineweb": ("fineweb_filter_v1", {}),
        "c4": ("c4_filter_v1", {}),
        "c4_fineweb": ("c4_filter_v1", {"filter_no_terminal_punct": False}),
        "url": ("blocklist_filter_v1", url_params),
    }


def run_stage(name: str, params: dict[str, Any], table: pa.Table) -> tuple[dict[str, str | None], dict[str, str],
                                                                             dict[str, dict[str, Any]]]:
    """Decisions (id -> reason or None), kept texts, and signal values per id, from one stage."""
    from dataforge import registry

    stage = registry.get(name)(params)
    decisions: dict[str, str | None] = {}
    texts: dict[str, str] = {}
    signals: dict[str, dict[str, Any]] = {}
    base = set(table.column_names)
    for start in range(0, table.num_rows, stage.batch_size):
        res = stage(table.slice(start, stage.batch_size))
        for part, dropped in ((res.kept, False), (res.dropped, True)):
            if part is None or part.num_rows == 0:
                continue
            rows = part.to_pylist()
            for r in rows:
                decisions[r["id"]] = r["reason"] if dropped else None
                if not dropped:
                    texts[r["id"]] = r["text"]
                signals[r["id"]] = {k: v for k, v in r.items() if k not in base and k not in ("reason", "detail")}
    return decisions, texts, signals


def main() -> None:
    """Compare every family and write the agreement section of RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=BENCH / "corpus.parquet")
    ap.add_argument("--reference", type=Path, default=BENCH / "reference.parquet")
    ap.add_argument("--lists", type=Path, default=BENCH / "lists")
    ap.add_argument("--families", default=None, help="comma-separated subset")
    ap.add_argument("--show", type=int, default=8, help="differences listed per family in RESULTS.md")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()
    corpus = pq.read_table(args.corpus)
    ref = pq.read_table(args.reference)
    ref_rows = {r["id"]: r for r in ref.to_pylist()}
    table = corpus.filter(pa.compute.is_in(corpus.column("id"), value_set=ref.column("id")))
    texts_in = dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))
    lines = ["| family | dataforge stage | documents | datatrove kept | dataforge kept | same decision | "
             "agreement | same reason (both drop) | same cleaned text (both keep) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    listing: list[str] = []
    diffs_out = (BENCH / "differences.jsonl").open("w", encoding="utf-8")
    for fam, (stage, params) in families(args.lists).items():
        if args.families and fam not in args.families.split(","):
            continue
        if fam not in ref.column_names:
            print(f"{fam}: not in the reference, skipped")
            continue
        ids = [i for i in table.column("id").to_pylist() if ref_rows[i][fam] != "no_url"]
        sub = table.filter(pa.compute.is_in(table.column("id"), value_set=pa.array(ids)))
        ours, kept_text, signals = run_stage(stage, params, sub)
        same = same_reason = both_drop = same_text = both_keep = 0
        diffs = []
        for i in ids:
            theirs = ref_rows[i][fam]
            mine = ours[i]
            if (theirs is None) == (mine is None):
                same += 1
                if theirs is not None:
                    both_drop += 1
                    same_reason += REASONS.get(theirs, theirs) == mine
                elif fam.startswith("c4"):
                    both_keep += 1
                    same_text += ref_rows[i][f"{fam}_text"] == kept_text[i]
            else:
                diffs.append({"family": fam, "id": i, "datatrove": theirs, "dataforge": mine,
                              "signals": signals.get(i), "text": texts_in[i][:300]})
        n = len(ids)
        dt_kept = sum(1 for i in ids if ref_rows[i][fam] is None)
        df_kept = sum(1 for i in ids if ours[i] is None)
        text_cell = f"{same_text}/{both_keep}" if fam.startswith("c4") else "-"
        lines.append(f"| {fam} | `{stage}` | {n:,} | {dt_kept:,} | {df_kept:,} | {same:,} | {same / n:.2%} | "
                     f"{same_reason}/{both_drop} | {text_cell} |")
        print(lines[-1])
        for d in diffs:
            diffs_out.write(json.dumps(d, ensure_ascii=False) + "\n")
        if diffs:
            more = f", first {args.show}:" if len(diffs) > args.show else ":"
            listing.append(f"\n**{fam}**: {len(diffs)} difference(s){more}")
            for d in diffs[: args.show]:
                sig = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                for k, v in (d["signals"] or {}).items() if v is not None)
                listing.append(f"- `{d['id']}`: datatrove {d['datatrove'] or 'keeps'}, dataforge "
                               f"{d['dataforge'] or 'keeps'} ({sig})")
    diffs_out.close()
    body = "\n".join([
        "## Agreement with datatrove 0.10.1",
        "",
        "`.bench/datatrove-venv/bin/python benchmarks/quality_rules/build_corpus.py && "
        ".bench/datatrove-venv/bin/python benchmarks/quality_rules/reference.py && "
        ".venv/bin/python benchmarks/quality_rules/agreement.py`",
        "",
        *lines,
        "",
        "Differences (all of them with their signals in `.bench/quality_rules/differences.jsonl`):",
        *(listing or ["none"]),
    ])
    print(body)
    if not args.no_write:
        write_section("agreement", body)


if __name__ == "__main__":
    main()

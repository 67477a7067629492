"""Accuracy and macro-F1 of language_id_v1 (fastText lid.176) per language on the lingua test sentences.

Reads ``langid/lingua_testdata.jsonl.gz`` (kind == "sentences": 75 languages, up to 1,000
sentences each), runs the stage itself in batches, and scores the top label against the gold
language. Lingua's codes are ISO 639-1 already; the one mapping needed is Norwegian Bokmål
``nb`` -> lid.176's ``no``. Predictions are strict: lid.176's ``sh`` (Serbo-Croatian) counts as
wrong for bs, hr and sr. Eight test languages have no lid.176 label at all (lg, mi, sn, st, tn,
ts, xh, zu); figures are given over all 75, and over the rows of the 67 that lid.176 can name
(so that, e.g., Zulu sentences guessed as English do not lower English's precision there). Also reports
how many sentences pass FineWeb's min_score of 0.65 and the accuracy among them. Writes
RESULTS.md beside this script.

    python benchmarks/langid/bench.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GOLD_TO_LID = {"nb": "no"}


def load(path: Path, kind: str, limit: int | None) -> tuple[list[str], list[str]]:
    """Texts and gold labels (mapped to lid.176 codes) of one kind of row."""
    texts, gold = [], []
    per: Counter = Counter()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["kind"] != kind:
                continue
            lang = GOLD_TO_LID.get(row["lang"], row["lang"])
            if limit and per[lang] >= limit:
                continue
            per[lang] += 1
            texts.append(row["text"])
            gold.append(lang)
    return texts, gold


def predict(texts: list[str], batch: int) -> tuple[list[str], list[float], float]:
    """Labels and scores from language_id_v1 (annotate only), and the seconds it took."""
    from dataforge.stages.language.langid import LanguageId

    stage = LanguageId()
    stage.ensure_setup()
    labels: list[str] = []
    scores: list[float] = []
    t0 = time.perf_counter()
    for i in range(0, len(texts), batch):
        chunk = texts[i:i + batch]
        out = stage(pa.table({"id": [str(j) for j in range(i, i + len(chunk))], "text": chunk})).kept
        labels += out.column("language").to_pylist()
        scores += out.column("language_score").to_pylist()
    return labels, scores, time.perf_counter() - t0


def per_language(gold: list[str], pred: list[str]) -> dict[str, tuple[float, float, float, int]]:
    """Precision, recall, F1 and support for every gold language."""
    tp: Counter = Counter()
    predicted: Counter = Counter(pred)
    support: Counter = Counter(gold)
    for g, p in zip(gold, pred):
        if g == p:
            tp[g] += 1
    out = {}
    for lang in sorted(support):
        prec = tp[lang] / predicted[lang] if predicted[lang] else 0.0
        rec = tp[lang] / support[lang]
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[lang] = (prec, rec, f1, support[lang])
    return out


def main() -> int:
    """Score and record."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="the shared data folder")
    ap.add_argument("--kind", default="sentences", choices=["sentences", "word-pairs", "single-words"])
    ap.add_argument("--limit", type=int, default=None, help="at most this many rows per language (a quick check)")
    ap.add_argument("--batch", type=int, default=4096, help="rows per stage batch")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()
    from dataforge.stages.language.langid import LID176_LABELS

    texts, gold = load(Path(args.data) / "langid" / "lingua_testdata.jsonl.gz", args.kind, args.limit)
    pred, scores, secs = predict(texts, args.batch)
    stats = per_language(gold, pred)
    supported = [lang for lang in stats if lang in LID176_LABELS]
    unsupported = [lang for lang in stats if lang not in LID176_LABELS]
    acc_all = sum(g == p for g, p in zip(gold, pred)) / len(gold)
    sup_idx = [i for i, g in enumerate(gold) if g in LID176_LABELS]
    acc_sup = sum(gold[i] == pred[i] for i in sup_idx) / len(sup_idx)
    macro_all = sum(s[2] for s in stats.values()) / len(stats)
    stats_sup = per_language([gold[i] for i in sup_idx], [pred[i] for i in sup_idx])
    macro_sup = sum(v[2] for v in stats_sup.values()) / len(stats_sup)
    confident = [i for i in sup_idx if scores[i] >= 0.65]
    acc_conf = sum(gold[i] == pred[i] for i in confident) / max(len(confident), 1)
    confusions: dict[str, Counter] = defaultdict(Counter)
    for g, p in zip(gold, pred):
        if g != p:
            confusions[g][p] += 1

    summary = [
        "| measure | value |", "|---|---|",
        f"| rows ({args.kind}) | {len(gold)} in {len(stats)} languages |",
        f"| accuracy, all {len(stats)} languages | {acc_all:.4f} |",
        f"| macro-F1, all {len(stats)} languages | {macro_all:.4f} |",
        f"| accuracy, the {len(supported)} languages lid.176 can name | {acc_sup:.4f} |",
        f"| macro-F1, the {len(supported)} languages lid.176 can name (their rows only) | {macro_sup:.4f} |",
        f"| share of those rows with score >= 0.65 (FineWeb threshold) | {len(confident) / len(sup_idx):.4f} |",
        f"| accuracy among rows with score >= 0.65 | {acc_conf:.4f} |",
        f"| languages without a lid.176 label (F1 = 0) | {', '.join(unsupported)} |",
        f"| throughput (smoke, shared 2-core machine) | {len(gold) / secs:,.0f} rows/s |",
    ]
    per = ["Over all 75 languages' rows:\n",
           "| lang | precision | recall | F1 | support | most frequent confusion |", "|---|---|---|---|---|---|"]
    for lang, (p, r, f, n) in stats.items():
        top = confusions[lang].most_common(1)
        conf = f"{top[0][0]} ({top[0][1]})" if top else ""
        per.append(f"| {lang} | {p:.3f} | {r:.3f} | {f:.3f} | {n} | {conf} |")
    body = "\n".join(summary) + "\n\n### Per language\n\n" + "\n".join(per)
    print(body)
    if not args.no_write:
        cmd = "python benchmarks/langid/bench.py --data ../shared/data" + (
            f" --kind {args.kind}" if args.kind != "sentences" else "") + (f" --limit {args.limit}" if args.limit else "")
        (HERE / "RESULTS.md").write_text(
            "# Language ID benchmark (language_id_v1, fastText lid.176.ftz)\n\n"
            "Gold: `langid/lingua_testdata.jsonl.gz` from the shared data (lingua-py test set, Leipzig corpora), "
            f"rows with kind == \"{args.kind}\". Codes are ISO 639-1; Norwegian Bokmål `nb` is scored as lid.176's "
            "`no`; predictions are strict (lid.176's `sh` is wrong for bs/hr/sr).\n\n"
            f"Reproduce: `{cmd}`\n\n" + body + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

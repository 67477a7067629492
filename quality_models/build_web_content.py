"""Build the shipped ``web-content@1`` model: main content (keep) against boilerplate (drop) of real web pages.

Inputs are made by the project itself from any folder of HTML pages (we used the 1,031 pages of
trafilatura's test set, ``../shared/data/html_eval/pages``, Apache-2.0):

1. ``dataforge run pipelines/web-extract.yaml`` (``html_extract_v1``: trafilatura, balanced,
   fallbacks, tables) extracts each page's main content, keeping the raw HTML.
2. positives (``__label__hq``): the extracted main content of each page;
   negatives (``__label__cc``): the same page's boilerplate, i.e. the lines of its whole visible
   text (resiliparse ``extract_plain_text(main_content=False)``) that do not occur in the main
   content (menus, footers, sidebars, cookie notices, link lists, dates). Both classes come
   from the same pages, in the same languages, so the model learns content against
   boilerplate rather than one language or site against another. A page's two documents share
   its id, so they always fall in the same split.
3. ``dataforge train-quality`` trains, quantizes and registers the model (DCLM manner, fixed seed).
4. With ``--evaldata`` (html_eval's human annotations), two checks on the held-out pages: whole
   main content against whole boilerplate, and the human-marked content and boilerplate
   snippets; the figures go into the card's notes and the model is trained again with those
   notes, which must give the byte-identical model.

Run from the repository root (the card records paths as given)::

    python -m dataforge.quality_models.build_web_content --pages ../shared/data/html_eval/pages \\
        --evaldata ../shared/data/html_eval/evaldata.json --work build/web-content \\
        --out quality_models/web_content_v1 --manifest quality_models/manifest.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
NAME, VERSION = "web-content", "1"
#: Training options of the shipped model: DCLM's recipe (bigrams, lr 0.1, 5 epochs, softmax, balanced classes)
#: with a smaller vector size and bucket count for a model of a few MB. DCLM's lr and epochs came within 0.001
#: AUC of the best of lr {0.1, 0.5, 1} x epochs {5, 10, 25, 50} on a validation split of the *training* pages
#: (benchmarks/fasttext_scoring/tune_web_content.py).
TRAIN_ARGS = ["--lr", "0.1", "--epoch", "5", "--dim", "32", "--min-count", "2", "--bucket", "200000", "--min-chars", "1",
              "--quantize", "--cutoff", "50000", "--drop-bin", "--seed", "42", "--heldout", "0.2"]
_WS = re.compile(r"\s+")


def _norm(s: str) -> str:
    """Whitespace runs collapsed to one space, ends trimmed."""
    return _WS.sub(" ", s).strip()


def boilerplate(html: bytes | str, main_text: str) -> str:
    """The lines of a page's visible text that are not part of its main content."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding
    from resiliparse.parse.html import HTMLTree

    if isinstance(html, bytes):
        html = bytes_to_str(html, detect_encoding(html))
    full = extract_plain_text(HTMLTree.parse(html), main_content=False, preserve_formatting=True, list_bullets=False,
                              alt_texts=False, links=False, form_fields=False, noscript=False)
    main = _norm(main_text)
    out = []
    for line in full.splitlines():
        n = _norm(line)
        if n and n not in main:
            out.append(n)
    return "\n".join(out)


#: Window sizes, in lines, that cut each page's content and boilerplate into training documents (cycled from
#: the first line); the whole text is one more document. Short windows teach the model what a lone heading or
#: menu item looks like; without them, a bag-of-words model trained on whole pages scores any short text ~1.
WINDOWS = (1, 2, 4, 8, 16)


def windows(lines: list[str]) -> list[str]:
    """The whole text, then consecutive windows of WINDOWS[0], WINDOWS[1], ... lines (cycling) covering it."""
    out = ["\n".join(lines)] if len(lines) > 1 else []
    i, k = 0, 0
    while i < len(lines):
        size = WINDOWS[k % len(WINDOWS)]
        out.append("\n".join(lines[i:i + size]))
        i += size
        k += 1
    return out


def make_inputs(pages: str, work: Path) -> tuple[Path, Path, dict[str, int]]:
    """Extract the pages with the project's pipeline; write positives.jsonl and negatives.jsonl.

    Every document cut from a page carries the page's id, so a page's content and boilerplate
    always fall in the same split (train or held-out) and are balanced page by page.
    """
    from dataforge.cli import main as cli

    run_dir = work / "extract-run"
    rc = cli(["run", "web-extract", "--set", f"DATA={pages}", "--set", f"OUT={work / 'out'}", "--set", "input.format=html",
              "--set", "stages.0.params.keep_html=true", "--run-dir", str(run_dir), "--local", "--quiet"])
    if rc not in (0, 1):
        raise SystemExit(f"extraction run failed ({rc})")
    files = sorted((run_dir / "stages" / "01-html_extract_v1" / "data").glob("*.parquet"))
    pos_path, neg_path = work / "positives.jsonl", work / "negatives.jsonl"
    counts = {"pages": 0, "positives": 0, "negatives": 0}
    with open(pos_path, "w", encoding="utf-8") as pos, open(neg_path, "w", encoding="utf-8") as neg:
        for f in files:
            t = pq.read_table(f, columns=["id", "text", "html"])
            for row in t.to_pylist():
                counts["pages"] += 1
                content = [n for n in (_norm(x) for x in (row["text"] or "").splitlines()) if n]
                rest = [n for n in boilerplate(row["html"], row["text"] or "").splitlines() if n]
                for fh, lines, key in ((pos, content, "positives"), (neg, rest, "negatives")):
                    for text in windows(lines):
                        fh.write(json.dumps({"id": row["id"], "text": text}, ensure_ascii=False) + "\n")
                        counts[key] += 1
    return pos_path, neg_path, counts


def _score(model: Any, texts: list[str]) -> np.ndarray:
    """quality_hq of each text, prepared as the stage prepares it."""
    from dataforge.quality_models.predict import label_probabilities
    from dataforge.quality_models.preprocess import prepare_texts

    lines, _ = prepare_texts(pa.array(texts, pa.string()))
    return label_probabilities(model, lines.to_pylist(), ["hq"])[:, 0]


def checks(model_dir: Path, pos: Path, neg: Path, evaldata: Path, heldout: float, seed: int) -> dict[str, Any]:
    """Two checks on held-out pages: whole pages (content vs boilerplate) and html_eval's human snippets."""
    from dataforge.hashing import unit_interval
    from dataforge.quality_models.metrics import roc_auc
    from dataforge.quality_models.predict import load_fasttext

    model = load_fasttext(str(model_dir / "model.ftz"))

    def whole(path: Path) -> dict[str, str]:
        """Page id -> the page's whole text (the first document written for each page)."""
        out: dict[str, str] = {}
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                out.setdefault(r["id"], r["text"])
        return out

    def held_ids(ids: list[str]) -> set[str]:
        """The ids train-quality holds out: hash(seed, id) < heldout."""
        return {i for i, u in zip(ids, unit_interval(pa.array(ids, pa.string()), seed=seed)) if u < heldout}

    wp, wn = whole(pos), whole(neg)
    hp, hn = held_ids(sorted(wp)), held_ids(sorted(wn))
    sp, sn = _score(model, [wp[i] for i in sorted(hp)]), _score(model, [wn[i] for i in sorted(hn)])
    result: dict[str, Any] = {
        "whole_pages": len(sp), "whole_auc": roc_auc(np.r_[sp, sn], np.r_[np.ones(len(sp)), np.zeros(len(sn))].astype(bool)),
        "whole_median_content": float(np.median(sp)), "whole_median_boilerplate": float(np.median(sn)),
    }
    data = json.loads(evaldata.read_text(encoding="utf-8"))
    files = sorted({v["file"] for v in data.values()})
    held = held_ids([f + ".gz" for f in files])  # the HTML reader's ids are the file names
    texts, labels = [], []
    for v in data.values():
        if v["file"] + ".gz" not in held:
            continue
        for snippet in v.get("with", []):
            texts.append(snippet)
            labels.append(1)
        for snippet in v.get("without", []):
            texts.append(snippet)
            labels.append(0)
    probs = _score(model, texts)
    y = np.array(labels, dtype=bool)
    result.update({"pages": len(held), "content_snippets": int(y.sum()), "boilerplate_snippets": int((~y).sum()),
                   "auc": roc_auc(probs, y), "median_content": float(np.median(probs[y])),
                   "median_boilerplate": float(np.median(probs[~y]))})
    return result


NOTES = """### Provenance

Trained by `quality_models/build_web_content.py` on {pages:,} real web pages (trafilatura's test set,
`adbar/trafilatura` `tests/cache`, Apache-2.0; mostly German and English, some French, Spanish,
Chinese, Russian and others). Positives are each page's main content as `html_extract_v1`
extracts it (trafilatura); negatives are the same page's boilerplate: the lines of its whole
visible text (resiliparse) that are not in the main content. Each page's content and
boilerplate are cut into documents: the whole text plus consecutive windows of 1, 2, 4, 8, 16
lines, so the model sees short texts (a heading, a menu item) as well as whole pages. All
documents of a page share its id, so a page is wholly in training or wholly held out.
{positives:,} positive and {negatives:,} negative documents were written; the Data tables
above count them after deduplication, length limits and balancing. DCLM's `lr` 0.1 and 5 epochs were kept: on a
validation split of the training pages they came within 0.001 AUC of the best of lr
{{0.1, 0.5, 1.0}} x epochs {{5, 10, 25, 50}} (0.9119 against 0.9121 for 10 epochs; higher rates
did worse; `benchmarks/fasttext_scoring/tune_web_content.py`). The held-out pages played no part.

To rebuild from the pages (extraction, inputs, training, checks):
`python -m dataforge.quality_models.build_web_content --pages PAGES --evaldata EVALDATA.json
--work build/web-content` (see its docstring).

### Limits of this model

- It separates *main content from boilerplate*, the way one extractor (trafilatura) draws that line
  on about a thousand pages. It is not a judge of writing quality, factuality, toxicity or
  educational value: a well-extracted spam article would score like content. Use it to find documents
  that are mostly menus, link lists, footers or cookie notices (extraction failures, index
  pages), not as a DCLM-style "reference-likeness" score.
- Labels are not human: they are trafilatura's split of each page (its main-content F1 on these
  pages is about 0.92 against the human annotations), so some content lines are trained as
  boilerplate and some boilerplate as content.
- Small: ~1k pages, mostly German and English. For languages and scripts it saw little or none of,
  the score rests on the few tokens it knows (digits, punctuation, names); judge them with care.
- Negatives are mostly short lines; real documents made of short lines (poems, ingredient
  lists, tables of numbers) are likely to score lower than prose of the same quality (not measured).
{snippets}"""

SNIPPETS = """
### Checks on held-out pages

- Whole pages: each held-out page's whole main content against its whole boilerplate
  ({whole_pages} pages): AUC {whole_auc:.3f}, median `quality_hq` {whole_median_content:.3f} vs
  {whole_median_boilerplate:.3f}. (The held-out table above mixes whole texts with 1-16-line windows.)
- Human labels: html_eval's annotations of the {pages} held-out pages: AUC {auc:.3f} between
  {content_snippets} main-content snippets and {boilerplate_snippets} boilerplate snippets (median
  `quality_hq` {median_content:.3f} vs {median_boilerplate:.3f}). Snippets are short (median ~30
  characters), so this is a hard check; it is also independent of trafilatura's labels.
"""


def build(args: argparse.Namespace) -> int:
    """Make the inputs, train (twice with the evaluation in the notes), check the model is identical."""
    from dataforge.cli import main as cli

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    pos, neg, counts = make_inputs(args.pages, work)
    print(f"inputs: {counts}", file=sys.stderr)
    out = Path(args.out)
    notes = work / "notes.md"
    notes.write_text(NOTES.format(snippets="", **counts), encoding="utf-8")
    train = ["train-quality", "--name", NAME, "--version", VERSION, "--out", str(out), "--manifest", str(args.manifest),
             "--positive", str(pos), "--negative", str(neg), *TRAIN_ARGS,
             "--description", "Main content (hq) against boilerplate (cc) of real web pages; flags documents that "
                              "are mostly menus, link lists and footers. Multilingual (mostly de/en), small, see limits.",
             "--notes", str(notes)]
    if cli(train) != 0:
        return 1
    if args.evaldata:
        first = json.loads((out / "card.json").read_text())["sha256"]
        card = json.loads((out / "card.json").read_text())
        check = checks(out, pos, neg, Path(args.evaldata), card["split"]["heldout"], card["split"]["seed"])
        print(f"checks: {check}", file=sys.stderr)
        notes.write_text(NOTES.format(snippets=SNIPPETS.format(**check), **counts), encoding="utf-8")
        if cli(train) != 0:
            return 1
        second = json.loads((out / "card.json").read_text())["sha256"]
        if first != second:
            print(f"error: retraining gave a different model ({first} vs {second})", file=sys.stderr)
            return 1
        print(f"retrained with the check in the card: identical model {second}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", required=True, help="folder of .html/.html.gz pages")
    ap.add_argument("--evaldata", help="html_eval's evaldata.json, for the human-labelled check")
    ap.add_argument("--work", required=True, help="scratch folder for the extraction run and the inputs")
    ap.add_argument("--out", default=str(HERE / "web_content_v1"), help="model folder")
    ap.add_argument("--manifest", default=str(HERE / "manifest.json"))
    return build(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())


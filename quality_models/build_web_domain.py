"""Build the shipped ``web-domain@1`` model: web / math / code / knowledge, from data the project can produce.

Every input is real text that exists offline; nothing is downloaded. Per label:

- ``web``: the main content of real web pages, extracted by the project's own pipeline
  (``pipelines/web-extract.yaml``, ``html_extract_v1``) from any folder of HTML pages (we used the
  1,033 pages of trafilatura's test set, ``../shared/data/html_eval/pages``), weak-labelled by URL
  with ``domain_rules_v1`` (:data:`WEAK_RULES`: encyclopedias, wikis and lexicons -> ``knowledge``,
  code hosts -> ``code``, everything else -> ``web``); plus real sentences of news and web text in
  several languages (the Leipzig sentences of lingua's test set, six to a document) and CCNet
  documents (dolma's test files), so ``web`` is not only German pages.
- ``math``: grade-school word problems with worked solutions (GSM8K; calculator annotations
  ``<<...>>`` removed), the question alone and with its solution.
- ``code``: Python source of the standard library cut into top-level functions and classes,
  HumanEval's prompts with their canonical solutions, and C/C++/Cython/JavaScript files found in
  the installed packages cut into 60-line pieces.
- ``knowledge``: reference prose: the docstrings of standard-library modules and classes (read with
  ``ast``, as ``dataforge.samples`` does), plus the pages the URL rules call ``knowledge``.

Documents longer than 3,000 characters also give 1,500-character pieces (cut at line breaks), so
the model sees short texts as well as whole ones; all pieces of one source share its group and
land in the same split. Run from the repository root (the card records the command)::

    python -m dataforge.quality_models.build_web_domain --data ../shared/data --work build/web-domain \\
        --out quality_models/web_domain_v1 --manifest quality_models/manifest.json
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import re
import sys
import sysconfig
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
NAME, VERSION = "web-domain", "1"
LABELS = ("code", "knowledge", "math", "web")
#: URL rules that weak-label real pages (domain_rules_v1 params): first match wins, the rest is web.
WEAK_RULES = [
    {"domain": "knowledge", "hosts": ["wikipedia.org", "wikidot.com", "fandom.com", "stardewvalleywiki.com",
                                      "wikimediafoundation.org"]},
    {"domain": "knowledge", "paths": ["(?i)/(lexikon|wiki|encyclopedia)/"]},
    {"domain": "knowledge", "hosts": ["lexikon.*", "wiki.*"]},
    {"domain": "code", "hosts": ["github.com", "stackoverflow.com", "gist.github.com"]},
]
#: Leipzig sentence languages used for ``web`` (news and web text).
WEB_LANGS = ("en", "de", "fr", "es", "it", "nl", "pt")
SENTENCES_PER_DOC = 6
MAX_SENTENCES_PER_LANG = 1200
CODE_EXTS = (".h", ".hpp", ".c", ".cc", ".cpp", ".pyx", ".js")
MAX_FILES_PER_EXT = 60
#: fastText settings: small vectors and buckets, quantised, for a model under 2 MB.
TRAIN = dict(lr=0.5, epoch=10, dim=32, min_count=2, word_ngrams=2, bucket=200_000, cutoff=50_000, heldout=0.2,
             seed=42, max_per_class=3000, max_heldout_per_class=1000, min_chars=20)
PIECE, LONG = 1500, 3000
_CALC = re.compile(r"<<[^>]*>>")


def pieces(text: str) -> list[str]:
    """The whole text, and for long texts also consecutive ~PIECE-character pieces cut at line breaks."""
    out = [text]
    if len(text) <= LONG:
        return out
    buf: list[str] = []
    size = 0
    for line in text.splitlines():
        buf.append(line)
        size += len(line) + 1
        if size >= PIECE:
            out.append("\n".join(buf))
            buf, size = [], 0
    if size > 200:
        out.append("\n".join(buf))
    return out


def _docs(label: str, group: str, text: str) -> Iterator[dict[str, str]]:
    """Rows for one source document: its pieces, sharing the group."""
    for i, piece in enumerate(pieces(text)):
        yield {"id": f"{group}#{i}", "group": group, "label": label, "text": piece}


def web_pages(pages: Path, evaldata: Path | None, work: Path) -> tuple[list[dict[str, str]], dict[str, int]]:
    """Extract the pages with the project's pipeline and weak-label them by URL with domain_rules_v1."""
    from dataforge.cli import main as cli
    from dataforge.stages.mix.domains import DomainRules

    run_dir = work / "extract-run"
    rc = cli(["run", "web-extract", "--set", f"DATA={pages}", "--set", f"OUT={work / 'out'}", "--set", "input.format=html",
              "--run-dir", str(run_dir), "--local", "--quiet"])
    if rc not in (0, 1):
        raise SystemExit(f"extraction run failed ({rc})")
    files = sorted((run_dir / "stages" / "01-html_extract_v1" / "data").glob("*.parquet"))
    t = pa.concat_tables([pq.read_table(f, columns=["id", "text"]) for f in files]) if files else None
    if t is None:
        raise SystemExit(f"no pages extracted from {pages}")
    urls: dict[str, str] = {}
    if evaldata and evaldata.exists():
        for url, v in json.loads(evaldata.read_text(encoding="utf-8")).items():
            urls[v["file"] + ".gz"] = url
            urls[v["file"]] = url
    ids = t.column("id").to_pylist()
    t = t.append_column("url", pa.array([urls.get(i, "") for i in ids], pa.string()))
    labelled = DomainRules({"rules": WEAK_RULES, "fallback": "web"}).annotate(t)
    rows: list[dict[str, str]] = []
    counts: dict[str, int] = {}
    for r in labelled.select(["id", "text", "mix_domain"]).to_pylist():
        if not (r["text"] or "").strip():
            continue
        counts[r["mix_domain"]] = counts.get(r["mix_domain"], 0) + 1
        rows.extend(_docs(r["mix_domain"], f"page:{r['id']}", r["text"]))
    return rows, counts


def web_sentences(lingua: Path) -> list[dict[str, str]]:
    """Leipzig sentences of a few languages, SENTENCES_PER_DOC to a document, as ``web``."""
    by_lang: dict[str, list[str]] = {lang: [] for lang in WEB_LANGS}
    with gzip.open(lingua, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("kind") == "sentences" and r["lang"] in by_lang and len(by_lang[r["lang"]]) < MAX_SENTENCES_PER_LANG:
                by_lang[r["lang"]].append(r["text"])
    rows = []
    for lang, sents in by_lang.items():
        for k in range(0, len(sents), SENTENCES_PER_DOC):
            g = f"leipzig:{lang}:{k // SENTENCES_PER_DOC}"
            rows.extend(_docs("web", g, " ".join(sents[k:k + SENTENCES_PER_DOC])))
    return rows


def web_ccnet(folder: Path) -> list[dict[str, str]]:
    """CCNet documents (dolma's test files) as ``web``."""
    rows = []
    for f in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                text = json.loads(line).get("raw_content") or json.loads(line).get("text") or ""
                if text.strip():
                    rows.extend(_docs("web", f"ccnet:{f.name}:{i}", text))
    return rows


def math_gsm8k(path: Path) -> list[dict[str, str]]:
    """GSM8K problems: the question alone and the question with its worked solution, as ``math``."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            r = json.loads(line)
            q, a = r["question"].strip(), _CALC.sub("", r["answer"]).strip()
            g = f"gsm8k:{i}"
            rows.append({"id": f"{g}#q", "group": g, "label": "math", "text": q})
            rows.append({"id": f"{g}#qa", "group": g, "label": "math", "text": f"{q}\n{a}"})
    return rows


def code_humaneval(path: Path) -> list[dict[str, str]]:
    """HumanEval prompts with their canonical solutions, as ``code``."""
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            rows.extend(_docs("code", f"humaneval:{r['task_id']}", r["prompt"] + r["canonical_solution"]))
    return rows


def _stdlib_files() -> list[tuple[str, Path]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idlelib", "site-packages", "lib2to3", "turtledemo"}
    return [(p.relative_to(root).as_posix(), p) for p in sorted(root.rglob("*.py"))
            if not skip & set(p.relative_to(root).parts)]


def stdlib_code_and_docs() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Standard-library source cut into top-level definitions (``code``) and its docstrings (``knowledge``)."""
    code, docs = [], []
    for rel, path in _stdlib_files():
        try:
            src = path.read_text(encoding="utf-8")
            tree = ast.parse(src)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        lines = src.splitlines()
        group = f"stdlib:{rel}"
        doc = ast.get_docstring(tree)
        if doc and len(doc) > 200:
            docs.extend(_docs("knowledge", group + ":doc", doc.strip()))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                body = "\n".join(lines[node.lineno - 1 - len(node.decorator_list):node.end_lineno])
                if len(body) > 120:
                    code.extend({**d, "group": group} for d in _docs("code", f"{group}:{node.name}", body))
                if isinstance(node, ast.ClassDef):
                    d = ast.get_docstring(node)
                    if d and len(d) > 200:
                        docs.extend({**x, "group": group + ":doc"} for x in _docs("knowledge", f"{group}:{node.name}:doc", d.strip()))
    return code, docs


def code_other_languages() -> list[dict[str, str]]:
    """C/C++/Cython/JavaScript files of the installed packages, cut into 60-line pieces, as ``code``."""
    rows = []
    site = Path(sysconfig.get_paths()["purelib"])
    for ext in CODE_EXTS:
        for f in sorted(site.rglob(f"*{ext}"))[:MAX_FILES_PER_EXT]:
            try:
                lines = f.read_text(encoding="utf-8").splitlines()
            except (UnicodeDecodeError, OSError):
                continue
            rel = f.relative_to(site).as_posix()
            for k in range(0, len(lines), 60):
                text = "\n".join(lines[k:k + 60]).strip()
                if len(text) > 200:
                    rows.append({"id": f"pkg:{rel}:{k}", "group": f"pkg:{rel}", "label": "code", "text": text})
    return rows


NOTES = """## Provenance and limits

Weak labels: pages were labelled by their URL with `domain_rules_v1` ({page_counts}); every
other source is labelled by what it is. Read the figures above with that in mind:

- The held-out documents come from the same sources as the training ones (other pages, other
  problems, other files), so accuracy says how well the model separates *these* sources. On a
  real crawl, expect `math` to mean "worded arithmetic like GSM8K" (no LaTeX, no proofs were in
  training), `code` to mean Python/C/C++/JavaScript source, and `knowledge` to mean explanatory
  reference prose in English (documentation; only a handful of encyclopedia pages were available
  offline). Anything else, in any language, leans to `web`.
- `web` is multilingual (mostly German and English pages, sentences in {langs}); the other
  classes are English. Non-English math, code comments or reference text will often be called `web`.
- Rules go first in the shipped pipelines (`domain_rules_v1` with `fallback: null`, then
  `domain_classify_v1`), so a host you know (arxiv.org, github.com) never depends on this model;
  and `min_score` sends unsure predictions to the fallback domain.
"""


def build(args: argparse.Namespace) -> int:
    """Collect the labelled documents, train, write the card and the manifest entry."""
    from dataforge.quality_models.train_domain import DomainTrainConfig, train_domains

    data = Path(args.data)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    pages_rows, page_counts = web_pages(data / "html_eval" / "pages", data / "html_eval" / "evaldata.json", work)
    code_rows, doc_rows = stdlib_code_and_docs()
    parts = {
        "pages": pages_rows,
        "leipzig": web_sentences(data / "langid" / "lingua_testdata.jsonl.gz"),
        "ccnet": web_ccnet(data / "warc" / "dolma" / "ccnet_jsonl"),
        "gsm8k": math_gsm8k(data / "benchmarks" / "gsm8k_test.jsonl"),
        "humaneval": code_humaneval(data / "benchmarks" / "HumanEval.jsonl.gz"),
        "stdlib_code": code_rows,
        "other_code": code_other_languages(),
        "stdlib_docs": doc_rows,
    }
    print("documents per source: " + ", ".join(f"{k} {len(v):,}" for k, v in parts.items()), file=sys.stderr)
    rows = [r for v in parts.values() for r in v]
    table = pa.table({k: pa.array([r[k] for r in rows], pa.string()) for k in ("id", "group", "label", "text")})
    sources = {
        "web": f"main content of {sum(page_counts.values()):,} real web pages (trafilatura test set) extracted by "
               f"html_extract_v1, {page_counts.get('web', 0):,} of them labelled web by URL rules; Leipzig news/web "
               f"sentences ({', '.join(WEB_LANGS)}), {SENTENCES_PER_DOC} per document; CCNet documents (dolma tests)",
        "math": "GSM8K test problems (question, and question with worked solution)",
        "code": "Python standard library (top-level functions and classes), HumanEval prompts + canonical solutions, "
                f"C/C++/Cython/JavaScript files of installed packages ({', '.join(CODE_EXTS)}, 60-line pieces)",
        "knowledge": "docstrings of Python standard-library modules and classes (reference prose), plus "
                     f"{page_counts.get('knowledge', 0)} web pages labelled knowledge by URL rules (wikis, lexicons)",
    }
    counts_txt = ", ".join(f"{k}: {v}" for k, v in sorted(page_counts.items()))
    cfg = DomainTrainConfig(
        name=NAME, version=VERSION, out_dir=args.out, manifest=args.manifest, **TRAIN,
        description="Mixture domain of a document: web (general), math, code or knowledge (reference prose). "
                    "Small, weak-labelled, for domain_classify_v1; see limits.",
        notes=NOTES.format(page_counts=counts_txt, langs=", ".join(WEB_LANGS)),
        command=f"python -m dataforge.quality_models.build_web_domain --data {args.data} --work {args.work} "
                f"--out {args.out} --manifest {args.manifest}",
        sources=sources,
    )
    card = train_domains(table, cfg, log=lambda s: print(s, file=sys.stderr))
    m = card["heldout_metrics"]["model"]
    print(f"held-out accuracy {m['accuracy']:.3f}, macro F1 {m['macro_f1']:.3f}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the development data folder (html_eval/, langid/, benchmarks/, warc/)")
    ap.add_argument("--work", required=True, help="scratch folder for the extraction run")
    ap.add_argument("--out", default=str(HERE / "web_domain_v1"), help="model folder")
    ap.add_argument("--manifest", default=str(HERE / "manifest.json"))
    return build(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

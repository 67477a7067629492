"""Main-content quality on html_eval: html_extract_v1 (through the HTML reader) against trafilatura alone.

Every configuration extracts the same 1,033 real pages (990 annotated) from their raw bytes and
is scored with ``../shared/tools/score_html_eval.py`` (snippet precision / recall / F1). The
"plain" rows call ``trafilatura.extract(raw_bytes, include_tables=True)`` in a loop, as the
project's goal is stated; the stage rows read the pages with ``input.format: html`` and run
``html_extract_v1`` exactly as a pipeline would (isolated child process, time limit on). For
each stage row with a plain twin, the table also counts pages whose text is byte-identical.

    python benchmarks/extract_html/quality.py                 # all configurations, writes RESULTS.md
    python benchmarks/extract_html/quality.py --only stage-fast plain-fast --limit 100   # a smoke run
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.extract_html.results import table, write_section  # noqa: E402

WORK = ROOT / ".bench" / "extract_html"

#: name -> (kind, settings); "plain" settings are trafilatura.extract kwargs, "stage" ones html_extract_v1 params.
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "plain-fast": ("plain", {"fast": True}),
    "plain-fallbacks": ("plain", {"fast": False}),
    "stage-fast": ("stage", {"fallbacks": False, "include_comments": True}),
    "stage-fallbacks": ("stage", {"fallbacks": True, "include_comments": True}),
    "stage-default": ("stage", {}),
    "stage-default-fast": ("stage", {"fallbacks": False}),
    "stage-precision": ("stage", {"favor": "precision"}),
    "stage-recall": ("stage", {"favor": "recall"}),
    "stage-resiliparse": ("stage", {"extractor": "resiliparse"}),
}
TWIN = {"stage-fast": "plain-fast", "stage-fallbacks": "plain-fallbacks"}


def load_pages(pages_dir: Path, limit: int | None) -> dict[str, bytes]:
    """file name (as in evaldata, without .gz) -> raw bytes."""
    files = sorted(pages_dir.glob("*.html.gz"))[:limit]
    return {f.name.removesuffix(".gz"): gzip.decompress(f.read_bytes()) for f in files}


def run_plain(pages: dict[str, bytes], settings: dict[str, Any]) -> tuple[dict[str, str], float]:
    """trafilatura.extract on the raw bytes of every page."""
    import trafilatura

    out: dict[str, str] = {}
    t0 = time.perf_counter()
    for name, raw in pages.items():
        out[name] = trafilatura.extract(raw, include_tables=True, **settings) or ""
    return out, time.perf_counter() - t0


def run_stage(pages_dir: Path, names: set[str], params: dict[str, Any]) -> tuple[dict[str, str], float, dict[str, int]]:
    """Read the pages with the HTML reader and run html_extract_v1 on them, as a pipeline shard would."""
    from dataforge.readers.files import expand
    from dataforge.readers.html import HtmlReader
    from dataforge.runner import rebatch
    from dataforge.spec import InputSpec
    from dataforge.stages.extract.html import HtmlExtract

    pattern = str(pages_dir / "*.html.gz")  # a glob, not the folder: a folder listing skips names starting with "_"
    spec = InputSpec(format="html", paths=[pattern])
    reader = HtmlReader(spec)
    files = [f for f in expand([pattern], HtmlReader.extensions) if f.relpath.removesuffix(".gz") in names]
    stage = HtmlExtract(params)
    stage.ensure_setup()
    out: dict[str, str] = {}
    outcomes: dict[str, int] = {}
    t0 = time.perf_counter()

    def batches() -> Any:
        for unit in reader.plan(files):
            for rb in reader.read(unit):
                yield rb.documents

    for batch in rebatch(batches(), stage.batch_size):
        res = stage(batch)
        for i, text in zip(res.kept.column("id").to_pylist(), res.kept.column("text").to_pylist()):
            out[i.removesuffix(".gz")] = text
        for t in (res.dropped, res.quarantined):
            if t is not None:
                for reason in t.column("reason").to_pylist():
                    outcomes[reason] = outcomes.get(reason, 0) + 1
    seconds = time.perf_counter() - t0
    if stage._runner is not None:
        stage._runner.close()
    return out, seconds, outcomes


def score(pred: dict[str, str], scorer: Path, evaldata: Path, path: Path) -> dict[str, Any]:
    """Write predictions as JSONL and run the shared scorer on them."""
    with open(path, "w", encoding="utf-8") as fh:
        for name, text in pred.items():
            fh.write(json.dumps({"file": name, "text": text}, ensure_ascii=False) + "\n")
    res = subprocess.run([sys.executable, str(scorer), str(path), "--evaldata", str(evaldata)],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="the shared data folder")
    ap.add_argument("--tools", default=None, help="folder of score_html_eval.py (default: DATA/../tools)")
    ap.add_argument("--only", nargs="*", choices=sorted(CONFIGS), help="run only these configurations")
    ap.add_argument("--limit", type=int, default=None, help="first N pages only (a smoke run; not written to RESULTS.md)")
    args = ap.parse_args()
    data = Path(args.data)
    pages_dir = data / "html_eval" / "pages"
    evaldata = data / "html_eval" / "evaldata.json"
    scorer = Path(args.tools) if args.tools else data.parent / "tools"
    scorer = scorer / "score_html_eval.py"
    if not pages_dir.exists() or not scorer.exists():
        sys.exit(f"needs {pages_dir} and {scorer} (the shared development data)")
    WORK.mkdir(parents=True, exist_ok=True)
    pages = load_pages(pages_dir, args.limit)
    names = set(pages)
    if args.limit:  # score only the pages we ran
        ev = {k: v for k, v in json.loads(evaldata.read_text(encoding="utf-8")).items() if v["file"] in names}
        evaldata = WORK / f"evaldata-first{args.limit}.json"
        evaldata.write_text(json.dumps(ev), encoding="utf-8")
    rows: list[dict[str, Any]] = []
    texts: dict[str, dict[str, str]] = {}
    for name in args.only or list(CONFIGS):
        kind, settings = CONFIGS[name]
        outcomes: dict[str, int] = {}
        if kind == "plain":
            pred, seconds = run_plain(pages, settings)
        else:
            pred, seconds, outcomes = run_stage(pages_dir, names, settings)
        texts[name] = pred
        s = score(pred, scorer, evaldata, WORK / f"pred-{name}.jsonl")
        row = {"config": name, "settings": json.dumps(settings) if settings else "(defaults)",
               "precision": s["precision"], "recall": s["recall"], "f1": s["f1"], "accuracy": s["accuracy"],
               "pages": len(pages), "seconds": round(seconds, 1), "pages/s": round(len(pages) / seconds, 1),
               "outcomes": ", ".join(f"{k}={v}" for k, v in sorted(outcomes.items()))}
        twin = TWIN.get(name)
        if twin and twin in texts:
            same = sum(1 for f in names if (pred.get(f) or "") == (texts[twin].get(f) or ""))
            row["identical to plain"] = f"{same}/{len(names)}"
        rows.append(row)
        print(json.dumps(row), flush=True)
    cols = ["config", "settings", "precision", "recall", "f1", "accuracy", "identical to plain", "outcomes",
            "pages/s"]
    print(table(rows, cols))
    if args.limit or args.only:
        print("(partial run: RESULTS.md not updated)")
        return
    cmd = "python benchmarks/extract_html/quality.py"
    import trafilatura
    import resiliparse  # noqa: F401
    from importlib.metadata import version

    body = (
        f"Reproduce: `{cmd}` (reads `../shared/data/html_eval`, scores with `../shared/tools/score_html_eval.py`).\n\n"
        f"{len(pages)} pages ({sum(1 for _ in json.loads(evaldata.read_text()))} annotated), trafilatura "
        f"{trafilatura.__version__}, lxml {version('lxml')}, resiliparse {version('resiliparse')}. "
        "`plain-*` = `trafilatura.extract(raw_bytes, include_tables=True, fast=...)` (its defaults otherwise, so "
        "comments included); `stage-*` = the HTML reader + `html_extract_v1` with the given params. "
        "pages/s here is single-process and only indicative (shared 2-core machine; see the throughput section). "
        "The shared data README quotes F1 0.920 (fast) / 0.926 (fallbacks) for trafilatura alone; the `plain-*` rows "
        "are the same calls measured here, and the goal is to match or beat them mode for mode.\n\n"
        + table(rows, cols)
    )
    write_section("Quality on html_eval", body)


if __name__ == "__main__":
    main()

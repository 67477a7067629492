"""Where dataforge and datatrove agree, stage by stage, on one scale of the end-to-end benchmark.

Reads a scale's work folder left by bench.py (``df-run`` and ``dt-out``) and prints, as Markdown,
the documents each filter lets through in both engines and the agreement (Jaccard of URLs) of
the filtered set before dedup and of the kept set after it.

    python benchmarks/e2e/agreement.py /tmp/e2e-bench/s2
"""

from __future__ import annotations

import glob
import gzip
import json
import sys
from pathlib import Path

#: (dataforge stage, datatrove step name fragment) for the steps both pipelines have
PAIRS: list[tuple[str, str | None]] = [
    ("read", "READER"), ("language_gate_v1", None), ("html_extract_v1", "Trafilatura"), ("language_id_v1", "Language ID"),
    ("gopher_repetition_filter_v1", "Gopher Repetition"), ("gopher_quality_filter_v1", "Gopher Quality"),
    ("c4_filter_v1", "C4 Quality"), ("fineweb_filter_v1", "FineWeb Quality"), ("minhash_dedup_v1", "MinHash stage 4"),
]


def jaccard(a: set[str], b: set[str]) -> float:
    """|a & b| / |a | b| (1.0 for two empty sets)."""
    return len(a & b) / len(a | b) if a | b else 1.0


def dataforge_out(run: Path) -> dict[str, int]:
    """Rows out of each stage (rows in for the reader) from summary.json."""
    summary = json.loads((run / "summary.json").read_text())
    return {st["stage"]: st["rows_out"] for st in summary["stages"]}


def datatrove_out(out: Path) -> dict[str, int]:
    """Documents forwarded by each datatrove step, from its executors' stats.json."""
    counts: dict[str, int] = {}
    for stats in sorted(out.glob("logs/*/stats.json")):
        for step in json.loads(stats.read_text()):
            s = step["stats"]
            n = s.get("forwarded", s.get("documents", {}).get("total") if isinstance(s.get("documents"), dict) else None)
            if n is None and "total" in s and "dropped" in s:
                n = s["total"] - s["dropped"]
            if n is not None:
                counts[step["name"]] = int(n)
    return counts


def urls_dataforge(run: Path, stage: str) -> set[str]:
    """URLs of the rows a dataforge stage kept (its data folder in the run directory)."""
    import pyarrow.dataset as ds

    folder = next(run.glob(f"stages/*-{stage}/data"), None)
    if folder is None:
        return set()
    return set(ds.dataset(folder, format="parquet").to_table(columns=["url"]).column("url").to_pylist())


def urls_datatrove(folder: Path, url_in_metadata: bool) -> set[str]:
    """URLs in a datatrove JSONL output folder."""
    out = set()
    for f in glob.glob(str(folder / "*.jsonl.gz")):
        with gzip.open(f, "rt") as fh:
            for line in fh:
                d = json.loads(line)
                out.add(d["metadata"]["url"] if url_in_metadata else d["url"])
    return out


def report(work: Path, df_run: str = "df-run") -> str:
    """The Markdown table and the two agreement figures for one scale folder."""
    import pyarrow.parquet as pq

    run, dt = work / df_run, work / "dt-out"
    dfc, dtc = dataforge_out(run), datatrove_out(dt)
    lines = ["| step | dataforge documents out | datatrove documents out |", "| --- | ---: | ---: |"]
    for ours, theirs in PAIRS:
        t = next((v for k, v in dtc.items() if theirs and theirs in k), None)
        lines.append(f"| {ours} | {dfc.get(ours, '')} | {'' if t is None else t} |")
    filt_a, filt_b = urls_dataforge(run, "fineweb_filter_v1"), urls_datatrove(dt / "filtered", True)
    kept_a = set(pq.read_table(next((work / f"{df_run.replace('-run', '-out')}").iterdir()), columns=["url"])
                 .column("url").to_pylist())
    kept_b = urls_datatrove(dt / "kept", False)
    lines += ["", f"Filtered set before dedup: dataforge {len(filt_a)}, datatrove {len(filt_b)}, in both "
              f"{len(filt_a & filt_b)}, Jaccard **{jaccard(filt_a, filt_b):.3f}**. Kept after MinHash dedup: dataforge "
              f"{len(kept_a)}, datatrove {len(kept_b)}, same URL in both {len(kept_a & kept_b)} (which copy of a "
              "duplicate survives is arbitrary in each engine)."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(Path(sys.argv[1]), *(sys.argv[2:3])))

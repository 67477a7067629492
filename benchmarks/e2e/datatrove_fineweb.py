"""The FineWeb pipeline in datatrove 0.10 (runs inside .bench/datatrove-venv): per-stage wall times as JSON.

WarcReader -> Trafilatura (favour_precision, fast: the settings of pipelines/e2e-fineweb.yaml) -> LanguageFilter(en, 0.65) -> GopherRepetitionFilter -> GopherQualityFilter
-> C4QualityFilter(filter_no_terminal_punct=False) -> FineWebQualityFilter -> JsonlWriter, then MinHash
dedup in its 4 stages (signatures, buckets, clusters, filter) and DocumentTokenizer with the Qwen
tokenizer.json converted offline from the same ranks dataforge uses. lid.176 is loaded from a local
file (no download). Kept URLs are written to ``OUT/kept/`` so the kept sets can be compared.

    python datatrove_fineweb.py --data DIR --out DIR --workers 2 --lid PATH --tokenizer tokenizer.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    """Run the five datatrove executors one after another and print their wall times as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--lid", required=True, help="local lid.176 model file")
    ap.add_argument("--tokenizer", required=True, help="local tokenizer.json")
    args = ap.parse_args()

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter, LanguageFilter)
    from datatrove.pipeline.readers import JsonlReader, WarcReader
    from datatrove.pipeline.tokens import DocumentTokenizer
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.lid import FT176LID

    class LocalLID(FT176LID):
        """lid.176 from a local file instead of a download."""

        def __init__(self, languages: list[str], path: str) -> None:
            super().__init__(languages)
            self.path = path

        @property
        def model(self):  # type: ignore[override]
            if self._model is None:
                from fasttext.FastText import _FastText

                self._model = _FastText(self.path)
            return self._model

    out = Path(args.out)
    files = sorted(Path(args.data).glob("*.warc.gz"))
    tasks = max(1, len(files))
    lang = LanguageFilter(languages=["en"], language_threshold=0.65)
    lang.model = LocalLID(["en"], args.lid)
    cfg = MinhashConfig()
    w = args.workers
    logs = str(out / "logs")
    stages = {
        "read→extract→filters": [
            WarcReader(args.data, glob_pattern="*.warc.gz"),
            # the settings of dataforge's e2e-fineweb.yaml: precision, no fallback extractors, no in-page dedup
            Trafilatura(favour_precision=True, timeout=10.0, deduplicate=False, fast=True), lang,
            GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False),
            FineWebQualityFilter(), JsonlWriter(str(out / "filtered")),
        ],
        "minhash signatures": [JsonlReader(str(out / "filtered")), MinhashDedupSignature(str(out / "sigs"), config=cfg)],
        "minhash buckets": [MinhashDedupBuckets(str(out / "sigs"), str(out / "buckets"), config=cfg)],
        "minhash clusters": [MinhashDedupCluster(str(out / "buckets"), str(out / "remove_ids"), config=cfg)],
        "minhash filter→tokenize": [
            JsonlReader(str(out / "filtered")), MinhashDedupFilter(str(out / "remove_ids")),
            JsonlWriter(str(out / "kept"), adapter=lambda self, doc: {"id": doc.id, "url": doc.metadata.get("url")}),
            DocumentTokenizer(str(out / "tokens"), tokenizer_name_or_path=args.tokenizer, eos_token="<|endoftext|>"),
        ],
    }
    task_counts = {"read→extract→filters": tasks, "minhash signatures": tasks, "minhash buckets": cfg.num_buckets,
                   "minhash clusters": 1, "minhash filter→tokenize": tasks}
    times = {}
    for i, (name, pipe) in enumerate(stages.items()):
        t0 = time.perf_counter()
        LocalPipelineExecutor(pipeline=pipe, tasks=task_counts[name], workers=min(w, task_counts[name]),
                              logging_dir=f"{logs}/{i}", skip_completed=False).run()
        times[name] = round(time.perf_counter() - t0, 3)
    print("DATATROVE_TIMES " + json.dumps(times))


if __name__ == "__main__":
    main()

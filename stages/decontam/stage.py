"""decontaminate_v1: remove benchmark test items from training data (GPT-3 n-gram decontamination)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from dataforge.schema import DETAIL_COLUMN, REASON_COLUMN, with_columns
from dataforge.stage import BatchResult, DatasetStage, StageParams
from dataforge.stages.decontam.benchmarks import BenchmarkSpec, content_fingerprint
from dataforge.stages.decontam.index import INDEX_VERSION, IndexConfig, NgramIndex
from dataforge.stages.decontam.matching import cut_document, detail_json, match_texts

INDEX_FOLDER = "index"
REASON = "contaminated"
COLUMNS = (pa.field("decontam_ngrams", pa.int32()), pa.field("decontam_longest", pa.int32()), pa.field("decontam", pa.string()))

_LOADED: dict[str, tuple[float, NgramIndex]] = {}


class DecontamParams(StageParams):
    """Benchmarks to protect, how they are indexed, and what happens to a matching document."""

    benchmarks: list[BenchmarkSpec] = Field(min_length=1, description="benchmark sets (local files or inline items)")
    mode: Literal["cut", "drop", "annotate"] = Field(
        "cut", description="cut matched spans (GPT-3), drop the document, or only annotate it")
    ngram: int | Literal["auto"] = Field(
        13, description="word n-gram size (GPT-3: 13); 'auto': the 5th-percentile item length bounded to min..max_ngram")
    min_ngram: int = Field(8, ge=1, le=64, description="lower bound of 'auto'; shorter items match only as a whole")
    max_ngram: int = Field(13, ge=1, le=64, description="upper bound of 'auto'")
    max_items_per_ngram: int = Field(10, ge=1, description="n-grams shared by more benchmark items than this are ignored")
    min_matches: int = Field(1, ge=1, description="matched n-grams of one item that make a document contaminated (GPT-3: 1)")
    margin_chars: int = Field(200, ge=0, description="cut mode: characters removed each side of a match (GPT-3: 200)")
    min_fragment_chars: int = Field(200, ge=0, description="cut mode: shorter pieces are discarded (GPT-3: 200)")
    max_pieces: int = Field(10, ge=1, description="cut mode: a document cut into more pieces is dropped (GPT-3: 10)")
    max_item_chars: int = Field(100_000, gt=0, description="longer benchmark items are clipped (counted as clipped_long)")
    text_column: str = "text"

    def index_config(self) -> IndexConfig:
        """The index settings."""
        return IndexConfig(ngram=self.ngram, min_ngram=self.min_ngram, max_ngram=self.max_ngram,
                           max_items_per_ngram=self.max_items_per_ngram, max_item_chars=self.max_item_chars)


class Decontaminate(DatasetStage):
    """Find benchmark items (GSM8K, MATH, MMLU, ARC, HumanEval, TriviaQA, any field list) in documents and cut or drop them.

    GPT-3 decontamination (Brown et al. 2020, appendix C): text is normalised to lower-case word
    tokens (punctuation and whitespace ignored, so reformatted code still matches; characters
    of Chinese, Japanese, Thai... count as tokens) and every 13-gram of a benchmark item is
    indexed (``ngram: auto`` adapts n to short items: 5th-percentile length, bounded to 8..13;
    n-grams shared by more than ``max_items_per_ngram`` items are ignored). The index is built
    once on the driver and memory-mapped by every worker. ``cut`` removes each match with 200
    characters each side, discards pieces under 200 characters and drops documents cut into
    more than 10 pieces; ``drop`` rejects the document; ``annotate`` only marks it. Rejected
    rows have reason ``contaminated`` and a JSON detail (benchmark, items, spans); kept rows
    get ``decontam_ngrams``, ``decontam_longest`` and ``decontam`` (JSON, null when clean).
    ``dataforge stats`` shows the contamination per benchmark.
    """

    name = "decontaminate_v1"
    Params = DecontamParams
    batch_size = 2048
    example = {"benchmarks": [{"name": "demo", "fields": ["question"], "items": [
        {"question": "A farmer has 17 sheep and buys 5 more each week for 9 weeks; how many sheep does the farmer have then?"}]}]}

    def config_hash(self) -> str:
        """Name, parameters, the content of the benchmark files (a changed file reruns the stage) and the index format."""
        p: DecontamParams = self.params  # type: ignore[assignment]
        content = [content_fingerprint(b) for b in p.benchmarks]
        payload = json.dumps({"base": super().config_hash(), "content": content, "index": INDEX_VERSION}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    # -- the index, built once ----------------------------------------------------------------
    def run_dataset(self, ctx: Any) -> None:
        """Build the benchmark index on the driver and write it into the stage folder for the workers."""
        p: DecontamParams = self.params  # type: ignore[assignment]
        index = NgramIndex.build(p.benchmarks, p.index_config())
        index.save(Path(ctx.folder) / INDEX_FOLDER)

    def _index(self, folder: Any) -> NgramIndex:
        path = Path(folder) / INDEX_FOLDER
        meta = path / "index.json"
        if not meta.exists():
            raise FileNotFoundError(f"{self.name}: no benchmark index at {path}; the stage's index round did not run "
                                    "(rerun the pipeline)")
        mtime = meta.stat().st_mtime
        got = _LOADED.get(str(path))
        if got is None or got[0] != mtime:
            got = (mtime, NgramIndex.load(path))
            _LOADED[str(path)] = got
        return got[1]

    # -- applying it ------------------------------------------------------------------------------
    def annotate_kept(self, batch: pa.Table, annotations: pa.Table | None) -> pa.Table:
        """Clean rows: zero counts and a null ``decontam`` (used for empty batches)."""
        n = batch.num_rows
        return with_columns(batch, {COLUMNS[0]: pa.array(np.zeros(n, np.int32)), COLUMNS[1]: pa.array(np.zeros(n, np.int32)),
                                    COLUMNS[2]: pa.nulls(n, pa.string())})

    def apply_batch(self, batch: pa.Table, drops: pa.Table, annotations: pa.Table | None, folder: Any) -> BatchResult:
        """Match the batch against the index, then cut, drop or annotate the contaminated rows."""
        p: DecontamParams = self.params  # type: ignore[assignment]
        if batch.num_rows == 0:
            return BatchResult(kept=self.annotate_kept(batch, None))
        if p.text_column not in batch.column_names:
            raise ValueError(f"{self.name}: the batch has no {p.text_column!r} column; set text_column to the text field")
        m = match_texts(batch.column(p.text_column), self._index(folder), p.min_matches)
        n = batch.num_rows
        info: list[str | None] = [None] * n
        drop_detail: dict[int, str] = {}
        new_text: dict[int, str] = {}
        texts = batch.column(p.text_column)
        for r, dm in m.docs.items():
            if p.mode == "drop":
                drop_detail[r] = detail_json(dm.describe(action="dropped", why="drop mode"))
            elif p.mode == "annotate":
                info[r] = detail_json(dm.describe(action="annotated"))
            else:
                cut = cut_document(texts[r].as_py() or "", dm.spans, p.margin_chars, p.min_fragment_chars, p.max_pieces)
                if cut.text is None:
                    drop_detail[r] = detail_json(dm.describe(action="dropped", why=cut.why, pieces=cut.pieces))
                else:
                    new_text[r] = cut.text
                    info[r] = detail_json(dm.describe(action="cut", why=cut.why, pieces=cut.pieces,
                                                      removed=[list(s) for s in cut.removed]))
        out = batch
        if new_text:
            vals = texts.to_pylist()
            for r, t in new_text.items():
                vals[r] = t
            out = with_columns(out, {p.text_column: pa.array(vals, pa.string())})
        out = with_columns(out, {COLUMNS[0]: pa.array(m.matched_ngrams.astype(np.int32)),
                                 COLUMNS[1]: pa.array(m.longest.astype(np.int32)),
                                 COLUMNS[2]: pa.array(info, pa.string())})
        if not drop_detail:
            return BatchResult(kept=out)
        rows = np.array(sorted(drop_detail), dtype=np.int64)
        keep = np.ones(n, dtype=bool)
        keep[rows] = False
        dropped = batch.take(pa.array(rows))
        dropped = dropped.append_column(REASON_COLUMN, pa.array([REASON] * len(rows), pa.string()))
        dropped = dropped.append_column(DETAIL_COLUMN, pa.array([drop_detail[r] for r in rows.tolist()], pa.string()))
        return BatchResult(kept=out.filter(pa.array(keep)), dropped=dropped)

    def report(self, folder: Any) -> dict[str, Any] | None:
        """Contamination per benchmark: items found, documents affected, by source/domain, examples."""
        from dataforge.stages.decontam.report import stage_report

        return stage_report(Path(folder))

"""On the real CCNet documents of ../shared/data, every family decides exactly as datatrove did.

datatrove's decisions were recorded once by benchmarks/quality_rules/reference.py into
tests/fixtures/quality_rules/ (decisions only, no document text); skipped without ../shared/data.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import SHARED_DATA, table
from dataforge import registry

CCNET = SHARED_DATA / "warc" / "dolma" / "ccnet_jsonl"
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "quality_rules" / "ccnet_datatrove_decisions.json"
FAMILIES = {
    "gopher_quality": ("gopher_quality_filter_v1", {}),
    "gopher_repetition": ("gopher_repetition_filter_v1", {}),
    "fineweb": ("fineweb_filter_v1", {}),
    "c4": ("c4_filter_v1", {}),
    "c4_fineweb": ("c4_filter_v1", {"filter_no_terminal_punct": False}),
}
REASONS = {
    "gopher_below_alpha_threshold": "gopher_alpha_words", "gopher_too_many_end_ellipsis": "gopher_ellipsis_lines",
    "gopher_short_doc": "gopher_too_few_words", "line_punct_ratio": "fineweb_line_punct_ratio",
    "short_line_ratio": "fineweb_short_line_ratio", "too_few_sentences": "c4_too_few_sentences",
}


@pytest.fixture(scope="module")
def ccnet() -> pa.Table:
    if not CCNET.is_dir():
        pytest.skip(reason=f"{CCNET} is absent: the shared development data is not beside the repository")
    rows: dict[str, dict[str, str]] = {}
    for f in sorted(CCNET.iterdir()):
        if f.name.endswith(".jsonl"):
            lines = f.read_text(encoding="utf-8").splitlines()
        elif f.name.endswith(".json.gz"):
            lines = gzip.decompress(f.read_bytes()).decode("utf-8").splitlines()
        else:
            continue
        for line in filter(str.strip, lines):
            r = json.loads(line)
            rows.setdefault(r["id"], {"id": r["id"], "text": r["text"]})
    return table(list(rows.values()))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_same_decisions_as_datatrove(family: str, ccnet: pa.Table) -> None:
    expected = json.loads(FIXTURE.read_text())["decisions"]
    name, params = FAMILIES[family]
    res = registry.get(name)(params)(ccnet)
    got = {i: None for i in res.kept.column("id").to_pylist()}
    if res.dropped is not None:
        got.update(zip(res.dropped.column("id").to_pylist(), res.dropped.column("reason").to_pylist()))
    want = {i: (None if d[family] is None else REASONS[d[family]]) for i, d in expected.items()}
    assert got == want

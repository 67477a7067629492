"""The PDF reader: ids from relative paths, grouping into shards, bounded batches, bad files quarantined;
and the shipped PDF pipeline end to end (PDF -> pdf_extract_v1 -> language_id_v1) with its accounting."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pymupdf")

from conftest import REPO, needs_shared  # noqa: E402
from dataforge import spec as spec_mod  # noqa: E402
from dataforge.executor import LocalExecutor  # noqa: E402
from dataforge.readers import get_reader  # noqa: E402
from dataforge.readers.files import expand  # noqa: E402
from dataforge.readers.base import FileGroupUnit  # noqa: E402
from dataforge.readers.pdf import PdfReader  # noqa: E402
from dataforge.runner import make_plan, run  # noqa: E402
from dataforge.spec import InputSpec  # noqa: E402
from fixtures.pdf.make_pdfs import encrypted_pdf, scanned_pdf, text_pdf  # noqa: E402

ENGLISH = ("The committee met on Tuesday to review the budget for the coming year. After a long debate the "
           "members agreed to fund the new library and to delay the repairs of the bridge until the autumn.")
GERMAN = ("Der Ausschuss traf sich am Dienstag, um den Haushalt für das kommende Jahr zu prüfen. Nach einer "
          "langen Debatte beschlossen die Mitglieder, die neue Bibliothek zu finanzieren.")


def make_folder(root: Path) -> Path:
    """A folder of PDFs with a subfolder, and the bad files a real folder has."""
    (root / "sub").mkdir(parents=True)
    (root / "a.pdf").write_bytes(text_pdf([[ENGLISH]], title="A"))
    (root / "sub" / "b.pdf").write_bytes(text_pdf([[ENGLISH], ["A second page, also in English, about the library."]]))
    (root / "sub" / "c.PDF").write_bytes(text_pdf([[GERMAN]]))
    (root / "empty.pdf").write_bytes(b"")
    (root / "notes.pdf").write_bytes(b"These are plain text notes, not a PDF at all.\n")
    (root / "readme.txt").write_text("not picked up from a folder")
    return root


def read_all(paths: list[str], **options) -> tuple[list[FileGroupUnit], pa.Table, pa.Table, int, int]:
    spec = InputSpec(format="pdf", paths=paths, options=options)
    reader = get_reader("pdf")(spec)
    units = reader.plan(expand(spec.paths, reader.extensions))
    docs, quarantined, seen, batches = [], [], 0, 0
    for unit in units:
        for rb in reader.read(unit):
            batches += 1
            seen += rb.seen
            docs.append(rb.documents)
            if rb.quarantined is not None:
                quarantined.append(rb.quarantined)
    from dataforge.schema import QUARANTINE_SCHEMA

    return (units, pa.concat_tables(docs, promote_options="permissive"),
            pa.concat_tables(quarantined) if quarantined else QUARANTINE_SCHEMA.empty_table(), seen, batches)


def test_folder_ids_bytes_and_bad_files(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "pdfs")
    units, docs, q, seen, _ = read_all([str(root)])
    assert len(units) == 1 and isinstance(units[0], FileGroupUnit) and len(units[0].members) == 5
    assert docs.column("id").to_pylist() == ["a.pdf", "sub/b.pdf", "sub/c.PDF"]
    assert docs.schema.field("pdf").type == pa.binary()
    assert docs.column("pdf")[0].as_py() == (root / "a.pdf").read_bytes()
    assert set(docs.column("source").to_pylist()) == {"pdf"}
    meta = json.loads(docs.column("metadata")[1].as_py())
    assert meta["file"] == "sub/b.pdf" and meta["bytes"] == (root / "sub" / "b.pdf").stat().st_size
    assert dict(zip(q.column("id").to_pylist(), q.column("reason").to_pylist())) == {
        "empty.pdf": "empty_file", "notes.pdf": "not_a_pdf"}
    assert all("pdf" in d or "PDF" in d for d in q.column("detail").to_pylist())
    assert seen == 5


def test_size_limit_grouping_and_batches(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "pdfs")
    big = (root / "sub" / "b.pdf").stat().st_size
    units, docs, q, seen, batches = read_all([str(root)], max_pdf_bytes=big - 1, files_per_unit=2, batch_bytes=1)
    assert [len(u.members) for u in units] == [2, 2, 1]
    assert Counter(q.column("reason").to_pylist()) == Counter({"empty_file": 1, "not_a_pdf": 1, "pdf_too_large": 1})
    assert "max_pdf_bytes" in q.filter(pa.compute.equal(q.column("reason"), "pdf_too_large")).column("detail")[0].as_py()
    assert docs.column("id").to_pylist() == ["a.pdf", "sub/c.PDF"]
    assert seen == 5 and batches >= 3  # batch_bytes=1: every PDF travels alone


def test_globs_pick_any_file_and_fingerprints_follow_content(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "pdfs")
    units, docs, q, _, _ = read_all([str(root / "*.txt")])
    assert docs.num_rows == 0 and q.column("reason").to_pylist() == ["not_a_pdf"]
    spec = InputSpec(format="pdf", paths=[str(root)])
    reader = PdfReader(spec)
    before = reader.plan(expand(spec.paths, reader.extensions))[0].fingerprint
    (root / "sub" / "c.PDF").write_bytes(text_pdf([[GERMAN], [ENGLISH]]))
    after = reader.plan(expand(spec.paths, reader.extensions))[0].fingerprint
    assert before != after


def test_pdf_pipeline_end_to_end(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "pdfs")
    (root / "locked.pdf").write_bytes(encrypted_pdf(ENGLISH, "pw"))
    (root / "scan.pdf").write_bytes(scanned_pdf(text_pages=0))
    spec = spec_mod.load(REPO / "pipelines" / "pdf.yaml",
                         sets=[f"DATA={root}", f"OUT={tmp_path / 'out'}", "stages.1.params.keep=[en]"])
    res = run(make_plan(spec, tmp_path / "run"), LocalExecutor())
    s = res.summary
    assert s["totals"]["balanced"] and s["totals"]["input"] == 7
    assert s["quarantined"] == {"read.empty_file": 1, "read.not_a_pdf": 1, "pdf_extract_v1.encrypted": 1}
    assert s["dropped"] == {"pdf_extract_v1.needs_ocr": 1, "language_id_v1.language_not_kept": 1}
    out = pq.read_table(next((tmp_path / "out" / "pdf").glob("*.parquet")))
    assert out.column("id").to_pylist() == ["a.pdf", "sub/b.pdf"]
    assert out.column("language").to_pylist() == ["en", "en"]
    assert "pdf" not in out.column_names and out.column("title")[0].as_py() == "A"


def test_real_pdf_folder_runs(tmp_path: Path) -> None:
    samples = needs_shared("pdf", "pdfminer", "samples")
    spec = spec_mod.load(REPO / "pipelines" / "pdf.yaml",
                         sets=[f"DATA={samples}", f"OUT={tmp_path / 'out'}", "stages.0.params.passwords=[foo, usersecret]"])
    s = run(make_plan(spec, tmp_path / "run"), LocalExecutor()).summary
    assert s["totals"]["balanced"] and s["totals"]["input"] == 47
    assert not any(k.endswith("encrypted") for k in s["quarantined"])

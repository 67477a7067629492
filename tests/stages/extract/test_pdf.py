"""pdf_extract_v1 on small PDFs built in the test: text, cleanup, pages, OCR flags, encrypted and damaged files."""

from __future__ import annotations

import pickle
from collections import Counter

import pyarrow as pa
import pytest

pymupdf = pytest.importorskip("pymupdf")

from conftest import needs_shared  # noqa: E402
from dataforge.stages.extract.pdf import PdfExtract  # noqa: E402
from fixtures.pdf.make_pdfs import encrypted_pdf, ligature_pdf, scanned_pdf, text_pdf  # noqa: E402

PARA = ("Pre-training corpora need clean text. The extraction of text from documents keeps the words in the\n"
        "order a reader would follow and removes what only the printed page needs.")


def batch(items: dict[str, bytes | None], extra: bool = True) -> pa.Table:
    """A reader-like batch: id, null text, source, pdf bytes, and a pass-through column."""
    ids = list(items)
    cols = {
        "id": pa.array(ids, pa.string()),
        "text": pa.array([None] * len(ids), pa.string()),
        "source": pa.array(["pdf"] * len(ids), pa.string()),
        "pdf": pa.array(list(items.values()), pa.binary()),
    }
    if extra:
        cols["zz_extra"] = pa.array([f"x-{i}" for i in ids], pa.string())
    return pa.table(cols)


def reasons(table: pa.Table | None) -> Counter:
    """Reason counts of a dropped or quarantined table."""
    return Counter(table.column("reason").to_pylist()) if table is not None else Counter()


def test_text_metadata_and_passthrough() -> None:
    data = text_pdf([[PARA], ["A second page with its own words."]], title="Annual Report", author="A. Writer")
    res = PdfExtract()(batch({"report.pdf": data}))
    assert res.kept.column("id").to_pylist() == ["report.pdf"]
    row = res.kept.to_pylist()[0]
    assert row["title"] == "Annual Report" and row["author"] == "A. Writer"
    assert row["page_count"] == 2 and row["pages_without_text"] == [] and row["needs_ocr"] is False
    assert row["zz_extra"] == "x-report.pdf" and row["source"] == "pdf"
    assert "pdf" not in res.kept.column_names
    assert "A second page with its own words." in row["text"]
    # the wrapped paragraph is reflowed into one line, pages are separated by a blank line
    assert "keeps the words in the order a reader" in row["text"]
    assert "\n\nA second page" in row["text"]


def test_headers_footers_and_page_numbers_removed() -> None:
    pages = [[f"Chapter text of page {i} says something different each time, about topic {i}."] for i in range(1, 5)]
    data = text_pdf(pages, header="ACME Corporation Annual Report 2024", footer_numbers=True)
    text = PdfExtract()(batch({"a.pdf": data})).kept.column("text")[0].as_py()
    assert "ACME" not in text and "Page 1 of 4" not in text and "of 4" not in text
    for i in range(1, 5):
        assert f"about topic {i}." in text
    kept = PdfExtract({"remove_headers_footers": False})(batch({"a.pdf": data})).kept.column("text")[0].as_py()
    assert kept.count("ACME Corporation Annual Report 2024") == 4 and "Page 3 of 4" in kept


def test_single_page_keeps_its_edges() -> None:
    data = text_pdf([["Only page body."]], header="A header that appears once", footer_numbers=True)
    text = PdfExtract()(batch({"one.pdf": data})).kept.column("text")[0].as_py()
    assert "A header that appears once" in text and "Page 1 of 1" in text


def test_hyphenation_joined_and_real_hyphens_kept() -> None:
    para = ("The extrac-\ntion of text is a well-\nknown problem; the state-of-the-\nart method joins words like\n"
            "Hewlett-\nPackard and COVID-\n19 carefully, a well-known fact.")
    text = PdfExtract()(batch({"h.pdf": text_pdf([[para]])})).kept.column("text")[0].as_py()
    assert "extraction of text" in text
    assert "well-known problem" in text  # the hyphenated form occurs elsewhere in the document
    assert "state-of-the-art method" in text
    assert "Hewlett-Packard" in text and "COVID-19" in text
    off = PdfExtract({"dehyphenate": False})(batch({"h.pdf": text_pdf([[para]])})).kept.column("text")[0].as_py()
    assert "extrac- tion" in off


def test_ligatures_spelled_out() -> None:
    text = PdfExtract()(batch({"l.pdf": ligature_pdf("The ﬁrst ﬂow is ﬁne.")})).kept.column("text")[0].as_py()
    assert text == "The first flow is fine."


def test_scanned_page_flagged_and_image_only_pdf_dropped() -> None:
    res = PdfExtract()(batch({"mixed.pdf": scanned_pdf(text_pages=2), "scan.pdf": scanned_pdf(text_pages=0)}))
    assert res.kept.column("id").to_pylist() == ["mixed.pdf"]
    row = res.kept.to_pylist()[0]
    assert row["page_count"] == 3 and row["pages_without_text"] == [3] and row["ocr_pages"] == [3]
    assert row["needs_ocr"] is True
    assert reasons(res.dropped) == Counter({"needs_ocr": 1})
    dropped = res.dropped.to_pylist()[0]
    assert dropped["id"] == "scan.pdf" and dropped["ocr_pages"] == [1] and "OCR" in dropped["detail"]
    assert "pdf" not in res.dropped.column_names
    kept_all = PdfExtract({"keep_empty": True})(batch({"scan.pdf": scanned_pdf(text_pages=0)}))
    assert kept_all.kept.num_rows == 1 and kept_all.kept.column("needs_ocr")[0].as_py() is True


def test_page_mode_splits_and_accounts() -> None:
    data = text_pdf([["First page words."], ["Second page words."], ["Third page words."]])
    scan = scanned_pdf(text_pages=1)
    res = PdfExtract({"mode": "page"})(batch({"doc.pdf": data, "scan.pdf": scan}))
    assert res.kept.column("id").to_pylist() == ["doc.pdf#p1", "doc.pdf#p2", "doc.pdf#p3", "scan.pdf#p1"]
    assert res.kept.column("page").to_pylist() == [1, 2, 3, 1]
    assert res.kept.column("text").to_pylist()[1] == "Second page words."
    assert res.kept.column("zz_extra").to_pylist() == ["x-doc.pdf"] * 3 + ["x-scan.pdf"]
    assert res.dropped.column("id").to_pylist() == ["scan.pdf#p2"] and reasons(res.dropped) == Counter({"needs_ocr": 1})
    # 2 PDFs in; 5 page rows out (4 kept + 1 dropped) -> 3 created
    assert res.created == 3
    assert res.kept.num_rows - res.created + res.dropped.num_rows == 2


def test_encrypted_needs_the_password() -> None:
    data = encrypted_pdf("Confidential words inside.", "s3cret")
    locked = PdfExtract()(batch({"lock.pdf": data}))
    assert locked.kept.num_rows == 0 and reasons(locked.quarantined) == Counter({"encrypted": 1})
    q = locked.quarantined.to_pylist()[0]
    assert q["id"] == "lock.pdf" and q["stage"] == "pdf_extract_v1" and "params.passwords" in q["detail"]
    opened = PdfExtract({"passwords": ["wrong", "s3cret"]})(batch({"lock.pdf": data}))
    assert opened.kept.column("text").to_pylist() == ["Confidential words inside."]


def test_damaged_and_missing_bytes_are_quarantined() -> None:
    good = text_pdf([["Fine words here."]])
    items = {"good.pdf": good, "garbage.pdf": b"%PDF-1.7\n" + bytes(range(256)) * 4, "cut.pdf": good[:300],
             "null.pdf": None}
    res = PdfExtract()(batch(items))
    assert res.kept.column("id").to_pylist() == ["good.pdf"]
    assert reasons(res.quarantined) == Counter({"damaged_pdf": 2, "missing_pdf_bytes": 1})
    assert set(res.quarantined.column("id").to_pylist()) == {"garbage.pdf", "cut.pdf", "null.pdf"}


def test_truncated_file_is_repaired_with_a_warning() -> None:
    data = text_pdf([[f"Page {i} has its own sentence about apples."] for i in range(1, 4)])
    res = PdfExtract()(batch({"t.pdf": data[: int(len(data) * 0.9)]}))  # the xref table and trailer are lost
    row = res.kept.to_pylist()[0]
    assert "apples" in row["text"] and any("rebuilt" in w for w in row["pdf_warnings"])


def test_page_limit_and_time_budget_warn() -> None:
    data = text_pdf([[f"Words on page {i}."] for i in range(1, 6)])
    row = PdfExtract({"max_pages": 2})(batch({"p.pdf": data})).kept.to_pylist()[0]
    assert row["page_count"] == 5 and "page 3" not in row["text"] and "Words on page 2." in row["text"]
    assert any("first 2 of 5 pages" in w for w in row["pdf_warnings"])


def test_empty_batch_missing_column_and_pickling() -> None:
    stage = PdfExtract({"mode": "page"})
    clone = pickle.loads(pickle.dumps(stage))
    out = clone(batch({}))
    assert out.kept.num_rows == 0 and "pdf" not in out.kept.column_names and "page" in out.kept.column_names
    no_pdf = pa.table({"id": ["a"], "text": ["plain text"]})
    res = PdfExtract()(no_pdf)  # a misconfigured pipeline: every row is quarantined with the fix
    assert res.kept.num_rows == 0 and reasons(res.quarantined) == Counter({"missing_pdf_bytes": 1})
    assert "input.format: pdf" in res.quarantined.column("detail")[0].as_py()


def test_real_samples_never_crash() -> None:
    root = needs_shared("pdf", "pdfminer", "samples")
    files = sorted(p for p in root.rglob("*.pdf"))
    items = {str(p.relative_to(root)): p.read_bytes() for p in files}
    res = PdfExtract({"passwords": ["foo", "usersecret"]})(batch(items))
    n_out = res.kept.num_rows + res.count(res.dropped) + res.count(res.quarantined)
    assert n_out == len(files)
    kept = dict(zip(res.kept.column("id").to_pylist(), res.kept.column("text").to_pylist()))
    assert kept["encryption/aes-256-r6.pdf"] == "Hello World"
    assert kept["encryption/rc4-40.pdf"] == "Secret!"
    assert "宮澤賢治" in kept["jo.pdf"]
    dropped = dict(zip(res.dropped.column("id").to_pylist(), res.dropped.column("reason").to_pylist()))
    assert dropped["contrib/issue-791-non-unicode-cmap.pdf"] == "needs_ocr"  # glyphs without Unicode mapping
    assert dropped["contrib/pdf-with-jbig2.pdf"] == "needs_ocr"  # an image-only page
    locked = PdfExtract()(batch({k: v for k, v in items.items() if k.startswith("encryption/")}))
    assert reasons(locked.quarantined)["encrypted"] == 7

"""WARC/ARC reader: HTML responses to documents, damage quarantined, splits that do not change ids."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import needs_shared
from dataforge.readers.files import expand
from dataforge.readers.warc import WarcReader
from dataforge.spec import InputSpec

warcio = pytest.importorskip("warcio")
from warcio.statusandheaders import StatusAndHeaders  # noqa: E402
from warcio.warcwriter import WARCWriter  # noqa: E402


def page(i: int, words: int = 60) -> bytes:
    """A small HTML page, distinct per i."""
    body = " ".join(f"word{(i * 31 + k) % 97}" for k in range(words))
    return f"<!doctype html><html lang='en'><head><title>Page {i}</title></head><body><p>{body}</p></body></html>".encode()


def write_warc(path: Path, n: int, gz: bool = True, extras: bool = True, words: int = 60) -> list[str]:
    """n HTML responses (plus a request per response and, with extras, non-documents); returns the response ids."""
    ids = []
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=gz)
        w.write_record(w.create_warcinfo_record(path.name, {"software": "dataforge-tests"}))
        for i in range(n):
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            rec = w.create_warc_record(f"http://site{i % 3}.example/p{i}", "response",
                                       payload=io.BytesIO(page(i, words)), http_headers=http)
            w.write_record(rec)
            ids.append(rec.rec_headers.get_header("WARC-Record-ID").strip("<>"))
            req = w.create_warc_record(f"http://site{i % 3}.example/p{i}", "request",
                                       payload=io.BytesIO(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                                       http_headers=StatusAndHeaders("GET / HTTP/1.1", [("Host", "x")], is_http_request=True))
            w.write_record(req)
            if extras and i % 4 == 0:
                for status, ctype, body in (("404 Not Found", "text/html", b"<html>gone</html>"),
                                            ("200 OK", "application/json", b'{"a": 1}'),
                                            ("200 OK", "image/png", b"\x89PNG....")):
                    h = StatusAndHeaders(status, [("Content-Type", ctype)], protocol="HTTP/1.1")
                    w.write_record(w.create_warc_record(f"http://other.example/{i}/{ctype}", "response",
                                                        payload=io.BytesIO(body), http_headers=h))
    return ids


def read(path: Path, **spec_kwargs) -> tuple[list, pa.Table, pa.Table]:
    """Plan and read every unit; return (units, documents, quarantined)."""
    spec = InputSpec(format="warc", paths=[str(path)], **spec_kwargs)
    reader = WarcReader(spec)
    units = reader.plan(expand([str(path)], WarcReader.extensions))
    docs, bad = [], []
    for unit in units:
        for batch in reader.read(unit):
            docs.append(batch.documents)
            if batch.quarantined is not None:
                bad.append(batch.quarantined)
    d = pa.concat_tables(docs, promote_options="permissive") if docs else None
    q = pa.concat_tables(bad) if bad else None
    return units, d, q


def reasons(q: pa.Table | None) -> dict[str, int]:
    """Count quarantine reasons."""
    if q is None:
        return {}
    out: dict[str, int] = {}
    for r in q.column("reason").to_pylist():
        out[r] = out.get(r, 0) + 1
    return out


@pytest.mark.parametrize("gz", [True, False])
def test_html_responses_become_documents(tmp_path: Path, gz: bool) -> None:
    path = tmp_path / ("crawl.warc.gz" if gz else "crawl.warc")
    ids = write_warc(path, 6)
    units, docs, q = read(path)
    assert len(units) == 1
    assert docs.column("id").to_pylist() == ids  # 404, JSON, PNG, requests and warcinfo are not documents
    assert q is None
    assert docs.column("text").null_count == 6
    assert docs.column("html").to_pylist()[2] == page(2)
    assert docs.column("url").to_pylist()[:2] == ["http://site0.example/p0", "http://site1.example/p1"]
    assert docs.column("domain").to_pylist()[:2] == ["site0.example", "site1.example"]
    meta = json.loads(docs.column("metadata")[0].as_py())
    assert meta["warc_record_id"] == ids[0] and meta["http_status"] == 200 and meta["warc_file"] == path.name
    assert meta["warc_date"].startswith("20") and meta["http_headers"]["Content-Type"].startswith("text/html")
    assert set(docs.column("source").to_pylist()) == {"warc"}


def test_encodings_untyped_pages_and_status_rules(tmp_path: Path) -> None:
    path = tmp_path / "enc.warc.gz"
    html = page(1)
    chunked = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in (html[:50], html[50:])) + b"0\r\n\r\n"
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        h = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], protocol="HTTP/1.1")
        w.write_record(w.create_warc_record("http://a.example/gz", "response", payload=io.BytesIO(gzip.compress(html)),
                                            http_headers=h))
        h = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")], protocol="HTTP/1.1")
        w.write_record(w.create_warc_record("http://a.example/chunked", "response", payload=io.BytesIO(chunked),
                                            http_headers=h))
        h = StatusAndHeaders("200 OK", [("Server", "x")], protocol="HTTP/1.1")  # no content type: sniffed
        w.write_record(w.create_warc_record("http://a.example/untyped", "response", payload=io.BytesIO(html),
                                            http_headers=h))
        w.write_record(w.create_warc_record("http://a.example/untyped-text", "response", payload=io.BytesIO(b"plain words"),
                                            http_headers=h))
        h = StatusAndHeaders("301 Moved", [("Content-Type", "text/html"), ("Location", "/x")], protocol="HTTP/1.1")
        w.write_record(w.create_warc_record("http://a.example/moved", "response", payload=io.BytesIO(b"<html>moved</html>"),
                                            http_headers=h))
    _, docs, q = read(path)
    assert docs.column("url").to_pylist() == ["http://a.example/gz", "http://a.example/chunked", "http://a.example/untyped"]
    assert docs.column("html").to_pylist() == [html, html, html]  # encodings undone, bytes otherwise untouched
    assert q is None
    _, docs, _ = read(path, options={"only_2xx": False, "sniff_untyped": False})
    assert docs.column("url").to_pylist() == ["http://a.example/gz", "http://a.example/chunked", "http://a.example/moved"]


ARC_HEADER = b"1 0 Test Capture\nURL IP-address Archive-date Content-type Archive-length\n"
ARC_HTTP = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"


def write_arc(path: Path, pages: list[bytes], lengths: list[str] | None = None) -> None:
    """An ARC v1 file (optionally gzip, one member per record) holding HTTP responses."""
    records = [f"filedesc://{path.name} 0.0.0.0 20140216050221 text/plain {len(ARC_HEADER)}\n".encode() + ARC_HEADER]
    for i, body in enumerate(pages):
        payload = ARC_HTTP + body
        length = lengths[i] if lengths else str(len(payload))
        records.append(f"http://arc.example/{i} 10.0.0.1 20140216050221 text/html {length}\n".encode() + payload)
    if path.name.endswith(".gz"):
        path.write_bytes(b"".join(gzip.compress(r + b"\n") for r in records))
    else:
        path.write_bytes(b"\n".join(records) + b"\n")


@pytest.mark.parametrize("name", ["old.arc", "old.arc.gz"])
def test_arc_files_use_offsets_as_ids(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_arc(path, [page(0), page(1)])
    _, docs, q = read(path)
    assert q is None
    assert docs.column("url").to_pylist() == ["http://arc.example/0", "http://arc.example/1"]
    ids = docs.column("id").to_pylist()
    assert all(i.startswith(f"{name}:") for i in ids) and len(set(ids)) == 2
    _, again, _ = read(path)
    assert again.column("id").to_pylist() == ids  # warcio's arc2warc ids are random; ours are offsets
    assert docs.column("html").to_pylist() == [page(0), page(1)]


def test_arc_with_invalid_lengths_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "bad.arc"
    pages = [page(0), page(1), page(2)]
    good = [str(len(ARC_HTTP + p)) for p in pages]
    write_arc(path, pages, lengths=[good[0], "-1", good[2]])
    _, docs, q = read(path)
    # the record with length -1, then its payload, which cannot parse as a record; reading resumes after it
    assert reasons(q) == {"bad_content_length": 1, "corrupt_record": 1}
    assert "'-1'" in q.column("detail")[0].as_py()
    assert docs.column("url").to_pylist() == ["http://arc.example/0", "http://arc.example/2"]


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_copy_keeps_records_before_the_cut(tmp_path: Path, gz: bool) -> None:
    full = tmp_path / ("full.warc.gz" if gz else "full.warc")
    ids = write_warc(full, 20, gz=gz, extras=False)
    data = full.read_bytes()
    cut = tmp_path / ("cut.warc.gz" if gz else "cut.warc")
    cut.write_bytes(data[: len(data) * 2 // 3])
    _, docs, q = read(cut)
    got = docs.column("id").to_pylist()
    assert got == ids[: len(got)] and 10 <= len(got) < 20
    assert reasons(q) == {"truncated_file" if gz else "truncated_record": 1}
    assert "cut short" in q.column("detail")[0].as_py()


def test_corrupt_gzip_member_is_skipped_and_reading_resumes(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    ids = write_warc(path, 30, extras=False, words=300)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 40] = bytes(40)
    path.write_bytes(bytes(data))
    _, docs, q = read(path)
    got = docs.column("id").to_pylist()
    assert reasons(q) == {"corrupt_gzip": 1}
    assert "resumed at offset" in q.column("detail")[0].as_py()
    assert 27 <= len(got) <= 29 and got[-1] == ids[-1] and set(got) <= set(ids)


def test_misaligned_and_single_stream_gzip_are_read_whole(tmp_path: Path) -> None:
    plain = tmp_path / "crawl.warc"
    ids = write_warc(plain, 12, gz=False, extras=False)
    data = plain.read_bytes()
    one = tmp_path / "one-stream.warc.gz"
    one.write_bytes(gzip.compress(data))  # not one member per record
    odd = tmp_path / "odd-members.warc.gz"
    odd.write_bytes(b"".join(gzip.compress(data[i : i + 777]) for i in range(0, len(data), 777)))
    for path in (one, odd):
        units, docs, q = read(path, split_bytes=1024)
        assert q is None, q.to_pylist()
        assert docs.column("id").to_pylist() == ids
    assert len(read(one, split_bytes=1024)[0]) == 1  # no member boundary to cut at


@pytest.mark.parametrize("gz", [True, False])
def test_split_units_do_not_change_ids(tmp_path: Path, gz: bool) -> None:
    path = tmp_path / ("big.warc.gz" if gz else "big.warc")
    ids = write_warc(path, 80, gz=gz, words=400)
    one, docs_one, _ = read(path)
    many, docs_many, q = read(path, split_bytes=max(4096, path.stat().st_size // 7))
    assert len(one) == 1 and len(many) >= 5
    assert [u.start for u in many][0] == 0 and many[-1].end == -1
    assert all(a.end == b.start for a, b in zip(many, many[1:]))
    assert q is None
    assert docs_many.column("id").to_pylist() == docs_one.column("id").to_pylist() == ids


def test_garbage_empty_and_oversized(tmp_path: Path) -> None:
    junk = tmp_path / "junk.warc"
    junk.write_bytes(b"this is not a web archive\n" * 20)
    _, docs, q = read(junk)
    assert docs.num_rows == 0 and reasons(q) == {"not_a_warc_file": 1}
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    _, docs, q = read(empty)
    assert docs.num_rows == 0 and reasons(q) == {"empty_file": 1}
    big = tmp_path / "big.warc.gz"
    ids = write_warc(big, 3, extras=False, words=2000)
    _, docs, q = read(big, max_text_bytes=5000)
    assert docs.num_rows == 0 and reasons(q) == {"html_too_large": 3}
    assert sorted(q.column("id").to_pylist()) != sorted(ids)  # damage rows use file:offset ids
    assert all(i.startswith("big.warc.gz:") for i in q.column("id").to_pylist())


def test_batches_are_bounded_by_bytes(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    write_warc(path, 40, extras=False, words=500)
    spec = InputSpec(format="warc", paths=[str(path)], options={"batch_bytes": 20_000})
    reader = WarcReader(spec)
    batches = [b for u in reader.plan(expand([str(path)], WarcReader.extensions)) for b in reader.read(u)]
    assert len(batches) >= 5
    assert sum(b.documents.num_rows for b in batches) == 40
    assert all(pa.compute.sum(pa.compute.binary_length(b.documents.column("html"))).as_py() < 20_000 + 5_000
               for b in batches if b.documents.num_rows)


# -- the real broken files from warcio's test suite (skipped without ../shared/data) -----------------


def test_warcio_broken_files() -> None:
    folder = needs_shared("warc", "warcio")
    expected = {  # file -> (documents, quarantine reasons)
        "bad.arc": (0, {"bad_content_length": 3}),
        "example-bad-non-chunked.warc.gz": (1, {}),
        "example-bad.warc.gz.bad": (1, {}),
        "example-wrong-chunks.warc.gz": (1, {}),
        "example-trunc.warc": (0, {"bad_content_length": 1}),
        "example-space-in-url.arc": (0, {"truncated_record": 1}),
        "example.warc.gz": (1, {}),
        "example.warc": (1, {}),
        "example.arc.gz": (1, {}),
        "example-iana.org-chunked.warc": (1, {}),
        "post-test.warc.gz": (0, {}),
        "example-digest.warc": (0, {}),
    }
    for name, (n_docs, why) in expected.items():
        _, docs, q = read(folder / name)
        assert (docs.num_rows, reasons(q)) == (n_docs, why), name


def test_dolma_crawls_yield_every_html_response() -> None:
    folder = needs_shared("warc", "dolma")
    _, docs, q = read(folder)
    assert q is None and docs.num_rows == 37
    metas = [json.loads(m) for m in docs.column("metadata").to_pylist()]
    assert all(docs.column("url").to_pylist()) and all(m["warc_date"] for m in metas)


def test_leading_junk_and_a_corrupt_first_member(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc"
    ids = write_warc(path, 5, gz=False, extras=False)
    junk = tmp_path / "junk-first.warc"
    junk.write_bytes(b"garbage line\r\n" * 3 + path.read_bytes())
    _, docs, q = read(junk)
    assert docs.column("id").to_pylist() == ids and reasons(q) == {"corrupt_record": 1}
    assert "reading resumed at offset 42" in q.column("detail")[0].as_py()
    gz = tmp_path / "crawl.warc.gz"
    gz_ids = write_warc(gz, 5, extras=False)
    data = bytearray(gz.read_bytes())
    data[20:60] = bytes(40)  # inside the first member (the warcinfo record)
    gz.write_bytes(bytes(data))
    _, docs, q = read(gz)
    assert docs.column("id").to_pylist() == gz_ids and reasons(q) == {"corrupt_gzip": 1}

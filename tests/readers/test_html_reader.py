"""HTML reader: one document per file, raw bytes in ``html``, URLs from a map, bad files quarantined."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa

from dataforge.readers.files import expand
from dataforge.readers.base import FileGroupUnit
from dataforge.readers.html import HtmlReader
from dataforge.spec import InputSpec


def read(paths: list[str], **spec_kwargs) -> tuple[list, pa.Table, pa.Table | None]:
    """Plan and read; return (units, documents, quarantined)."""
    spec = InputSpec(format="html", paths=paths, **spec_kwargs)
    reader = HtmlReader(spec)
    units = reader.plan(expand(paths, HtmlReader.extensions))
    docs, bad = [], []
    for unit in units:
        for batch in reader.read(unit):
            docs.append(batch.documents)
            if batch.quarantined is not None:
                bad.append(batch.quarantined)
    return units, pa.concat_tables(docs, promote_options="permissive"), pa.concat_tables(bad) if bad else None


def site(tmp_path: Path) -> Path:
    """A folder of pages: plain, nested, gzip, empty, a broken .gz, and a file the reader must ignore."""
    root = tmp_path / "site"
    (root / "blog").mkdir(parents=True)
    (root / "index.html").write_bytes(b"<html><body><p>Home</p></body></html>")
    (root / "blog" / "post.htm").write_bytes("<html><body><p>caf\u00e9</p></body></html>".encode("cp1252"))
    (root / "blog" / "old.html.gz").write_bytes(gzip.compress(b"<html><body><p>Old</p></body></html>"))
    (root / "empty.html").write_bytes(b"")
    (root / "broken.html.gz").write_bytes(b"\x1f\x8b\x08\x00garbage-not-deflate")
    (root / "notes.txt").write_text("not a page")
    return root


def test_folder_of_pages(tmp_path: Path) -> None:
    root = site(tmp_path)
    units, docs, q = read([str(root)])
    assert docs.column("id").to_pylist() == ["blog/old.html.gz", "blog/post.htm", "index.html"]
    html = dict(zip(docs.column("id").to_pylist(), docs.column("html").to_pylist()))
    assert html["blog/old.html.gz"] == b"<html><body><p>Old</p></body></html>"  # decompressed
    assert html["blog/post.htm"] == "<html><body><p>caf\u00e9</p></body></html>".encode("cp1252")  # bytes untouched
    assert docs.column("text").null_count == 3 and docs.column("url").null_count == 3
    assert set(docs.column("source").to_pylist()) == {"html"}
    assert json.loads(docs.column("metadata")[2].as_py()) == {"file": "index.html", "bytes": 37}
    got = dict(zip(q.column("id").to_pylist(), q.column("reason").to_pylist()))
    assert got == {"empty.html": "empty_file", "broken.html.gz": "unreadable_file"}
    assert len(units) == 1 and isinstance(units[0], FileGroupUnit) and len(units[0].members) == 5


def test_url_map_jsonl_and_tsv(tmp_path: Path) -> None:
    root = site(tmp_path)
    jl = tmp_path / "urls.jsonl"
    jl.write_text(json.dumps({"file": "index.html", "url": "https://www.example.org/"}) + "\n"
                  + json.dumps({"file": "old.html", "url": "https://blog.example.org/old"}) + "\n")
    _, docs, _ = read([str(root)], options={"url_map": str(jl)})
    urls = dict(zip(docs.column("id").to_pylist(), docs.column("url").to_pylist()))
    domains = dict(zip(docs.column("id").to_pylist(), docs.column("domain").to_pylist()))
    assert urls == {"blog/old.html.gz": "https://blog.example.org/old", "blog/post.htm": None,
                    "index.html": "https://www.example.org/"}
    assert domains["index.html"] == "www.example.org"
    tsv = tmp_path / "urls.tsv"
    tsv.write_text("blog/post.htm\thttps://blog.example.org/post\n")
    _, docs, _ = read([str(root)], options={"url_map": str(tsv)})
    assert docs.column("url").to_pylist() == [None, "https://blog.example.org/post", None]


def test_grouping_and_limits(tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for i in range(10):
        (root / f"p{i:02d}.html").write_bytes(b"<html><body>" + b"x" * (100 * i) + b"</body></html>")
    units, docs, q = read([str(root)], options={"files_per_unit": 4})
    assert [len(u.members) for u in units] == [4, 4, 2]
    assert docs.num_rows == 10 and q is None
    again, _, _ = read([str(root)], options={"files_per_unit": 4})
    assert [u.fingerprint for u in again] == [u.fingerprint for u in units]
    _, docs, q = read([str(root / "*.html")], max_text_bytes=500)
    assert docs.num_rows == 5  # 26 + 100 * i bytes: i <= 4 fit
    assert q.column("reason").to_pylist() == ["html_too_large"] * 5
    assert "input.max_text_bytes=500" in q.column("detail")[0].as_py()


def test_read_bounded_reads_in_blocks_up_to_the_limit() -> None:
    import io

    from dataforge.readers.html import read_bounded

    data = bytes(range(256)) * 40  # 10,240 bytes
    assert read_bounded(io.BytesIO(data), 20_000, block=1000) == data
    assert read_bounded(io.BytesIO(data), 5001, block=1000) == data[:5001]
    assert read_bounded(io.BytesIO(b""), 10) == b""

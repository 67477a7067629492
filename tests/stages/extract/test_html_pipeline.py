"""The shipped web pipelines end to end: WARC and HTML folders to text, every record accounted for, on Ray too."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import PARAGRAPHS, REPO, needs_shared
from dataforge import spec as spec_mod
from dataforge.executor import LocalExecutor, RayExecutor
from dataforge.runner import make_plan, run

warcio = pytest.importorskip("warcio")
pytest.importorskip("trafilatura")
from warcio.statusandheaders import StatusAndHeaders  # noqa: E402
from warcio.warcwriter import WARCWriter  # noqa: E402


def article(i: int) -> bytes:
    """A page with real-looking main content and navigation around it."""
    paras = "".join(f"<p>{PARAGRAPHS[(i + k) % len(PARAGRAPHS)]} (story {i}, part {k})</p>" for k in range(3))
    return (f"<html lang='en'><head><title>Story {i}</title></head><body><nav><a href='/'>Home</a> | "
            f"<a href='/about'>About</a></nav><article>{paras}</article><footer>Contact us</footer></body></html>").encode()


def crawl(folder: Path, n: int) -> Path:
    """A gzip WARC with n articles, a PNG and an empty page served as HTML, and the usual requests."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "crawl-00000.warc.gz"
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        bodies = [article(i) for i in range(n)] + [b"\x89PNG\r\n\x1a\n" + bytes(100), b""]
        for i, body in enumerate(bodies):
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(f"https://news.example/{i}", "response", payload=io.BytesIO(body),
                                                http_headers=http))
            w.write_record(w.create_warc_record(f"https://news.example/{i}", "request",
                                                payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")))
    data = path.read_bytes()
    (folder / "crawl-00001-truncated.warc.gz").write_bytes(data[: len(data) // 2])
    return path


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}


def test_web_extract_pipeline_accounts_for_every_record(tmp_path: Path) -> None:
    crawl(tmp_path / "data", 12)
    spec = spec_mod.load(REPO / "pipelines" / "web-extract.yaml",
                         sets=[f"DATA={tmp_path / 'data'}", f"OUT={tmp_path / 'out'}", "input.split_bytes=8000"])
    res = run(make_plan(spec, tmp_path / "run"), LocalExecutor())
    s = res.summary
    assert s["totals"]["balanced"] and s["shards"] > 2
    read, extract = s["stages"]
    half = read["rows_out"] - 14  # 12 articles, a PNG and an empty page; the truncated copy holds the first articles
    assert read["quarantined"] == {"truncated_file": 1} and 4 <= half < 12
    assert extract["quarantined"] == {"empty_html": 1, "not_html": 1}
    assert extract["rows_out"] == 12 + half
    out = pq.read_table(sorted((tmp_path / "out" / "web-extract").glob("*.parquet")))
    assert {"title", "date", "html_lang"} <= set(out.column_names) and "html" not in out.column_names
    for url, text in zip(out.column("url").to_pylist(), out.column("text").to_pylist()):
        i = int(url.rsplit("/", 1)[1])
        assert f"(story {i}, part 2)" in text and PARAGRAPHS[(i + 1) % len(PARAGRAPHS)][:60] in text
        assert "Contact us" not in text


def test_web_pipeline_on_ray_is_deterministic(tmp_path: Path, ray_local) -> None:
    crawl(tmp_path / "data", 20)
    sets = [f"DATA={tmp_path / 'data'}", "input.split_bytes=6000"]
    digests = []
    for k, executor in enumerate((RayExecutor(), LocalExecutor())):
        spec = spec_mod.load(REPO / "pipelines" / "web-extract.yaml", sets=[*sets, f"OUT={tmp_path / f'out{k}'}"])
        res = run(make_plan(spec, tmp_path / f"run{k}"), executor)
        assert res.summary["totals"]["balanced"]
        digests.append(digest(tmp_path / f"out{k}" / "web-extract"))
    assert digests[0] == digests[1] and len(digests[0]) > 2


def test_html_folder_through_the_web_pipeline(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    for i in range(5):
        (pages / f"story{i}.html.gz").write_bytes(gzip.compress(article(i)))
    (pages / "zero.html").write_bytes(b"")
    spec = spec_mod.load(REPO / "pipelines" / "web-extract.yaml",
                         sets=[f"DATA={pages}", f"OUT={tmp_path / 'out'}", "input.format=html"])
    s = run(make_plan(spec, tmp_path / "run"), LocalExecutor()).summary
    assert s["totals"] == {"input": 6, "kept": 5, "created": 0, "dropped": 0, "quarantined": 1, "balanced": True}
    assert s["quarantined"] == {"read.empty_file": 1}


def test_shared_warcs_end_to_end(tmp_path: Path) -> None:
    folder = needs_shared("warc")
    spec = spec_mod.load(REPO / "pipelines" / "web-extract.yaml", sets=[f"DATA={folder}", f"OUT={tmp_path / 'out'}"])
    s = run(make_plan(spec, tmp_path / "run"), LocalExecutor()).summary
    assert s["totals"]["balanced"]
    assert s["stages"][0]["rows_out"] >= 37 + 8  # dolma's 37 HTML responses and warcio's intact ones
    assert s["stages"][1]["rows_out"] >= 37

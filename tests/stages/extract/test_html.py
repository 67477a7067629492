"""html_extract_v1: main content out of real-looking pages; bad pages dropped or quarantined with their reason."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pytest

from conftest import PARAGRAPHS, table
from dataforge.stages.extract.html import HtmlExtract, html_lang, sniff_binary

pytest.importorskip("trafilatura")
pytest.importorskip("resiliparse")

ARTICLE = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)


def boilerplate_page(title: str = "River farms", lang: str = "en") -> bytes:
    """A news-like page: navigation, sidebar and footer around one article."""
    nav = "".join(f"<li><a href='/{w}'>{w.title()}</a></li>" for w in ("home", "news", "sport", "weather", "contact"))
    side = "".join(f"<li><a href='/tag/{i}'>Related story number {i}</a></li>" for i in range(8))
    return (
        f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'><title>{title}</title>"
        "<meta property='article:published_time' content='2021-03-04'></head><body>"
        f"<header><nav><ul>{nav}</ul></nav></header>"
        f"<main><article><h1>{title}</h1>{ARTICLE}</article></main>"
        f"<aside><h3>More</h3><ul>{side}</ul></aside>"
        "<footer><p>Copyright 2021 Valley Gazette. All rights reserved.</p><a href='/privacy'>Privacy policy</a></footer>"
        "</body></html>"
    ).encode()


def batch(pages: list[bytes | None], **extra: list) -> pa.Table:
    """A core-schema batch with an ``html`` column and one extra column that must pass through."""
    t = table([{"id": f"p{i}", "source": "warc", "url": f"https://valley.example/{i}"} for i in range(len(pages))])
    t = t.append_column("html", pa.array(pages, pa.binary()))
    t = t.append_column("zz_extra", pa.array([f"x{i}" for i in range(len(pages))]))
    for name, values in extra.items():
        t = t.append_column(name, pa.array(values))
    return t


def reasons(res, attr: str) -> dict[str, str]:
    """id -> reason of the dropped or quarantined rows."""
    t = getattr(res, attr)
    return {} if t is None else dict(zip(t.column("id").to_pylist(), t.column("reason").to_pylist()))


@pytest.fixture(scope="module")
def trafilatura_stage():
    """One set-up stage (with its child process) shared by the module."""
    stage = HtmlExtract()
    stage.ensure_setup()
    yield stage
    stage._runner.close()


def test_main_content_without_boilerplate(trafilatura_stage) -> None:
    res = trafilatura_stage(batch([boilerplate_page()]))
    assert res.kept.column("id").to_pylist() == ["p0"]
    text = res.kept.column("text")[0].as_py()
    for p in PARAGRAPHS:
        assert p in text
    for junk in ("Copyright 2021", "Privacy policy", "Related story number", "Weather"):
        assert junk not in text
    row = res.kept.to_pylist()[0]
    assert row["title"] == "River farms" and row["date"] == "2021-03-04" and row["html_lang"] == "en"
    assert row["zz_extra"] == "x0" and row["url"] == "https://valley.example/0" and row["source"] == "warc"
    assert "html" not in res.kept.column_names


def test_same_text_as_trafilatura_alone(trafilatura_stage) -> None:
    import trafilatura

    with_table = boilerplate_page("Second", "de").replace(b"<aside>", b"<table><tr><td>Cell text</td></tr></table><aside>")
    pages = [boilerplate_page(), with_table]
    res = trafilatura_stage(batch(pages))
    expected = [trafilatura.extract(p, include_tables=True, include_comments=False) for p in pages]
    assert res.kept.column("text").to_pylist() == expected


def test_wrong_or_missing_charset(trafilatura_stage) -> None:
    words = "Le caf\u00e9 na\u00eff co\u00fbte 10 \u20ac \u2013 d\u00e9j\u00e0 vu, \u00e9t\u00e9 comme hiver. "
    body = f"<html><body><article><p>{words * 12}</p><p>{words * 8}</p></article></body></html>"
    no_meta = body.encode("cp1252")  # no charset anywhere, not UTF-8
    wrong_meta = body.replace("<html>", "<html><head><meta charset='utf-8'></head>").encode("cp1252")
    for stage in (trafilatura_stage, HtmlExtract(extractor="resiliparse", timeout_s=None)):
        res = stage(batch([no_meta, wrong_meta]))
        assert res.kept.num_rows == 2, stage.params
        for text in res.kept.column("text").to_pylist():
            assert "caf\u00e9" in text and "10 \u20ac" in text and "\ufffd" not in text


def test_bad_pages_are_quarantined_with_reasons(trafilatura_stage) -> None:
    garbage = bytes((i * 7919) % 256 for i in range(5000))
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    huge = b"<html><body>" + b"<p>filler words here</p>" * (50 * 1024 * 1024 // 24) + b"</body></html>"
    nothing = b"<html><head><title>Menu</title><script>var x = 1;</script></head><body><img src='a.png'></body></html>"
    pages = [boilerplate_page(), garbage, png, b"", None, huge, nothing]
    res = trafilatura_stage(batch(pages))
    assert res.kept.column("id").to_pylist() == ["p0"]
    assert reasons(res, "dropped") == {"p6": "no_main_content"}
    assert reasons(res, "quarantined") == {
        "p1": "not_html", "p2": "not_html", "p3": "empty_html", "p4": "missing_html", "p5": "html_too_large"}
    q = {r["id"]: r for r in res.quarantined.to_pylist()}
    assert "max_html_bytes=10485760" in q["p5"]["detail"] and "PNG" in q["p2"]["detail"]
    assert q["p5"]["stage"] == "html_extract_v1" and q["p5"]["source"] == "warc" and q["p5"]["raw"].startswith("<html>")
    assert "html" not in res.dropped.column_names and res.dropped.column("zz_extra").to_pylist() == ["x6"]


def test_a_page_over_the_time_limit_is_quarantined_and_the_next_one_extracts() -> None:
    slow = b"<html><body>" + b"".join(
        b"<div><p>Paragraph %d with some words in it, and more words to make it long enough.</p></div>" % i
        for i in range(30000)) + b"</body></html>"  # several seconds of trafilatura
    stage = HtmlExtract(timeout_s=0.5, metadata=False)
    try:
        res = stage(batch([slow, boilerplate_page()]))
    finally:
        if stage._runner is not None:
            stage._runner.close()
    assert reasons(res, "quarantined") == {"p0": "extraction_timeout"}
    assert "timeout_s=0.5" in res.quarantined.column("detail")[0].as_py()
    assert res.kept.column("id").to_pylist() == ["p1"]


def test_html_in_a_string_column_and_keep_html() -> None:
    raw = [boilerplate_page().decode(), "<html><body><script>var x = 1;</script></body></html>"]
    t = table([{"id": "j0", "text": None}, {"id": "j1", "text": None}]).append_column("raw_html", pa.array(raw))
    stage = HtmlExtract(html_field="raw_html", timeout_s=None, extractor="resiliparse")
    res = stage(t)
    assert res.kept.column("id").to_pylist() == ["j0"] and "raw_html" not in res.kept.column_names
    assert PARAGRAPHS[0] in res.kept.column("text")[0].as_py()
    assert reasons(res, "dropped") == {"j1": "no_main_content"}
    res = HtmlExtract(html_field="raw_html", timeout_s=None, extractor="resiliparse", keep_html=True)(t)
    assert res.kept.column("raw_html").to_pylist() == raw[:1]


def test_missing_column_empty_batch_and_pickling() -> None:
    stage = HtmlExtract(timeout_s=None)
    res = stage(table([{"id": "a", "text": "plain"}, {"id": "b", "text": "text"}]))
    assert reasons(res, "quarantined") == {"a": "missing_html", "b": "missing_html"}
    assert "params.html_field" in res.quarantined.column("detail")[0].as_py()
    empty = stage(batch([]))
    assert empty.kept.num_rows == 0
    assert {"title", "date", "html_lang", "zz_extra"} <= set(empty.kept.column_names) and "html" not in empty.kept.column_names
    clone = pickle.loads(pickle.dumps(stage))  # after setup too: the copy sets itself up again
    assert clone._fn is None and clone.config_hash() == stage.config_hash()


def test_resiliparse_mode_and_in_process_mode_agree_on_outcomes(trafilatura_stage) -> None:
    pages = [boilerplate_page(), b"<html><body></body></html>", bytes(300)]
    fast = HtmlExtract(extractor="resiliparse")(batch(pages))
    local = HtmlExtract(timeout_s=None)(batch(pages))
    isolated = trafilatura_stage(batch(pages))
    for res in (fast, local, isolated):
        assert res.kept.column("id").to_pylist() == ["p0"]
        assert reasons(res, "dropped") == {"p1": "no_main_content"} and reasons(res, "quarantined") == {"p2": "not_html"}
    assert local.kept.column("text").to_pylist() == isolated.kept.column("text").to_pylist()
    assert PARAGRAPHS[3] in fast.kept.column("text")[0].as_py()


def test_declared_language_and_binary_sniffing() -> None:
    pages = pa.array([
        b"<!doctype html><HTML class='x' lang=\"pt_BR\"><body>",
        b"<html xml:lang='zh-Hant-TW'>",
        b"<html><head><meta http-equiv=\"Content-Language\" content=\"de\"></head>",
        b"<html data-lang='fr'><body>",
        None,
    ], pa.binary())
    assert html_lang(pages).to_pylist() == ["pt-br", "zh-hant-tw", "de", None, None]
    assert sniff_binary(b"%PDF-1.7 ...") == "a PDF document"
    assert sniff_binary("<html>\u00e9t\u00e9</html>".encode("utf-16")) is None
    assert sniff_binary(b"<html>\x1b$B ISO-2022-JP text \x1b(B</html>") is None
    assert sniff_binary(bytes(range(32)) * 10).startswith("binary data")


def test_page_views_read_chunked_sliced_and_null_rows_without_copies() -> None:
    from dataforge.stages.extract.html import page_views

    first = pa.array([b"<html>a</html>", None, b""], pa.binary())
    second = pa.array([b"skip", b"<p>b</p>", None, b"<p>c</p>"], pa.binary()).slice(1)
    views = list(page_views(pa.chunked_array([first, second])))
    assert [None if v is None else bytes(v) for v in views] == [b"<html>a</html>", None, b"", b"<p>b</p>", None,
                                                                 b"<p>c</p>"]
    assert all(v is None or isinstance(v, memoryview) for v in views)


def test_multi_chunk_batch_extracts_like_a_single_chunk(trafilatura_stage) -> None:
    pages = [boilerplate_page("One"), b"<html><body></body></html>", boilerplate_page("Two", lang="de")]
    whole = batch(pages)
    chunked = pa.concat_tables([whole.slice(0, 1), whole.slice(1, 2)])
    assert chunked.column("html").num_chunks == 2
    a, b = trafilatura_stage(whole), trafilatura_stage(chunked)
    assert a.kept.to_pylist() == b.kept.to_pylist() and a.kept.column("id").to_pylist() == ["p0", "p2"]
    assert b.kept.column("html_lang").to_pylist() == ["en", "de"]
    assert reasons(b, "dropped") == {"p1": "no_main_content"}

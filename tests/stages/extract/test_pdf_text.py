"""The layout and cleanup rules of pdf_text on hand-made layouts (no PDF library needed)."""

from __future__ import annotations

from dataforge.stages.extract import pdf_text as pt


def block(x0: float, y0: float, x1: float, y1: float, *texts: str) -> pt.Block:
    """A block whose lines are spread evenly over its height."""
    h = (y1 - y0) / max(len(texts), 1)
    lines = [pt.Line(x0, y0 + i * h, x1, y0 + (i + 1) * h, t) for i, t in enumerate(texts)]
    return pt.Block(x0, y0, x1, y1, lines)


def texts(blocks: list[pt.Block]) -> list[str]:
    return [b.lines[0].text for b in blocks]


def test_two_columns_read_column_by_column_between_full_width_blocks() -> None:
    title = block(50, 50, 550, 70, "Title")
    l1, l2 = block(50, 100, 290, 200, "L1"), block(50, 210, 290, 300, "L2")
    r1, r2 = block(310, 100, 550, 200, "R1"), block(310, 210, 550, 300, "R2")
    wide = block(50, 320, 550, 360, "Figure")
    l3, r3 = block(50, 380, 290, 450, "L3"), block(310, 380, 550, 450, "R3")
    shuffled = [r2, wide, l1, r3, title, l3, r1, l2]
    assert texts(pt.reading_order(shuffled)) == ["Title", "L1", "L2", "R1", "R2", "Figure", "L3", "R3"]
    assert texts(pt.reading_order(shuffled, rtl=True)) == ["Title", "R1", "R2", "L1", "L2", "Figure", "R3", "L3"]


def test_single_column_is_top_to_bottom_and_rows_left_to_right() -> None:
    a, b = block(50, 100, 550, 150, "A"), block(50, 160, 550, 200, "B")
    cell1, cell2 = block(50, 220, 150, 232, "c1"), block(200, 221, 300, 233, "c2")
    assert texts(pt.reading_order([cell2, b, cell1, a])) == ["A", "B", "c1", "c2"]


def test_edge_keys_and_page_numbers() -> None:
    assert pt.edge_key("Page 12 of 40") == "page # of #"
    assert pt.edge_key("  xiv ") == "#"
    assert pt.edge_key("Chapter 3. Access Control 27") == "chapter #. access control #"
    for key in ("#", "page # of #", "- # -", "p. #", "#/#"):
        assert pt.is_page_number(pt.edge_key(key.replace("#", "7"))), key
    assert not pt.is_page_number(pt.edge_key("Table 7"))


def _page(header: str, body: str, footer: str) -> pt.PageLayout:
    page = pt.PageLayout(600, 800)
    page.blocks = [block(50, 30, 550, 42, header), block(50, 150, 550, 400, body), block(280, 760, 320, 772, footer)]
    return page


def test_running_lines_alternating_headers_and_numbers() -> None:
    pages = [_page("Journal of Things" if i % 2 else f"Smith et al. {i}", f"Body {i}", str(i)) for i in range(1, 9)]
    drop = pt.find_running_lines(pages)
    assert (0, 1, 0) not in drop  # bodies stay
    assert {(i, 0, 0) for i in range(8)} <= drop and {(i, 2, 0) for i in range(8)} <= drop
    pt.drop_lines(pages, drop)
    assert [texts(p.blocks) for p in pages] == [[f"Body {i}"] for i in range(1, 9)]


def test_running_lines_need_repetition_and_never_empty_a_document() -> None:
    once = [_page(f"Heading {c}", f"Body {c}", "") for c in "abcdef"]
    assert pt.find_running_lines(once) == set()
    same = [pt.PageLayout(600, 800, [block(50, 30, 550, 42, "Same line")]) for _ in range(3)]
    assert pt.find_running_lines(same) == set()
    single = [_page("Header", "Body", "1")]
    assert pt.find_running_lines(single) == set()


def test_join_hyphenated() -> None:
    known = {"well-known"}
    assert pt.join_hyphenated("the extrac-", "tion", known) == "the extraction"
    assert pt.join_hyphenated("a well-", "known fact", known) == "a well-known fact"
    assert pt.join_hyphenated("state-of-the-", "art", known) == "state-of-the-art"
    assert pt.join_hyphenated("Hewlett-", "Packard", known) == "Hewlett-Packard"
    assert pt.join_hyphenated("COVID-", "19", known) == "COVID-19"
    assert pt.join_hyphenated("soft\u00ad", "ware", known) == "software"


def test_block_text_reflow_lists_cjk_and_paragraph_ends() -> None:
    b = block(0, 0, 300, 60, "A wrapped line that goes", "on here.", "• first item", "• second item")
    assert pt.block_text(b, set()) == "A wrapped line that goes on here.\n• first item\n• second item"
    assert pt.block_text(b, set(), reflow=False) == "A wrapped line that goes\non here.\n• first item\n• second item"
    cjk = block(0, 0, 300, 30, "这是一个很长的中文句", "子的后半部分。")
    assert pt.block_text(cjk, set()) == "这是一个很长的中文句子的后半部分。"
    short = pt.Block(0, 0, 300, 30, [pt.Line(0, 0, 100, 15, "Short end."), pt.Line(0, 15, 300, 30, "New thought")])
    assert pt.block_text(short, set()) == "Short end.\nNew thought"


def test_compounds_and_joins_across_blocks() -> None:
    page = pt.PageLayout(600, 800, [block(0, 0, 300, 20, "a long-term plan")])
    known = pt.compounds([page])
    assert known == {"long-term"}
    assert pt.join_across_blocks("the extrac-\n\ntion goes", known) == "the extraction goes"
    assert pt.join_across_blocks("a long-\n\nterm plan", known) == "a long-\n\nterm plan"
    assert pt.join_across_blocks("Section A-\n\nB follows", known) == "Section A-\n\nB follows"


def test_clean_line_and_lam_alef_order() -> None:
    assert pt.clean_line(" ﬁne\u00a0\u00a0ﬂow\u200b\x07 ") == "fine flow"
    assert pt.clean_line("می\u200cخواهم") == "می\u200cخواهم"  # Persian's zero-width non-joiner stays
    assert pt.clean_line("نســـا") == "نسا"  # tatweel removed
    # MuPDF's visual-order expansion of the lam-alef ligature: zero-width alef before lam
    chars = [("\u0645", 10, 16), ("\u0627", 9, 9), ("\u0644", 4, 9), ("\u062a", 0, 4)]
    assert pt.chars_text(chars) == "\u0645\u0644\u0627\u062a"
    article = [("\u0627", 20, 23), ("\u0644", 17, 20), ("\u0628", 10, 17)]
    assert pt.chars_text(article) == "\u0627\u0644\u0628"  # a real alef + lam stays


def test_undecodable_and_rtl() -> None:
    assert pt.undecodable_fraction("\ufffd\ufffd\ufffdab") == 0.6
    assert pt.is_rtl([block(0, 0, 10, 10, "مرحبا بالعالم hello")])
    assert not pt.is_rtl([block(0, 0, 10, 10, "hello world")])


def test_finish() -> None:
    assert pt.finish("  a  \n\n\n\n b\u00ad c \n") == "a\n\nb c"

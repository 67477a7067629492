"""Turn positioned PDF text lines into clean pre-training text: reading order, running headers
and footers, page numbers, hyphenation, ligatures and whitespace.

Pure Python over small dataclasses, independent of the PDF library, so every rule is unit-tested
on hand-made layouts. Coordinates are PDF points with y growing downwards (as pymupdf gives them).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

#: Presentation-form ligatures (U+FB00–FB06) spelled out.
LIGATURES = str.maketrans({
    "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st",
})

_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
#: Control characters, zero-width space, word joiner, BOM, U+FFFD and the Arabic tatweel (U+0640, a
#: justification stroke). ZWNJ/ZWJ stay: Persian and Indic spelling needs them.
_DROP = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u0640\u200b\u2060\ufeff\ufffd]")
_ALEFS = "\u0627\u0623\u0625\u0622\u0671"
_LAM = "\u0644"
_CJK = re.compile(r"[\u2e80-\u2fdf\u3001-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_RTL = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
_LETTERS = re.compile(r"[^\W\d_]")
_LIST_ITEM = re.compile(r"^(?:[•●○◦▪■□►▸–—*·]|-\s|\(?\d{1,3}[.)]\s|\(?[a-zA-Z][.)]\s|\[\d{1,3}\]\s)")
_PARA_END = re.compile(r"[.!?:;。！？：；」』”\"')]$")
#: In-line compounds ("state-of-the-art", "well-known"), lowercased, to tell real hyphens from breaks.
_COMPOUND = re.compile(r"(?<![\w-])([^\W\d_]+(?:-[^\W\d_]+)+)(?![\w-])")
#: A word broken at a line end: left part (maybe itself hyphenated), the hyphen, the line break(s).
_BREAK_AT_END = re.compile(r"([\w\-\u2010]*\w)[-\u2010]$")
_CROSS_BLOCK = re.compile(r"([\w\-\u2010]*[^\W\d_])[-\u2010]\n\n(?=([^\W\d_]\w*))")
_ROMAN = re.compile(r"^(?=[ivxlcdm]+$)m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$")
_PAGE_NUMBER = re.compile(
    r"^(?:(?:page|pages|p\.|pg\.?|seite|página|pagina|стр\.?|страница)\s*)?[-–—(\[]?\s*#\s*[-–—)\]]?"
    r"(?:\s*(?:of|/|de|di|von|из|sur)\s*#)?$"
)


@dataclass
class Line:
    """One text line on a page: its box and its text (whitespace already normalised)."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str


@dataclass
class Block:
    """A text block (usually a paragraph) and its lines, in the order the PDF library gave them."""

    x0: float
    y0: float
    x1: float
    y1: float
    lines: list[Line] = field(default_factory=list)


@dataclass
class PageLayout:
    """A page's size and its text blocks in reading order."""

    width: float
    height: float
    blocks: list[Block] = field(default_factory=list)

    def has_text(self) -> bool:
        """Whether any line carries text."""
        return any(line.text for b in self.blocks for line in b.lines)


def clean_line(text: str) -> str:
    """Spell out ligatures, drop control and undecodable characters and tatweel, collapse spaces, trim."""
    text = _DROP.sub("", text.translate(LIGATURES))
    return _SPACES.sub(" ", text).strip()


def chars_text(chars: list[tuple[str, float, float]]) -> str:
    """A span's text from its characters (char, x0, x1), with lam-alef ligatures in logical order.

    MuPDF expands an Arabic lam-alef ligature glyph into alef + lam, visual order, the alef with a
    zero-width box; in logical order lam comes first ("المشكلات", not "المشكالت").
    """
    out = [c for c, _, _ in chars]
    i = 0
    while i < len(chars) - 1:
        c, x0, x1 = chars[i]
        if c in _ALEFS and chars[i + 1][0] == _LAM and abs(x1 - x0) < 1e-3:
            out[i], out[i + 1] = out[i + 1], out[i]
            i += 2
            continue
        i += 1
    return "".join(out)


def undecodable_fraction(text: str) -> float:
    """Share of U+FFFD (glyphs without a Unicode mapping) among non-space characters."""
    visible = len(text) - text.count(" ") - text.count("\n")
    return text.count("\ufffd") / visible if visible > 0 else 0.0


def is_rtl(blocks: list[Block]) -> bool:
    """Whether most letters on the page are in a right-to-left script (Arabic, Hebrew, Syriac, Thaana)."""
    text = "".join(line.text for b in blocks for line in b.lines)
    letters = len(_LETTERS.findall(text))
    return letters > 0 and len(_RTL.findall(text)) > letters / 2


# -- reading order --------------------------------------------------------------------------------

#: A block this share of the page's text width or wider spans columns.
SPAN = 0.55


def reading_order(blocks: list[Block], rtl: bool = False) -> list[Block]:
    """Order blocks as a reader would: bands between full-width blocks, columns within a band.

    Blocks at least ``SPAN`` of the text area wide (titles, single-column paragraphs) cut the
    page into horizontal bands. Narrower blocks in a band are grouped into columns by
    overlapping x-extent, columns read left to right (right to left for RTL pages), and each
    column top to bottom with blocks on one row side by side. Single-column pages come out
    top to bottom; two-column papers column by column.
    """
    if len(blocks) <= 1:
        return list(blocks)
    left = min(b.x0 for b in blocks)
    right = max(b.x1 for b in blocks)
    width = max(right - left, 1.0)
    spanning = sorted((b for b in blocks if (b.x1 - b.x0) >= SPAN * width), key=lambda b: (b.y0, b.x0))
    narrow = [b for b in blocks if (b.x1 - b.x0) < SPAN * width]
    out: list[Block] = []
    bounds = [-math.inf] + [b.y0 for b in spanning] + [math.inf]
    bands: list[list[Block]] = [[] for _ in range(len(bounds) - 1)]
    for b in narrow:
        mid = (b.y0 + b.y1) / 2
        for k in range(len(bands)):
            if bounds[k] <= mid < bounds[k + 1]:
                bands[k].append(b)
                break
    for k, band in enumerate(bands):
        if k > 0:
            out.append(spanning[k - 1])
        for column in _columns(band, rtl):
            out.extend(_rows(column, rtl))
    return out


def _columns(blocks: list[Block], rtl: bool) -> list[list[Block]]:
    """Group blocks whose x-extents overlap into columns, ordered by x (reversed for RTL)."""
    if not blocks:
        return []
    ordered = sorted(blocks, key=lambda b: b.x0)
    cols: list[list[Block]] = [[ordered[0]]]
    end = ordered[0].x1
    for b in ordered[1:]:
        tol = 0.1 * min(b.x1 - b.x0, end - cols[-1][0].x0)
        if b.x0 < end - tol:
            cols[-1].append(b)
            end = max(end, b.x1)
        else:
            cols.append([b])
            end = b.x1
    return cols[::-1] if rtl else cols


def _rows(blocks: list[Block], rtl: bool) -> list[Block]:
    """Top to bottom; blocks that share a row (overlap vertically by half) go left to right."""
    ordered = sorted(blocks, key=lambda b: (b.y0, b.x0))
    out: list[Block] = []
    row: list[Block] = []
    row_y0 = row_y1 = 0.0
    for b in ordered:
        if row:
            overlap = min(row_y1, b.y1) - b.y0
            if overlap >= 0.5 * max(min(b.y1 - b.y0, row_y1 - row_y0), 1e-6):
                row.append(b)
                row_y1 = max(row_y1, b.y1)
                continue
            out.extend(sorted(row, key=lambda r: -r.x1 if rtl else r.x0))
        row, row_y0, row_y1 = [b], b.y0, b.y1
    out.extend(sorted(row, key=lambda r: -r.x1 if rtl else r.x0))
    return out


# -- running headers, footers and page numbers -----------------------------------------------------


def edge_key(text: str) -> str:
    """How a header/footer line is compared across pages: lowercase, numbers (also roman) as '#'."""
    words = []
    for w in re.sub(r"\d+", "#", text.lower()).split():
        words.append("#" if _ROMAN.match(w) else w)
    return re.sub(r"#(?:[.,:]?#)+", "#", " ".join(words))


def is_page_number(key: str) -> bool:
    """Whether a normalised edge line is only a page number ('#', 'page # of #', '- # -')."""
    return bool(_PAGE_NUMBER.match(key))


def edge_lines(page: PageLayout, count: int = 3, band: float = 0.15) -> list[tuple[int, int]]:
    """(block, line) indices of up to ``count`` lines at the top and at the bottom of a page.

    Only blocks lying wholly inside the top or bottom ``band`` of the page height qualify, so
    the first line of a body paragraph that merely starts high on the page is never a candidate.
    """
    h = page.height
    top = [(line.y0, bi, li) for bi, b in enumerate(page.blocks) if b.y1 <= band * h
           for li, line in enumerate(b.lines) if line.text]
    bottom = [(-line.y1, bi, li) for bi, b in enumerate(page.blocks) if b.y0 >= (1 - band) * h
              for li, line in enumerate(b.lines) if line.text]
    picked = [(bi, li) for _, bi, li in sorted(top)[:count]] + [(bi, li) for _, bi, li in sorted(bottom)[:count]]
    return list(dict.fromkeys(picked))


def find_running_lines(pages: list[PageLayout], min_pages: int | None = None) -> set[tuple[int, int, int]]:
    """(page, block, line) of headers, footers and page numbers that repeat across pages.

    A line near the top or bottom edge whose normalised text (numbers as '#') recurs at an edge
    of at least ``min_pages`` pages (default: 2 for documents of up to 5 pages with text, else 3)
    is a running header or footer; a page-number line only needs to recur on 2 pages. A
    one-page document is left alone, and so is one whose every line would go.
    """
    with_text = [i for i, p in enumerate(pages) if p.has_text()]
    if len(with_text) < 2:
        return set()
    need = min_pages if min_pages is not None else (2 if len(with_text) <= 5 else 3)
    where: dict[str, set[int]] = defaultdict(set)
    candidates: list[tuple[int, int, int, str]] = []
    for pi in with_text:
        page = pages[pi]
        for bi, li in edge_lines(page):
            text = page.blocks[bi].lines[li].text
            if len(text) > 160:
                continue
            key = edge_key(text)
            if not key:
                continue
            where[key].add(pi)
            candidates.append((pi, bi, li, key))
    out = set()
    for pi, bi, li, key in candidates:
        n = len(where[key])
        if n >= need or (n >= 2 and is_page_number(key)):
            out.add((pi, bi, li))
    total = sum(1 for p in pages for b in p.blocks for line in b.lines if line.text)
    if len(out) >= total:
        return set()  # the document is nothing but repeated edge lines: keep them rather than empty it
    return out


def drop_lines(pages: list[PageLayout], drop: set[tuple[int, int, int]]) -> None:
    """Remove the given (page, block, line) lines in place; blocks left empty go too."""
    if not drop:
        return
    for pi, page in enumerate(pages):
        kept_blocks = []
        for bi, b in enumerate(page.blocks):
            b.lines = [line for li, line in enumerate(b.lines) if (pi, bi, li) not in drop]
            if b.lines:
                kept_blocks.append(b)
        page.blocks = kept_blocks


# -- hyphenation and line joining ------------------------------------------------------------------


def compounds(pages: list[PageLayout]) -> set[str]:
    """Hyphenated words written within a line anywhere in the document ('well-known'), lowercased."""
    found: set[str] = set()
    for page in pages:
        for b in page.blocks:
            for line in b.lines:
                if "-" in line.text:
                    found.update(m.lower() for m in _COMPOUND.findall(line.text))
    return found


def join_hyphenated(left: str, right: str, known: set[str]) -> str:
    """Join ``left`` (ending in a hyphen) and ``right`` across a line break.

    The hyphen is dropped for a soft break ("extrac-" + "tion" -> "extraction") and kept for a
    real one: when the hyphenated form occurs elsewhere in the document ("well-known"), when the
    left part is already a compound ("state-of-the-" + "art"), or when the right part does not
    start with a lowercase letter ("Hewlett-" + "Packard", "COVID-" + "19").
    """
    if left.endswith("\u00ad"):
        return left[:-1] + right
    m = _BREAK_AT_END.search(left[-120:])  # the tail holds the broken word; searching it all is quadratic
    head = m.group(1) if m else ""
    word = re.match(r"\w+", right)
    tail = word.group(0) if word else ""
    last = re.split(r"[-\u2010]", head)[-1]
    soft = bool(tail) and tail[0].islower() and bool(last) and last[-1].isalpha() and "-" not in head \
        and "\u2010" not in head and f"{last}-{tail}".lower() not in known
    return (left[:-1] + right) if soft else (left + right)


def _ends_with_break(text: str) -> bool:
    """Whether a line ends in a soft hyphen, or in a hyphen right after a word character."""
    if len(text) < 2 or text[-1] not in "-\u2010\u00ad":
        return False
    return text[-1] == "\u00ad" or text[-2].isalnum() or text[-2] == "_"


def block_text(block: Block, known: set[str], reflow: bool = True) -> str:
    """A block's lines as text: hyphenated breaks joined, wrapped lines reflowed into a paragraph.

    With ``reflow`` a line break becomes a space (nothing between CJK characters) unless the
    next line starts a list item or the previous line ends a short, punctuated line (a
    paragraph end inside the block); without it line breaks are kept.
    """
    lines = [line for line in block.lines if line.text]
    if not lines:
        return ""
    width = max(block.x1 - block.x0, 1.0)
    out = lines[0].text
    for prev, line in zip(lines, lines[1:]):
        nxt = line.text
        if _ends_with_break(out) and nxt[:1].isalnum():
            out = join_hyphenated(out, nxt, known)
            continue
        short_end = (block.x1 - prev.x1) > 0.15 * width and bool(_PARA_END.search(prev.text))
        if reflow and not _LIST_ITEM.match(nxt) and not short_end:
            sep = "" if _CJK.match(out[-1]) and _CJK.match(nxt[0]) else " "
            out += sep + nxt
        else:
            out += "\n" + nxt
    return out


def page_text(page: PageLayout, known: set[str], reflow: bool = True) -> str:
    """A page's blocks as paragraphs separated by blank lines."""
    parts = [block_text(b, known, reflow) for b in page.blocks]
    return "\n\n".join(p for p in parts if p)


def join_across_blocks(text: str, known: set[str]) -> str:
    """Rejoin words hyphenated across a block, column or page break ("extrac-\\n\\ntion")."""

    def repl(m: re.Match[str]) -> str:
        """The joined word for a soft break, the match unchanged for a real hyphen."""
        head, tail = m.group(1), m.group(2)
        last = re.split(r"[-\u2010]", head)[-1]
        if tail[0].islower() and "-" not in head and f"{last}-{tail}".lower() not in known:
            return head
        return m.group(0)

    return _CROSS_BLOCK.sub(repl, text)


def finish(text: str) -> str:
    """Final whitespace normalisation: trimmed lines, at most one blank line in a row."""
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.replace("\u00ad", "").strip()

"""Per-page main-content extractors (trafilatura, resiliparse): raw HTML bytes in, text, title and date out.

Each extractor is built once per worker by ``make_extractor(config)`` and then called per page,
in-process or inside the isolated child of ``dataforge.stages.extract.isolated``. Both take the
raw bytes and detect the charset themselves: trafilatura through its own ``decode_file``
(decoding the bytes beforehand cost it 0.003 F1 on the shared evaluation pages), resiliparse
through uchardet and the page's ``<meta charset>``.
"""

from __future__ import annotations

import functools
import logging
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

#: text, title, date (ISO ``YYYY-MM-DD``); any may be None.
Extracted = Tuple[Optional[str], Optional[str], Optional[str]]

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class ExtractorConfig:
    """What the ``html_extract_v1`` parameters ask of an extractor."""

    extractor: str = "trafilatura"
    favor: str = "balanced"
    fallbacks: bool = True
    include_tables: bool = True
    include_comments: bool = False
    metadata: bool = True
    max_html_bytes: int = 10 * 1024 * 1024


def make_extractor(config: ExtractorConfig | dict[str, Any]) -> Callable[[bytes], Extracted]:
    """Build the per-page function for ``config.extractor`` (a dict of the same fields works too)."""
    if isinstance(config, dict):
        config = ExtractorConfig(**config)
    if config.extractor == "trafilatura":
        return _trafilatura(config)
    if config.extractor == "resiliparse":
        return _resiliparse(config)
    raise ValueError(f"unknown extractor {config.extractor!r}; use trafilatura or resiliparse")


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Decompress a gzip-compressed page (stored compressed by some crawlers), refusing more than ``limit`` bytes."""
    d = zlib.decompressobj(31)
    out = d.decompress(data, limit + 1)
    if len(out) > limit:
        raise ValueError(f"the gzip-compressed page expands to more than {limit} bytes")
    return out


def _trafilatura(config: ExtractorConfig) -> Callable[[bytes], Extracted]:
    """trafilatura's main-content extraction, identical to ``trafilatura.extract(raw_bytes, ...)``.

    The page is parsed once with trafilatura's own ``load_html`` (charset detection included);
    extraction runs on trafilatura's copy of that tree, and title (trafilatura's rules) and date
    (htmldate, fast search) are read from the parsed tree, which costs far less than
    ``with_metadata=True`` (author, categories, site name, licence).
    """
    from trafilatura.core import bare_extraction, determine_returnstring
    from trafilatura.settings import Extractor
    from trafilatura.utils import load_html

    # trafilatura logs a warning for every page without main content; the stage counts those instead
    for name in ("trafilatura", "htmldate", "courlan", "justext"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    extract_title = find_date = None
    if config.metadata:
        from htmldate import find_date
        from trafilatura.metadata import extract_title

    def run(html: bytes) -> Extracted:
        options = Extractor(
            output_format="txt",
            fast=not config.fallbacks,
            precision=config.favor == "precision",
            recall=config.favor == "recall",
            comments=config.include_comments,
            tables=config.include_tables,
        )
        tree = load_html(html, options.max_file_size)
        if tree is None:
            return None, None, None
        document = bare_extraction(tree, options=options)  # works on a copy of the tree
        text = determine_returnstring(document, options) if document is not None else None
        title = date = None
        if config.metadata:
            try:
                title = extract_title(tree)
            except Exception:  # noqa: BLE001 - metadata is a hint; a failure leaves it null
                title = None
            try:
                date = find_date(tree, extensive_search=False)
            except Exception:  # noqa: BLE001
                date = None
        return text, title, date

    return run


def _resiliparse(config: ExtractorConfig) -> Callable[[bytes], Extracted]:
    """resiliparse's main-content heuristics: about an order of magnitude faster than trafilatura, less precise.

    The charset comes from the page's ``<meta charset>`` when it has one, else from uchardet;
    bytes that do not decode fall back to UTF-8 and then cp1252. ``favor`` and ``fallbacks`` do
    not apply; tables are skipped when ``include_tables`` is off; no date is extracted.
    """
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import detect_encoding
    from resiliparse.parse.html import HTMLTree

    skip = None if config.include_tables else ["table"]

    def run(html: bytes) -> Extracted:
        if html[:2] == GZIP_MAGIC:
            html = gunzip_bounded(html, config.max_html_bytes)
        encoding = detect_encoding(html, from_html_meta=True)
        tree = HTMLTree.parse_from_bytes(html, encoding)
        text = extract_plain_text(
            tree, preserve_formatting=True, main_content=True, alt_texts=False,
            comments=config.include_comments, skip_elements=skip,
        )
        title = (tree.title or None) if config.metadata else None
        return text, title, None

    return run


@functools.lru_cache(maxsize=None)
def _versions(extractor: str) -> tuple[tuple[str, str], ...]:
    """Installed versions of an extractor's libraries, looked up once per process (manifests ask per shard)."""
    from importlib.metadata import PackageNotFoundError, version

    names = ["trafilatura", "htmldate", "lxml"] if extractor == "trafilatura" else ["resiliparse"]
    out = []
    for n in names:
        try:
            out.append((n, version(n)))
        except PackageNotFoundError:
            pass
    return tuple(out)


def versions(extractor: str) -> dict[str, str]:
    """Versions of the libraries an extractor's output depends on."""
    return dict(_versions(extractor))


__all__ = ["ExtractorConfig", "Extracted", "gunzip_bounded", "make_extractor", "versions"]

"""URL blocklists and banned-word lists given as files by the user.

After datatrove's ``URLFilter`` (the lists RefinedWeb and FineWeb used) and C4's bad-words
rule (Raffel et al. 2020). Lists are plain text files, one entry per line; blank lines and lines
starting with ``#`` are ignored.

- ``domains_file``: a document whose URL host *is or is under* a listed domain is dropped
  (``url_blocklisted``): ``example.com`` blocks ``example.com``, ``www.example.com`` and
  ``a.b.example.com``. datatrove matches the registered domain (public-suffix list) or the full
  host only, so an entry that is itself a subdomain (``b.example.com``) blocks only that host
  there, but its subdomains here too.
- ``urls_file``: exact URLs (``url_blocklisted``), compared without scheme, case-insensitively,
  without a trailing ``/`` (the UT1 lists datatrove ships give URLs without scheme, which
  datatrove compares with the full URL and so never matches).
- ``banned_words_file``: a URL containing a listed word (the URL is cut at every
  non-alphanumeric character) is dropped (``banned_words``); ``soft_banned_words_file``: at
  least ``soft_word_threshold`` distinct listed words; ``banned_subwords_file``: a listed string
  anywhere in the URL reduced to its lower-case letters and digits. Words are compared in lower
  case (datatrove lower-cases the list but not the URL).
- ``text_banned_words_file``: C4's rule on the text itself (``banned_words``): a listed word or
  phrase in the lower-cased text, flanked by non-word characters, or anywhere for languages
  written without spaces (as C4 does for Chinese, Japanese and Thai).

Domain lists can be large (UT1: 4.5 million entries): they are held as a sorted array of 64-bit
hashes, so memory stays small and lookups are vectorised.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field

from .signals import LanguageParams, SignalAnnotator, ThresholdFilter

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


class BlocklistSignalParams(LanguageParams):
    """The list files (any may be null) and the URL column."""

    domains_file: str | None = Field(None, description="blocked domains, one per line (subdomains are blocked too)")
    urls_file: str | None = Field(None, description="blocked URLs, one per line")
    banned_words_file: str | None = Field(None, description="words that must not appear in the URL")
    soft_banned_words_file: str | None = Field(None, description="words of which soft_word_threshold in a URL drop it")
    banned_subwords_file: str | None = Field(None, description="strings that must not appear in the bare URL")
    text_banned_words_file: str | None = Field(None, description="words or phrases that must not appear in the text")
    url_column: str = Field("url", description="the column holding the document URL")


def read_list(path: str, stage: str, what: str) -> list[str]:
    """Entries of a list file: stripped, without blank lines and ``#`` comments."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"stage {stage!r}: {what} {str(p)!r} does not exist; set params.{what} to the path "
                                "of a text file with one entry per line")
    entries = []
    with p.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            s = line.strip()
            if s and not s.startswith("#"):
                entries.append(s)
    return entries


def _h(s: str) -> int:
    """64-bit hash of a list entry."""
    return xxhash.xxh3_64_intdigest(s.encode("utf-8"))


def _host(url: str) -> str:
    """The lower-case host of a URL (scheme optional), without port, credentials or final dot."""
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".")


def _re2_literal(s: str) -> str:
    """``s`` as an RE2 pattern matching it literally."""
    return "".join(c if c.isalnum() else f"\\x{{{ord(c):x}}}" for c in s)


def _bare_url(url: str) -> str:
    """A URL without scheme and trailing slash, lower-cased, for exact-URL lists."""
    u = url.strip().lower()
    u = re.sub(r"^[a-z][a-z0-9+.-]*://", "", u)
    return u.rstrip("/")


class BlocklistSignals(SignalAnnotator):
    """Annotate which URL-blocklist and banned-word entries each document hits (lists are user files).

    Columns: ``blocklist_domain`` (the listed domain the URL host is or is under),
    ``blocklist_url`` (the listed URL), ``blocklist_url_word`` (a banned word or subword of the
    URL), ``blocklist_soft_words`` (distinct soft-banned words in the URL), and
    ``blocklist_text_word`` (a banned word in the text); null / 0 where nothing matched or no
    list was given.
    """

    name = "blocklist_signals_v1"
    Params = BlocklistSignalParams
    stateful = True  # read the (possibly large) lists once per actor

    def columns(self) -> dict[str, pa.DataType]:
        """The five signal columns."""
        s = pa.string()
        return {"blocklist_domain": s, "blocklist_url": s, "blocklist_url_word": s,
                "blocklist_soft_words": pa.int64(), "blocklist_text_word": s}

    def setup(self) -> None:
        """Read the list files."""
        p: BlocklistSignalParams = self.params  # type: ignore[assignment]
        name = self.owner or self.name
        self._domains = np.zeros(0, np.uint64)
        if p.domains_file:
            doms = {d.lower().lstrip("*.").rstrip(".") for d in read_list(p.domains_file, name, "domains_file")}
            self._domains = np.unique(np.fromiter((_h(d) for d in doms if d), dtype=np.uint64))
        self._urls = {_bare_url(u) for u in read_list(p.urls_file, name, "urls_file")} if p.urls_file else set()
        norm = lambda words: {w for w in (_NON_ALNUM.sub("", x.lower()) for x in words) if w}  # noqa: E731
        self._words = norm(read_list(p.banned_words_file, name, "banned_words_file")) \
            if p.banned_words_file else set()
        self._soft = norm(read_list(p.soft_banned_words_file, name, "soft_banned_words_file")) \
            if p.soft_banned_words_file else set()
        subwords = norm(read_list(p.banned_subwords_file, name, "banned_subwords_file")) \
            if p.banned_subwords_file else set()
        self._subwords = re.compile("|".join(re.escape(w) for w in sorted(subwords, key=lambda w: (-len(w), w)))) \
            if subwords else None
        self._text_words: list[str] = []
        if p.text_banned_words_file:
            words = {w.lower() for w in read_list(p.text_banned_words_file, name, "text_banned_words_file")}
            self._text_words = sorted(words, key=lambda w: (-len(w), w))

    def compute(self, batch: pa.Table) -> dict[str, object]:
        """URL checks per row (set and hash lookups), text words with one RE2 search over the batch."""
        if not hasattr(self, "_domains"):
            self.setup()
        p: BlocklistSignalParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        urls = batch.column(p.url_column).to_pylist() if p.url_column in batch.column_names else [None] * n
        out: dict[str, list[object]] = {"blocklist_domain": [None] * n, "blocklist_url": [None] * n,
                                        "blocklist_url_word": [None] * n, "blocklist_soft_words": [0] * n}
        if len(self._domains):
            cand_row, cand = [], []
            for i, u in enumerate(urls):
                host = _host(u) if u else ""
                labels = host.split(".") if host else []
                for k in range(len(labels)):
                    cand_row.append(i)
                    cand.append(".".join(labels[k:]))
            if cand:
                hashes = np.fromiter((_h(c) for c in cand), dtype=np.uint64, count=len(cand))
                idx = np.searchsorted(self._domains, hashes).clip(max=len(self._domains) - 1)
                for j in np.flatnonzero(self._domains[idx] == hashes).tolist():
                    i = cand_row[j]
                    if out["blocklist_domain"][i] is None:  # the longest (most specific) match first
                        out["blocklist_domain"][i] = cand[j]
        for i, u in enumerate(urls):
            if not u:
                continue
            if self._urls:
                bare = _bare_url(u)
                if bare in self._urls:
                    out["blocklist_url"][i] = bare
            if self._words or self._soft:
                words = set(_NON_ALNUM.split(u.lower()))
                hit = next((w for w in sorted(words & self._words)), None) if self._words else None
                if hit is not None:
                    out["blocklist_url_word"][i] = hit
                out["blocklist_soft_words"][i] = len(words & self._soft)
            if self._subwords is not None and out["blocklist_url_word"][i] is None:
                m = self._subwords.search(_NON_ALNUM.sub("", u.lower()))
                if m:
                    out["blocklist_url_word"][i] = m.group()
        cols: dict[str, object] = dict(out)
        cols["blocklist_text_word"] = self._text_hits(batch)
        return cols

    def _text_hits(self, batch: pa.Table) -> pa.Array:
        """The first banned word found in each text (C4's bad-words rule), or null."""
        n = batch.num_rows
        if not self._text_words:
            return pa.nulls(n, pa.string())
        lower = pc.utf8_lower(self.text(batch))
        alt = "|".join(_re2_literal(w) for w in self._text_words)
        bounded = pc.extract_regex(lower, f"(?:^|[^\\pL\\pN_])(?P<w>{alt})(?:[^\\pL\\pN_]|$)")
        hits = pc.struct_field(bounded, "w")
        unseg = self.unsegmented(batch)
        if unseg is not None:
            anywhere = pc.struct_field(pc.extract_regex(lower, f"(?P<w>{alt})"), "w")
            hits = pc.if_else(pa.array(unseg), anywhere, hits)
        return hits


class BlocklistFilterParams(BlocklistSignalParams):
    """The lists and the soft-word threshold (datatrove's default: 2)."""

    soft_word_threshold: int = Field(2, ge=1, description="soft-banned words in a URL that drop it")
    recompute: bool = Field(False, description="recompute the signals even if their columns are present")


class BlocklistFilter(ThresholdFilter):
    """Drop documents whose URL is blocklisted or that contain banned words, from user-given list files.

    Reasons: ``url_blocklisted`` (listed domain or URL) and ``banned_words`` (a banned word or
    subword in the URL, ``soft_word_threshold`` soft-banned words, or a banned word in the text);
    the detail names the entry. With no list given, nothing is dropped. Uses the
    ``blocklist_signals_v1`` columns when present.
    """

    name = "blocklist_filter_v1"
    Params = BlocklistFilterParams
    Signals = BlocklistSignals
    stateful = True  # read the (possibly large) lists once per actor

    def reasons(self, batch: pa.Table) -> tuple[pa.Array, list[str | None]]:
        """Domain, URL, URL word, soft words, text word: the first hit names the reason."""
        n = batch.num_rows
        if n == 0:
            return pa.nulls(0, pa.string()), []
        p: BlocklistFilterParams = self.params  # type: ignore[assignment]
        dom = batch.column("blocklist_domain").to_pylist()
        url = batch.column("blocklist_url").to_pylist()
        word = batch.column("blocklist_url_word").to_pylist()
        soft = batch.column("blocklist_soft_words").to_pylist()
        text = batch.column("blocklist_text_word").to_pylist()
        reasons: list[str | None] = [None] * n
        details: list[str | None] = [None] * n
        for i in range(n):
            if dom[i] is not None:
                reasons[i], details[i] = "url_blocklisted", f"domain {dom[i]}"
            elif url[i] is not None:
                reasons[i], details[i] = "url_blocklisted", f"url {url[i]}"
            elif word[i] is not None:
                reasons[i], details[i] = "banned_words", f"url word {word[i]!r}"
            elif (soft[i] or 0) >= p.soft_word_threshold:
                reasons[i], details[i] = "banned_words", f"{soft[i]} soft-banned url words"
            elif text[i] is not None:
                reasons[i], details[i] = "banned_words", f"text word {text[i]!r}"
        return pa.array(reasons, pa.string()), details

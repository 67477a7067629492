"""Language-aware word splitting for the heuristic quality rules.

The published rule suites were tuned on word counts, and the reference implementation
(datatrove) counts words with spaCy's English tokenizer (``spacy.blank("en")``): text is cut
at whitespace, then punctuation prefixes and suffixes, infixes (hyphens between letters,
``...``), contractions (``don't`` -> ``do`` ``n't``) and URLs are handled by spaCy's rules. So
that a threshold means the same thing here, :class:`WordSplitter` replays those rules (exported
from spaCy into ``spacy_en_tokenizer.json`` by ``benchmarks/quality_rules/export_spacy_rules.py``)
with the standard ``re`` module and a cache of chunk tokenizations; it needs no spaCy.

Languages written without spaces (Chinese, Japanese, Thai, Lao, Khmer, Burmese by default) get
character segmentation: every character of those scripts (and CJK punctuation) is a word of
its own, the rest of the text is split as above. Each rule family documents what it does with
such text.

Two deliberate differences from spaCy: a whitespace-free chunk longer than
``LONG_CHUNK`` characters (minified code, base64, a 20 MB line) is split linearly into runs of
non-punctuation and single punctuation marks instead of by spaCy's affix loop, which is
quadratic on such input; and spaCy's final phrase-matcher pass over special cases that span
several affix tokens is not replayed (it changes no word on the benchmark corpus).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

RULES_FILE = Path(__file__).with_name("spacy_en_tokenizer.json")

#: Chunks (whitespace-free runs) longer than this are split linearly, not by spaCy's affix loop.
LONG_CHUNK = 2_000
#: The chunk cache is cleared when it holds this many entries (bounded memory per worker).
CACHE_LIMIT = 200_000

#: Languages whose script separates words without spaces: their text is segmented by character.
UNSEGMENTED_LANGUAGES: tuple[str, ...] = ("zh", "ja", "th", "lo", "km", "my", "yue", "wuu", "cmn", "bo")

#: Characters that form a word on their own in unsegmented languages: CJK ideographs and
#: radicals, kana, bopomofo, Thai, Lao, Khmer, Myanmar, Tibetan, CJK and full-width punctuation.
_NOSPACE_CHARS = (
    "\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff\u19e0-\u19ff\u2e80-\u2fdf\u3000-\u30ff"
    "\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff01-\uff9f"
    "\U00020000-\U0003134f"
)
_NOSPACE_SPLIT = re.compile(f"([{_NOSPACE_CHARS}])")
_HAS_NOSPACE = re.compile(f"[{_NOSPACE_CHARS}]")


def normalize_language(code: str | None) -> str | None:
    """Lower-case a language code and keep its primary subtag (``zh-Hans`` -> ``zh``, ``cmn_Hani`` -> ``cmn``)."""
    if not code:
        return None
    return re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0] or None


def is_unsegmented(language: str | None, languages: Iterable[str] = UNSEGMENTED_LANGUAGES) -> bool:
    """Whether a document in ``language`` is written without spaces between words."""
    lang = normalize_language(language)
    return lang is not None and lang in set(languages)


class WordSplitter:
    """Split text into words the way datatrove's English tokenizer (spaCy) does, without spaCy.

    ``split(text)`` returns the non-whitespace tokens in order; ``split(text, unsegmented=True)``
    additionally makes every CJK/Thai-script character a token. Tokenizations of chunks are
    cached (spaCy does the same), so common words cost one dictionary lookup.
    """

    def __init__(self, rules_file: Path = RULES_FILE) -> None:
        """Load and compile the exported spaCy rules."""
        data = json.loads(rules_file.read_text(encoding="utf-8"))
        self.source: str = data["source"]
        self._prefix: Callable[[str], re.Match[str] | None] = re.compile(data["prefix"]).search
        self._suffix: Callable[[str], re.Match[str] | None] = re.compile(data["suffix"]).search
        self._infix = re.compile(data["infix"]).finditer
        self._url: Callable[[str], re.Match[str] | None] = re.compile(data["url"]).match
        self.specials: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in data["special_cases"].items()}
        self.sentence_punct: frozenset[str] = frozenset(data["sentence_punct_chars"])
        self._cache: dict[str, tuple[str, ...]] = dict(self.specials)
        # a linear fallback for very long chunks: ellipses, single punctuation/symbols, other runs
        self._long = re.compile(r"\.\.+|…|[^\w\s]|[\w]+").findall
        self._sentence_summary: dict[str, tuple[bool, int, bool, int, bool]] = {}
        self._build_matcher()

    # -- spaCy's algorithm -----------------------------------------------------------------
    def _affix_tokens(self, chunk: str, with_specials: bool) -> list[str]:
        """spaCy's ``_split_affixes`` + ``_attach_tokens`` on one whitespace-free chunk."""
        specials = self.specials if with_specials else {}
        prefixes: list[str] = []
        suffixes: list[str] = []
        string = chunk
        last_size = 0
        while string and len(string) != last_size:
            if string in specials:
                break
            last_size = len(string)
            m = self._prefix(string)
            pre_len = (m.end() - m.start()) if m is not None else 0
            prefix = minus_pre = ""
            if pre_len:
                prefix = string[:pre_len]
                minus_pre = string[pre_len:]
                if minus_pre and minus_pre in specials:
                    string = minus_pre
                    prefixes.append(prefix)
                    break
            m = self._suffix(string[pre_len:])
            suf_len = (m.end() - m.start()) if m is not None else 0
            suffix = minus_suf = ""
            if suf_len:
                suffix = string[-suf_len:]
                minus_suf = string[:-suf_len]
                if minus_suf and minus_suf in specials:
                    string = minus_suf
                    suffixes.append(suffix)
                    break
            if pre_len and suf_len and (pre_len + suf_len) <= len(string):
                string = string[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre_len:
                string = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                string = minus_suf
                suffixes.append(suffix)
        tokens = prefixes
        if string:
            if string in specials:
                tokens.extend(specials[string])
            elif self._url(string):
                tokens.append(string)
            else:
                start = 0
                for match in self._infix(string):
                    a, b = match.start(), match.end()
                    if a == 0:
                        continue
                    if a != start:
                        tokens.append(string[start:a])
                    if a != b:
                        tokens.append(string[a:b])
                    start = b
                if string[start:]:
                    tokens.append(string[start:])
        tokens.extend(reversed(suffixes))
        return tokens

    def _build_matcher(self) -> None:
        """spaCy's special-case phrase matcher: affix tokenizations of specials that contain affixes."""
        self._patterns: dict[tuple[str, ...], str] = {}
        for string in self.specials:
            if any(ch.isspace() for ch in string):
                continue  # whitespace specials never occur inside a chunk
            has_affix = (self._prefix(string) is not None or self._suffix(string) is not None
                         or next(self._infix(string), None) is not None)
            if has_affix:
                self._patterns[tuple(self._affix_tokens(string, with_specials=False))] = string
        self._pattern_lengths = sorted({len(k) for k in self._patterns})
        self._pattern_heads = frozenset(k[0] for k in self._patterns)

    def _apply_special_matches(self, tokens: list[str]) -> list[str]:
        """spaCy's ``_apply_special_cases``: merge token runs that spell a special case."""
        heads, patterns = self._pattern_heads, self._patterns
        matches = []
        for i, tok in enumerate(tokens):
            if tok in heads:
                for n in self._pattern_lengths:
                    if i + n <= len(tokens) and tuple(tokens[i:i + n]) in patterns:
                        matches.append((i, i + n))
        if not matches:
            return tokens
        # longest first, then leftmost; a span whose first or last token is taken is skipped
        matches.sort(key=lambda m: (m[1] - m[0], -m[0]))
        seen: set[int] = set()
        kept = []
        for a, b in reversed(matches):
            if a not in seen and (b - 1) not in seen:
                kept.append((a, b))
            seen.update(range(a, b))
        kept.sort()
        out: list[str] = []
        pos = 0
        for a, b in kept:
            out.extend(tokens[pos:a])
            out.extend(self.specials["".join(tokens[a:b])])
            pos = b
        out.extend(tokens[pos:])
        return out

    def _simple_affixes(self, chunk: str) -> list[str] | None:
        """The common shapes ``(word``, ``word,``, ``"word"``, ``word.`` without running the affix regexes.

        Only one punctuation mark on either side of a run of letters (or ASCII digits), with
        marks that spaCy always splits off there; anything else returns None (the full rules).
        """
        pre = chunk[0] if chunk[0] in _SIMPLE_PREFIX else ""
        last = chunk[-1]
        core = chunk[len(pre):]
        suf = ""
        if len(core) > 1 and (last in _SIMPLE_SUFFIX or last == "."):
            suf = last
            core = core[:-1]
        if not (pre or suf) or not core or not (core.isalpha() or (core.isdigit() and core.isascii())):
            return None
        if suf == "." and not (core.isascii() and (core[-1].islower() or core[-1].isdigit())):
            return None  # spaCy splits a final period after a lower-case letter or a digit
        specials = self.specials
        if (pre and chunk[1:] in specials) or (suf and chunk[:-1] in specials):
            return None
        tokens = [pre] if pre else []
        tokens.extend(specials.get(core, (core,)))
        if suf:
            tokens.append(suf)
        return tokens

    def tokenize_chunk(self, chunk: str) -> tuple[str, ...]:
        """Tokenize one whitespace-free chunk with spaCy's rules (linearly when it is very long); uncached."""
        if not chunk:
            return ()
        if len(chunk) > LONG_CHUNK:
            return tuple(self._long(chunk))
        if chunk in self.specials:
            return self.specials[chunk]
        if chunk.isalpha() or chunk.isdigit():
            # no prefix, suffix, infix or URL rule can match letters alone or digits alone
            return (chunk,)
        tokens = self._simple_affixes(chunk)
        if tokens is None:
            tokens = self._affix_tokens(chunk, with_specials=True)
        if len(tokens) > 1:
            tokens = self._apply_special_matches(tokens)
        return tuple(tokens)

    def chunk(self, chunk: str) -> tuple[str, ...]:
        """Tokens of one whitespace-free chunk (cached)."""
        toks = self._cache.get(chunk)
        if toks is None:
            toks = self.tokenize_chunk(chunk)
            if len(self._cache) >= CACHE_LIMIT:
                self._cache = dict(self.specials)
            self._cache[chunk] = toks
        return toks

    def chunks(self, text: str, unsegmented: bool = False) -> list[str]:
        """Whitespace-free chunks of ``text``; with ``unsegmented``, CJK/Thai characters are chunks of their own."""
        parts = text.split()
        if unsegmented and _HAS_NOSPACE.search(text):
            out: list[str] = []
            for p in parts:
                if _HAS_NOSPACE.search(p):
                    out.extend(s for s in _NOSPACE_SPLIT.split(p) if s)
                else:
                    out.append(p)
            return out
        return parts

    def split(self, text: str, unsegmented: bool = False) -> list[str]:
        """The words of ``text`` in order (spaCy-compatible tokens, whitespace dropped)."""
        get = self._cache.get
        out: list[str] = []
        for c in self.chunks(text, unsegmented):
            toks = get(c)
            if toks is None:
                toks = self.chunk(c)
            out.extend(toks)
        return out

    # -- sentences -------------------------------------------------------------------------
    def count_sentences(self, text: str, unsegmented: bool = False) -> int:
        """Number of sentences spaCy's rule-based ``sentencizer`` finds in ``text`` (0 for no tokens).

        A sentence ends after a token in the sentencizer's punctuation set; the next token
        that is neither such a mark nor all-punctuation starts a new one. Whitespace other
        than a single space between tokens is itself a (non-punctuation) token in spaCy, so it
        counts here too. Each chunk's effect on that two-state scan is cached.
        """
        n = 0
        period = False
        started = False
        summary = self._sentence_summary
        for piece in _WS_SPLIT(text):
            if not piece:
                continue
            if piece[0].isspace():
                # spaCy attaches one plain space to the preceding token; the rest is a token
                if started and piece[0] == " ":
                    piece = piece[1:]
                if not piece:
                    continue
                if not started:
                    n, started = 1, True
                elif period:
                    n, period = n + 1, False
                continue
            for c in (self.chunks(piece, unsegmented) if unsegmented else (piece,)):
                s = summary.get(c)
                if s is None:
                    s = self._summarize(c)
                if not s[0]:
                    continue
                if not started:
                    n, started = 1, True
                if period:
                    n, period = n + s[3], s[4]
                else:
                    n, period = n + s[1], s[2]
        return n

    def _summarize(self, chunk: str) -> tuple[bool, int, bool, int, bool]:
        """The sentencizer scan over one chunk's tokens: (has tokens, new sentences and final state
        when entered after no period, the same when entered after a period)."""
        punct = self.sentence_punct
        toks = self.chunk(chunk)
        out: list[object] = [bool(toks)]
        for state in (False, True):
            inc = 0
            for tok in toks:
                in_punct = tok in punct
                if state and not in_punct and not _is_punct(tok):
                    inc += 1
                    state = False
                elif in_punct:
                    state = True
            out += [inc, state]
        if len(self._sentence_summary) >= CACHE_LIMIT:
            self._sentence_summary.clear()
        result = (bool(out[0]), int(out[1]), bool(out[2]), int(out[3]), bool(out[4]))  # type: ignore[call-overload]
        self._sentence_summary[chunk] = result
        return result


_WS_SPLIT = re.compile(r"(\s+)").split
#: Marks spaCy's English rules always split off the start / end of a word (checked in the tests).
_SIMPLE_PREFIX = frozenset("(\"“„«»‘[")
_SIMPLE_SUFFIX = frozenset(",:;?!)\"”“»]")
@lru_cache(maxsize=65536)
def _is_punct(token: str) -> bool:
    """spaCy's ``is_punct``: every character is in a Unicode punctuation (P*) category."""
    import unicodedata

    return all(unicodedata.category(ch).startswith("P") for ch in token)


@lru_cache(maxsize=1)
def default_splitter() -> WordSplitter:
    """The process-wide splitter (rules compiled once per worker)."""
    return WordSplitter()

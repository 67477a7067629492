"""Export spaCy's English tokenizer rules to ``stages/quality/spacy_en_tokenizer.json``.

datatrove's heuristic filters split English words with ``spacy.blank("en")``; dataforge mirrors
that splitting without depending on spaCy by replaying the same rules (prefix, suffix and
infix patterns, the URL pattern, the special cases and the sentencizer's punctuation) in
``dataforge.stages.quality.words``. This script regenerates the data file from an installed
spaCy; run it in the benchmark venv when upgrading the reference:

``.bench/datatrove-venv/bin/python benchmarks/quality_rules/export_spacy_rules.py``

spaCy is MIT-licensed (Copyright (C) 2016-2024 ExplosionAI GmbH, 2016 spaCy GmbH, 2015 Matthew Honnibal).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    """Write the rules JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "stages" / "quality" / "spacy_en_tokenizer.json")
    args = ap.parse_args()
    import spacy
    from spacy.attrs import ORTH
    from spacy.pipeline import Sentencizer

    nlp = spacy.blank("en")
    tok = nlp.tokenizer
    rules = {}
    for string, substrings in sorted(tok.rules.items()):
        rules[string] = [s.get(ORTH, s.get("ORTH")) for s in substrings]
        assert "".join(rules[string]) == string, string
    data = {
        "source": f"spaCy {spacy.__version__} spacy.blank('en') tokenizer (MIT License, ExplosionAI GmbH)",
        "prefix": tok.prefix_search.__self__.pattern,
        "suffix": tok.suffix_search.__self__.pattern,
        "infix": tok.infix_finditer.__self__.pattern,
        "url": tok.url_match.__self__.pattern,
        "token_match": None if tok.token_match is None else tok.token_match.__self__.pattern,
        "faster_heuristics": tok.faster_heuristics,
        "special_cases": rules,
        "sentence_punct_chars": sorted(Sentencizer.default_punct_chars),
    }
    args.out.write_text(json.dumps(data, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(rules)} special cases")


if __name__ == "__main__":
    main()

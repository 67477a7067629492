"""Convert tiktoken BPE ranks into a Hugging Face ``tokenizer.json`` (byte-level BPE, Qwen2 layout).

    python -m dataforge.stages.tokenize.convert OUT/tokenizer.json [--ranks qwen.tiktoken]

Each rank becomes a vocabulary entry (bytes mapped to GPT-2's printable byte alphabet) and
every split of a token into two lower-ranked tokens a merge, ordered by the merged token's
rank, as transformers' TikTokenConverter does. The pre-tokenizer is Qwen's split pattern
followed by ByteLevel, the normaliser NFC and the control tokens are added tokens, as in
Qwen's published tokenizer.json. Runs offline.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


def tokenizer_json(ranks: dict[bytes, int], pattern: str, special_tokens: dict[str, int]) -> dict[str, Any]:
    """The tokenizer.json document for byte-level BPE ranks, a split pattern and control tokens."""
    table = bytes_to_unicode()

    def text(token: bytes) -> str:
        return "".join(table[b] for b in token)

    vocab = {text(tok): rank for tok, rank in ranks.items()}
    merges: list[tuple[int, int, int, str]] = []
    for tok, rank in ranks.items():
        if len(tok) < 2:
            continue
        for i in range(1, len(tok)):
            left, right = tok[:i], tok[i:]
            rl, rr = ranks.get(left), ranks.get(right)
            if rl is not None and rr is not None and rl < rank and rr < rank:
                merges.append((rank, rl, rr, f"{text(left)} {text(right)}"))
    merges.sort()
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": name, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for name, i in sorted(special_tokens.items(), key=lambda kv: kv[1])
        ],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
                byte_level,
            ],
        },
        "post_processor": dict(byte_level),
        "decoder": dict(byte_level),
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
            "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": vocab, "merges": [m[3] for m in merges],
        },
    }


def write_qwen_tokenizer_json(out: Path, ranks_path: str | None = None) -> Path:
    """Write Qwen's tokenizer.json (from dashscope's ranks, or a given .tiktoken file) to ``out``."""
    from dataforge.stages.tokenize.vocab import QWEN_PATTERN, QWEN_SPECIAL_TOKENS, load_ranks

    ranks = load_ranks(ranks_path)
    doc = tokenizer_json(ranks, QWEN_PATTERN, {k: v for k, v in QWEN_SPECIAL_TOKENS.items() if v >= len(ranks)})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return out


def main() -> None:
    """Command line: write Qwen's tokenizer.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--ranks", default=None, help="a .tiktoken ranks file (default: the one in dashscope)")
    args = ap.parse_args()
    print(write_qwen_tokenizer_json(args.out, args.ranks))


if __name__ == "__main__":
    main()

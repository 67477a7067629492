"""The Qwen byte-level BPE vocabulary: ranks shipped in the ``dashscope`` package, pattern and control tokens.

Qwen1.5, Qwen2, Qwen2.5 and Qwen3 share the 151,643 ranks; the control tokens follow them
(Qwen2.5 up to ``<|file_sep|>`` 151664, Qwen3 adds 151665-151668). Nothing here downloads:
the ranks are read from the installed ``dashscope`` wheel (without importing it) and checked
by sha256.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

#: Qwen's pre-tokenizer pattern (applied after NFC normalisation).
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
#: Number of byte-level BPE ranks (ids 0 .. 151642).
QWEN_NUM_RANKS = 151_643
#: sha256 of ``dashscope/resources/qwen.tiktoken`` (dashscope 1.x-2.x).
QWEN_RANKS_SHA256 = "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"
#: Control tokens after the ranks: Qwen2.5's (151643-151664) and Qwen3's additions (151665-151668).
QWEN_SPECIAL_TOKENS: dict[str, int] = {
    name: 151_643 + i
    for i, name in enumerate([
        "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
        "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
        "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>",
        "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
        "<tool_response>", "</tool_response>", "<think>", "</think>",
    ])
}
EOS_TOKEN = "<|endoftext|>"


def qwen_ranks_path() -> Path:
    """Where the installed ``dashscope`` package keeps ``resources/qwen.tiktoken`` (dashscope is not imported)."""
    spec = importlib.util.find_spec("dashscope")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the Qwen BPE ranks ship in the 'dashscope' package, which is not installed: "
            "pip install 'dataforge[tokenize]' (or give qwen_tokenize_v1 a local tokenizer_json)"
        )
    for base in spec.submodule_search_locations:
        path = Path(base) / "resources" / "qwen.tiktoken"
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"dashscope is installed at {list(spec.submodule_search_locations)} but has no resources/qwen.tiktoken; "
        "install a dashscope release that ships it (>= 1.20) or give a local tokenizer_json"
    )


@lru_cache(maxsize=2)
def load_ranks(path: str | None = None, check_sha256: bool = True) -> dict[bytes, int]:
    """The mergeable ranks (token bytes -> id) from a ``.tiktoken`` file (default: dashscope's), sha256-checked."""
    file = Path(path) if path else qwen_ranks_path()
    raw = file.read_bytes()
    if check_sha256 and path is None and hashlib.sha256(raw).hexdigest() != QWEN_RANKS_SHA256:
        raise ValueError(
            f"{file} has sha256 {hashlib.sha256(raw).hexdigest()}, not the Qwen ranks' {QWEN_RANKS_SHA256}; "
            "reinstall dashscope or pass the path of a verified qwen.tiktoken"
        )
    ranks: dict[bytes, int] = {}
    for lineno, line in enumerate(raw.splitlines(), 1):
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        except ValueError as exc:
            raise ValueError(f"{file}:{lineno} is not '<base64 token> <rank>': {line[:60]!r}") from exc
    return ranks


def qwen_encoding(path: str | None = None):  # noqa: ANN201 - tiktoken is an optional dependency
    """A ``tiktoken.Encoding`` for Qwen built offline from the ranks, with the control tokens registered."""
    import tiktoken

    ranks = load_ranks(path)
    specials = {k: v for k, v in QWEN_SPECIAL_TOKENS.items() if v >= len(ranks)}
    return tiktoken.Encoding("qwen", pat_str=QWEN_PATTERN, mergeable_ranks=ranks, special_tokens=specials)

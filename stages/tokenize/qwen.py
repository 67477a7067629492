"""Tokenize documents with Qwen's byte-level BPE (tiktoken, offline) or a local Hugging Face tokenizer.json."""

from __future__ import annotations

import json
import unicodedata
from array import array
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from dataforge.stage import Annotator, Resources, StageError, StageParams
from dataforge.stages.tokenize.vocab import EOS_TOKEN, QWEN_RANKS_SHA256, qwen_encoding

_U32 = next(code for code in "IL" if array(code).itemsize == 4)  # array typecode of uint32
#: Where a long document may be cut without changing its ids (Qwen-style patterns): after a
#: letter and before a character that is neither a letter, a digit nor a line break.
_SAFE_CUT = r"(?<=\p{L})[^\r\n\p{L}\p{N}]"


class QwenTokenizeParams(StageParams):
    """Tokenizer source, end-of-document token and memory bound."""

    tokenizer_json: str | None = Field(
        None, description="local path of a Hugging Face tokenizer.json to use instead of Qwen's ranks (tokenizers)")
    ranks_path: str | None = Field(
        None, description="local .tiktoken ranks file; default: dashscope/resources/qwen.tiktoken (sha256-checked)")
    append_eos: bool = Field(True, description="end every document with the end-of-text token")
    eos_token: str = Field(EOS_TOKEN, description="the end-of-text token's text (Qwen: <|endoftext|>, id 151643)")
    normalize: Literal["auto", "NFC", "none"] = Field(
        "auto", description="auto: NFC for Qwen's ranks (as Qwen does), the tokenizer.json's own normaliser otherwise")
    max_chars_per_call: int = Field(
        1_000_000, ge=1_000, description="longer documents are encoded in pieces cut where ids cannot change")
    num_threads: int = Field(
        1, ge=1, description="encoder threads per worker (tiktoken; tokenizers uses its own pool, RAYON_NUM_THREADS)")

    @model_validator(mode="after")
    def _one_source(self) -> "QwenTokenizeParams":
        if self.tokenizer_json and self.ranks_path:
            raise ValueError("give tokenizer_json or ranks_path, not both")
        return self


class QwenTokenize(Annotator):
    """Add ``tokens`` (list<uint32> of Qwen token ids) and ``n_tokens`` to every document.

    Qwen1.5/2/2.5/3 byte-level BPE: the 151,643 ranks shipped in the ``dashscope`` package,
    loaded offline through tiktoken with Qwen's pre-tokenizer pattern, after NFC
    normalisation; each document ends with ``<|endoftext|>`` (151643). Text is always encoded
    as ordinary text: a document containing ``<|im_start|>`` or ``<think>`` gets the ids of
    those characters, never the control tokens. With ``tokenizer_json`` any local Hugging Face
    tokenizer is used instead (through ``tokenizers``), its added tokens likewise never matched
    in text. Documents longer than ``max_chars_per_call`` are encoded in pieces cut after a
    letter and before a non-letter, non-digit, non-newline character, which leaves Qwen's ids
    unchanged; a stretch with no such place is cut hard at the limit. Null text counts as empty.
    """

    name = "qwen_tokenize_v1"
    Params = QwenTokenizeParams
    batch_size = 1024
    stateful = True  # the vocabulary loads once per actor
    resources = Resources(cpus=1.0)

    def setup(self) -> None:
        """Load the tokenizer (tiktoken from the Qwen ranks, or tokenizers from a tokenizer.json)."""
        p: QwenTokenizeParams = self.params  # type: ignore[assignment]
        import regex

        self._cut = regex.compile(_SAFE_CUT)
        if p.tokenizer_json:
            self._setup_hf(Path(p.tokenizer_json))
        else:
            self._enc = qwen_encoding(p.ranks_path)
            self._hf = None
            eos = self._enc._special_tokens.get(p.eos_token)
            if eos is None:
                raise StageError(f"{self.name}: eos_token {p.eos_token!r} is not a Qwen control token; "
                                 f"use one of {sorted(self._enc._special_tokens)}")
            self._eos = int(eos)
            self._nfc = p.normalize != "none"

    def _setup_hf(self, path: Path) -> None:
        """Load a tokenizer.json with its added tokens removed, so that their text is never matched."""
        p: QwenTokenizeParams = self.params  # type: ignore[assignment]
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise StageError(f"{self.name}: tokenizer_json needs the 'tokenizers' package: pip install tokenizers") from exc
        if not path.is_file():
            raise StageError(f"{self.name}: tokenizer_json {str(path)!r} does not exist; give a local tokenizer.json path")
        doc = json.loads(path.read_text(encoding="utf-8"))
        added = {t["content"]: int(t["id"]) for t in doc.get("added_tokens", [])}
        vocab = doc.get("model", {}).get("vocab", {})
        eos = added.get(p.eos_token, vocab.get(p.eos_token) if isinstance(vocab, dict) else None)
        if eos is None and p.append_eos:
            raise StageError(f"{self.name}: {path} has no token {p.eos_token!r}; set eos_token to its end-of-text "
                             f"token (added tokens: {sorted(added)[:8]}) or append_eos: false")
        doc["added_tokens"] = []
        self._hf = Tokenizer.from_str(json.dumps(doc))
        self._enc = None
        self._eos = int(eos) if eos is not None else -1
        self._nfc = p.normalize == "NFC"

    def versions(self) -> dict[str, str]:
        """The vocabulary used, for run manifests."""
        p: QwenTokenizeParams = self.params  # type: ignore[assignment]
        if p.tokenizer_json:
            import hashlib

            return {"tokenizer_json_sha256": hashlib.sha256(Path(p.tokenizer_json).read_bytes()).hexdigest()}
        return {"qwen_ranks_sha256": QWEN_RANKS_SHA256 if p.ranks_path is None else "custom:" + p.ranks_path}

    # -- encoding ------------------------------------------------------------------------------
    def _pieces(self, text: str) -> list[str]:
        """Cut a long text into pieces of at most max_chars_per_call, at places where ids cannot change."""
        limit = self.params.max_chars_per_call  # type: ignore[attr-defined]
        pieces, start, n = [], 0, len(text)
        while n - start > limit:
            hi = start + limit
            m = self._cut.search(text, start + limit // 2, hi)
            cut = m.start() if m else hi
            pieces.append(text[start:cut])
            start = cut
        pieces.append(text[start:])
        return pieces

    def _encode_all(self, texts: list[str]) -> list[list[int]]:
        """Token ids of every text, ordinary text only (no control tokens)."""
        threads = self.params.num_threads  # type: ignore[attr-defined]
        if self._hf is not None:
            if threads > 1:
                return [e.ids for e in self._hf.encode_batch(texts, add_special_tokens=False)]
            encode = self._hf.encode
            return [encode(t, add_special_tokens=False).ids for t in texts]
        if threads > 1:
            return self._enc.encode_ordinary_batch(texts, num_threads=threads)
        encode = self._enc.encode_ordinary
        return [encode(t) for t in texts]

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids per document (normalised, long ones in pieces), without the end-of-text token."""
        self.ensure_setup()
        if self._nfc:
            norm = unicodedata.normalize
            texts = [t if t.isascii() else norm("NFC", t) for t in texts]
        limit = self.params.max_chars_per_call  # type: ignore[attr-defined]
        long = [i for i, t in enumerate(texts) if len(t) > limit]
        if not long:
            return self._encode_all(texts)
        flat, owner = [], []
        for i, t in enumerate(texts):
            parts = self._pieces(t) if len(t) > limit else [t]
            flat.extend(parts)
            owner.extend([i] * len(parts))
        out: list[list[int]] = [[] for _ in texts]
        for i, ids in zip(owner, self._encode_all(flat)):
            out[i].extend(ids)
        return out

    def annotate(self, batch: pa.Table) -> pa.Table:
        """Add ``tokens`` (list<uint32>) and ``n_tokens`` (int32)."""
        p: QwenTokenizeParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        text = batch.column("text") if "text" in batch.column_names else pa.nulls(n, pa.string())
        texts = pc.fill_null(text, "").to_pylist() if n else []
        ids = self.encode(texts) if n else []
        counts = np.fromiter(map(len, ids), dtype=np.int64, count=n)
        if p.append_eos:
            counts += 1
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        total = int(offsets[-1])
        if total >= 2**31:
            raise StageError(f"{self.name}: one batch holds {total} tokens, over list<uint32>'s 2^31 limit; "
                             "lower batch_size for this stage")
        flat = array(_U32)  # C-speed conversion of the id lists (faster than numpy.fromiter)
        for doc_ids in ids:
            flat.extend(doc_ids)
            if p.append_eos:
                flat.append(self._eos)
        values = np.frombuffer(flat, dtype=np.uint32) if total else np.zeros(0, dtype=np.uint32)
        tokens = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values, pa.uint32()))
        cols: dict[str, Any] = {"tokens": tokens, "n_tokens": pa.array(counts.astype(np.int32), pa.int32())}
        for name, col in cols.items():
            if name in batch.column_names:
                batch = batch.set_column(batch.column_names.index(name), name, col)
            else:
                batch = batch.append_column(name, col)
        return batch


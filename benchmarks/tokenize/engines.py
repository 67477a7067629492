"""One Qwen tokenizer backend over a JSONL corpus, timed in its own process (run by bench.py).

    python engines.py ENGINE CORPUS.jsonl --docs N --vocab-dir DIR [--repeat R]

Engines: ``tiktoken`` (a plain ``encode_ordinary`` loop over the NFC-normalised texts: the
fastest id-exact backend, no engine around it), ``dataforge`` (``qwen_tokenize_v1.annotate``
over Arrow batches of 1,024 documents: NFC, encoding, list<uint32> columns, end-of-text),
``tokenizers`` (Hugging Face ``tokenizers`` with the tokenizer.json converted from the same
ranks, added tokens removed, one document at a time) and ``bpe-qwen`` (its Rust
``QwenTokenizer.encode`` one document at a time, vocab.json + merges.txt from the same ranks).
Every engine gets the same NFC-normalised text except ``dataforge``, which normalises itself.
Prints one JSON line: documents, MB, best-of-R wall and CPU seconds (texts in memory, set-up
excluded) and a per-document fingerprint of the ids (end-of-text excluded) for id-exactness.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import importlib.util
import json
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any, Callable

#: The 46 Qwen2 reference cases (copied as facts into the test fixtures).
CASES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "tokenize" / "qwen2_reference_cases.json"


def load(path: Path, docs: int) -> list[str]:
    """The first ``docs`` texts of a JSONL corpus, NFC-normalised."""
    texts = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            texts.append(unicodedata.normalize("NFC", json.loads(line)["text"]))
            if len(texts) >= docs:
                break
    return texts


def fingerprint(ids: list[int]) -> str:
    """A short digest of one document's ids."""
    return hashlib.blake2b(",".join(map(str, ids)).encode(), digest_size=8).hexdigest()


def engine(name: str, vocab_dir: Path | None) -> tuple[Callable[[list[str]], Any], Callable[[Any], Any]]:
    """Set up a backend: (prepare, run); prepare builds its input from texts (not timed), run encodes (timed)."""
    same = lambda texts: texts  # noqa: E731
    if name == "tiktoken":
        from dataforge.stages.tokenize.vocab import qwen_encoding

        encode = qwen_encoding().encode_ordinary
        return same, lambda texts: [encode(t) for t in texts]
    if name == "dataforge":
        import pyarrow as pa

        from dataforge.stages.tokenize.qwen import QwenTokenize

        stage = QwenTokenize()
        stage.ensure_setup()

        def prepare(texts: list[str]) -> list[pa.Table]:
            table = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
            return [table.slice(i, 1024) for i in range(0, len(texts), 1024)]

        return prepare, lambda batches: [stage.annotate(b) for b in batches]
    if name == "tokenizers":
        from tokenizers import Tokenizer

        doc = json.loads((vocab_dir / "tokenizer.json").read_text(encoding="utf-8"))
        doc["added_tokens"] = []
        tok = Tokenizer.from_str(json.dumps(doc))
        return same, lambda texts: [tok.encode(t, add_special_tokens=False).ids for t in texts]
    if name == "bpe-qwen":
        # load the compiled module alone: the package's __init__ imports transformers and huggingface_hub
        so = glob.glob(str(Path(sys.prefix) / "lib" / "python3*" / "site-packages" / "bpe_qwen" / "bpe_qwen*.so"))[0]
        spec = importlib.util.spec_from_file_location("bpe_qwen", so)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        tok = mod.QwenTokenizer(str(vocab_dir))
        return same, lambda texts: [tok.encode(t) for t in texts]
    raise SystemExit(f"unknown engine {name!r}")


def _ids(name: str, out: Any) -> list[list[int]]:
    """Token ids per document from a backend's output (Arrow batches for dataforge, end-of-text dropped)."""
    if name == "dataforge":
        return [x[:-1] for batch in out for x in batch.column("tokens").to_pylist()]
    return out


def main() -> None:
    """Run one backend and print its timing and fingerprints as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("engine")
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--vocab-dir", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    texts = load(args.corpus, args.docs)
    prepare, run = engine(args.engine, args.vocab_dir)
    run(prepare(texts[:16]))  # warm up
    data = prepare(texts)
    best_wall = best_cpu = float("inf")
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = run(data)
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    ids = _ids(args.engine, out)
    cases = json.loads(CASES.read_text(encoding="utf-8"))["cases"]
    got = _ids(args.engine, run(prepare([unicodedata.normalize("NFC", c["text"]) for c in cases])))
    exact = sum(g == c["expected_ids"] for g, c in zip(got, cases))
    print(json.dumps({"engine": args.engine, "docs": len(texts), "mb": sum(len(t.encode()) for t in texts) / 1e6,
                      "tokens": sum(map(len, ids)), "wall_s": best_wall, "cpu_s": best_cpu,
                      "reference_cases": f"{exact}/{len(cases)}",
                      "fingerprints": [fingerprint(x) for x in ids]}))


if __name__ == "__main__":
    main()

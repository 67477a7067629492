"""One MinHash signature engine over a JSONL corpus, timed in its own process (run by bench.py).

    python engines.py ENGINE CORPUS.jsonl [--docs N] [--num-perm 112] [--pairs-stride 1061]

Engines: ``dataforge`` (minhash_v1, xxh3 shingle hash), ``dataforge-sha1`` (minhash_v1, sha1),
``datasketch`` (``MinHash.update_batch`` per document, its default sha1_hash32 hash),
``rensa`` (``RMinHash.update`` per document), ``datatrove`` (``MinhashDedupSignature``'s
``get_shingles`` + ``get_signature`` per document: its default xxhash-64 shingle hash, English
spaCy word tokenizer, no file writing). datasketch and rensa are fed the same plain-Python
shingling (:func:`py_shingles`: NFKC, lowercase, non-word runs to one space, word 5-grams
joined by spaces), as users write it. All use 112 permutations and seed 1.

This file imports only the engine's own library, so it runs in each engine's venv. It prints
one JSON line: documents, UTF-8 MB, wall and CPU seconds of the signature computation (texts
in memory; imports, set-up and loading excluded) and, for accuracy, the mean and maximum
absolute error of the engine's Jaccard estimate (share of equal signature values) against
the exact Jaccard of the engine's own shingle sets, over the pairs (i, i + stride): document
i and its perturbed copy in the benchmark corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import types
import unicodedata
from pathlib import Path
from typing import Any, Callable

_NON_WORD = re.compile(r"[\W_]+")


def py_shingles(text: str, n: int = 5) -> list[str]:
    """Plain-Python word n-gram shingles: NFKC, lowercase, non-word runs folded, words joined by spaces."""
    words = _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).lower()).split()
    if len(words) < n:
        return [" ".join(words)] if words else []
    return [" ".join(words[i: i + n]) for i in range(len(words) - n + 1)]


def load(path: Path, docs: int) -> list[str]:
    """The first ``docs`` texts of a JSONL corpus."""
    texts = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            texts.append(json.loads(line)["text"])
            if len(texts) >= docs:
                break
    return texts


Result = tuple[float, float, list[Any], Callable[[int], set]]


def run_dataforge(texts: list[str], num_perm: int, hash_name: str, batch: int) -> Result:
    """minhash_v1 over Arrow batches of ``batch`` documents."""
    import pyarrow as pa

    from dataforge.stages.dedup.minhash import MinHashSignatures
    from dataforge.text.shingles import document_shingles

    stage = MinHashSignatures(num_perm=num_perm, hash=hash_name)
    stage.ensure_setup()
    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
    stage.annotate(table.slice(0, 8))  # build the code point tables (once per process)
    t0, c0 = time.perf_counter(), time.process_time()
    cols = [stage.annotate(table.slice(i, batch)).column("minhash") for i in range(0, len(texts), batch)]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    sigs = [row for col in cols for row in col.to_pylist()]
    return wall, cpu, sigs, lambda i: set(document_shingles(texts[i])[0])


def run_datasketch(texts: list[str], num_perm: int) -> Result:
    """datasketch.MinHash per document, update_batch with its default sha1_hash32."""
    from datasketch import MinHash

    perms = MinHash(num_perm=num_perm, seed=1).permutations
    t0, c0 = time.perf_counter(), time.process_time()
    sigs = []
    for text in texts:
        m = MinHash(num_perm=num_perm, seed=1, permutations=perms, scheme="affine32")
        m.update_batch([s.encode("utf-8") for s in py_shingles(text)])
        sigs.append(m.digest())
    return time.perf_counter() - t0, time.process_time() - c0, sigs, lambda i: set(py_shingles(texts[i]))


def run_rensa(texts: list[str], num_perm: int) -> Result:
    """rensa.RMinHash per document, fed the Python shingles."""
    from rensa import RMinHash

    t0, c0 = time.perf_counter(), time.process_time()
    sigs = []
    for text in texts:
        m = RMinHash(num_perm=num_perm, seed=1)
        m.update(py_shingles(text))
        sigs.append(m.digest())
    return time.perf_counter() - t0, time.process_time() - c0, sigs, lambda i: set(py_shingles(texts[i]))


def _stub_tokenizers() -> None:
    """datatrove imports ``tokenizers`` for steps unrelated to MinHash; the bench venv lacks it, so stub it in-process."""
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        mod, proc = types.ModuleType("tokenizers"), types.ModuleType("tokenizers.processors")
        proc.TemplateProcessing = type("TemplateProcessing", (), {})
        mod.processors, mod.Tokenizer = proc, type("Tokenizer", (), {})
        sys.modules["tokenizers"], sys.modules["tokenizers.processors"] = mod, proc


def run_datatrove(texts: list[str], num_perm: int) -> Result:
    """datatrove's signature step (shingles + permutations) per document, without writing files."""
    import tempfile

    _stub_tokenizers()
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    step = MinhashDedupSignature(output_folder=tempfile.mkdtemp(), config=MinhashConfig(
        num_buckets=num_perm // 8, hashes_per_bucket=8))
    step.get_signature(step.get_shingles("warm up the word tokenizer with a few words here"))
    t0, c0 = time.perf_counter(), time.process_time()
    sigs = []
    for text in texts:
        shingles = step.get_shingles(text)
        sigs.append([v for band in step.get_signature(shingles) for v in band] if shingles.size else None)
    return (time.perf_counter() - t0, time.process_time() - c0, sigs,
            lambda i: set(step.get_shingles(texts[i]).ravel().tolist()))


def accuracy(sigs: list[Any], shingles: Callable[[int], set], stride: int, max_pairs: int) -> dict[str, float]:
    """Mean and max |estimated - exact Jaccard| over the pairs (i, i + stride)."""
    errors = []
    for i in range(min(len(sigs) - stride, max_pairs)):
        a, b = sigs[i], sigs[i + stride]
        sa, sb = shingles(i), shingles(i + stride)
        if a is None or b is None or not sa or not sb:
            continue
        est = sum(x == y for x, y in zip(a, b)) / len(a)
        errors.append(abs(est - len(sa & sb) / len(sa | sb)))
    if not errors:
        return {"pairs": 0}
    return {"pairs": len(errors), "mae": sum(errors) / len(errors), "max_err": max(errors)}


def main() -> None:
    """Run one engine and print its timing and accuracy as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("engine", choices=["dataforge", "dataforge-sha1", "datasketch", "rensa", "datatrove"])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--num-perm", type=int, default=112)
    ap.add_argument("--batch", type=int, default=1024, help="documents per Arrow batch (dataforge)")
    ap.add_argument("--pairs-stride", type=int, default=0, help="distance between a document and its copy (0: skip)")
    ap.add_argument("--max-pairs", type=int, default=20_000)
    args = ap.parse_args()
    texts = load(args.corpus, args.docs)
    if args.engine.startswith("dataforge"):
        res = run_dataforge(texts, args.num_perm, "sha1" if args.engine.endswith("sha1") else "xxh3", args.batch)
    else:
        runner = {"datasketch": run_datasketch, "rensa": run_rensa, "datatrove": run_datatrove}[args.engine]
        res = runner(texts, args.num_perm)
    wall, cpu, sigs, shingles = res
    out: dict[str, Any] = {"engine": args.engine, "docs": len(texts), "mb": sum(len(t.encode()) for t in texts) / 1e6,
                           "wall_s": wall, "cpu_s": cpu, "pid": os.getpid(), "python": sys.executable}
    if args.pairs_stride:
        out.update(accuracy(sigs, shingles, args.pairs_stride, args.max_pairs))
    print(json.dumps(out))


if __name__ == "__main__":
    main()

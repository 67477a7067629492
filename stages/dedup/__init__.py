"""Deduplication: exact, and MinHash-LSH fuzzy with distributed connected components."""

INDEX = {
    "exact_dedup_v1": "dataforge.stages.dedup.exact:ExactDedup",
    "minhash_v1": "dataforge.stages.dedup.minhash:MinHashSignatures",
    "minhash_dedup_v1": "dataforge.stages.dedup.lsh:MinHashDedup",
}

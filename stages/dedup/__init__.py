"""Deduplication: exact (and, later, MinHash-LSH fuzzy)."""

INDEX = {
    "exact_dedup_v1": "dataforge.stages.dedup.exact:ExactDedup",
}

"""Built-in stages, one family per folder. INDEX maps each versioned name to "module:Class".

The engine resolves names through this index lazily, so listing stages imports nothing heavy.
"""

INDEX: dict[str, str] = {
    # text/
    "normalize_text_v1": "dataforge.stages.text.normalize:NormalizeText",
    "text_stats_v1": "dataforge.stages.text.stats:TextStats",
    # filters/
    "length_filter_v1": "dataforge.stages.filters.length:LengthFilter",
    "sample_v1": "dataforge.stages.filters.sample:Sample",
    # dedup/
    "exact_dedup_v1": "dataforge.stages.dedup.exact:ExactDedup",
    # misc
    "passthrough_v1": "dataforge.stages.text.passthrough:PassThrough",
}

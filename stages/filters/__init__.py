"""Generic row filters: length bounds and deterministic sampling."""

INDEX = {
    "length_filter_v1": "dataforge.stages.filters.length:LengthFilter",
    "sample_v1": "dataforge.stages.filters.sample:Sample",
}

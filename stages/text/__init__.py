"""Text normalisation and statistics."""

INDEX = {
    "normalize_text_v1": "dataforge.stages.text.normalize:NormalizeText",
    "text_stats_v1": "dataforge.stages.text.stats:TextStats",
    "passthrough_v1": "dataforge.stages.text.passthrough:PassThrough",
    "drop_columns_v1": "dataforge.stages.text.columns:DropColumns",
}

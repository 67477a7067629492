"""Language identification: fastText lid.176 labels, scores and a keep/threshold filter."""

INDEX = {
    "language_id_v1": "dataforge.stages.language.langid:LanguageId",
}

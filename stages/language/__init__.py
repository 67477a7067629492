"""Language identification: fastText lid.176 labels, scores and a keep/threshold filter; a cheap gate on raw HTML."""

INDEX = {
    "language_id_v1": "dataforge.stages.language.langid:LanguageId",
    "language_gate_v1": "dataforge.stages.language.gate:LanguageGate",
}

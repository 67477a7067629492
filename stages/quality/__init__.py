"""Heuristic quality rules: Gopher quality and repetition, C4, FineWeb, URL and banned-word lists.

Each family is a ``<family>_signals_v1`` annotator that writes its signals as columns and a
``<family>_filter_v1`` that thresholds them (computing them itself when they are absent).
"""

INDEX: dict[str, str] = {
    "gopher_quality_signals_v1": "dataforge.stages.quality.gopher_quality:GopherQualitySignals",
    "gopher_quality_filter_v1": "dataforge.stages.quality.gopher_quality:GopherQualityFilter",
    "gopher_repetition_signals_v1": "dataforge.stages.quality.gopher_repetition:GopherRepetitionSignals",
    "gopher_repetition_filter_v1": "dataforge.stages.quality.gopher_repetition:GopherRepetitionFilter",
    "fineweb_signals_v1": "dataforge.stages.quality.fineweb:FineWebSignals",
    "fineweb_filter_v1": "dataforge.stages.quality.fineweb:FineWebFilter",
    "c4_signals_v1": "dataforge.stages.quality.c4:C4Signals",
    "c4_filter_v1": "dataforge.stages.quality.c4:C4Filter",
    "blocklist_signals_v1": "dataforge.stages.quality.blocklist:BlocklistSignals",
    "blocklist_filter_v1": "dataforge.stages.quality.blocklist:BlocklistFilter",
    "fasttext_classify_v1": "dataforge.stages.quality.fasttext_classifier:FastTextClassify",
    "score_filter_v1": "dataforge.stages.quality.score_filter:ScoreFilter",
    "score_sample_v1": "dataforge.stages.quality.score_sample:ScoreSample",
}

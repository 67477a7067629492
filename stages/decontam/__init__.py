"""Benchmark decontamination: benchmark loaders, an n-gram index, and the matching stage."""

INDEX = {
    "decontaminate_v1": "dataforge.stages.decontam.stage:Decontaminate",
}

"""Domain labelling and mixing: URL/source rules, a fastText domain classifier, target mixtures, token shards."""

INDEX = {
    "domain_rules_v1": "dataforge.stages.mix.domains:DomainRules",
    "domain_classify_v1": "dataforge.stages.mix.classify:DomainClassify",
    "mix_v1": "dataforge.stages.mix.mix:Mix",
    "write_shards_v1": "dataforge.stages.mix.shards:WriteShards",
}

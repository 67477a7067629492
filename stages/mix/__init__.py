"""Domain labelling and mixing: URL/source rules, target mixtures, token shards."""

INDEX = {
    "domain_rules_v1": "dataforge.stages.mix.domains:DomainRules",
    "mix_v1": "dataforge.stages.mix.mix:Mix",
    "write_shards_v1": "dataforge.stages.mix.shards:WriteShards",
}

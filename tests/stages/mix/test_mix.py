"""domain_rules_v1 and mix_v1: labels, exact shares, capped up-sampling, determinism, reports."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from conftest import table
from dataforge.stages.mix.domains import DomainRules
from dataforge.stages.mix.mix import Mix


def test_domain_rules_first_match_and_fallback() -> None:
    t = table([
        {"id": "1", "text": "x", "url": "https://export.arxiv.org/abs/1"},
        {"id": "2", "text": "x", "url": "https://github.com/a/b"},
        {"id": "3", "text": "x", "url": "https://en.wikipedia.org/wiki/Cat"},
        {"id": "4", "text": "x", "url": "https://en.wikipedia.org/w/index.php"},
        {"id": "5", "text": "x", "url": None, "source": "gsm8k-synth"},
        {"id": "6", "text": "x", "url": "https://example.com/"},
    ])
    stage = DomainRules({"rules": [
        {"domain": "stem", "hosts": ["arxiv.org"]},
        {"domain": "code", "hosts": ["github.com", "*.gitlab.io"]},
        {"domain": "knowledge", "hosts": ["wikipedia.org"], "paths": ["^/wiki/"]},
        {"domain": "math", "sources": ["gsm8k-synth"]},
    ]})
    out = stage(t).kept
    assert out.column("mix_domain").to_pylist() == ["stem", "code", "knowledge", "web", "math", "web"]


def corpus(n_web: int = 600, n_code: int = 200, n_math: int = 50) -> pa.Table:
    rows = []
    for dom, n in (("web", n_web), ("code", n_code), ("math", n_math)):
        for i in range(n):
            rows.append({"id": f"{dom}-{i:04d}", "text": "w " * (50 + (i * 37) % 200)})
    t = table(rows)
    t = t.append_column("mix_domain", pa.array([r["id"].split("-")[0] for r in rows]))
    t = t.append_column("n_tokens", pa.array([50 + (i * 37) % 200 for dom, n in (("web", n_web), ("code", n_code), ("math", n_math)) for i in range(n)]))
    return t.append_column("quality", pa.array(np.linspace(0, 1, t.num_rows)))


def shares(kept: pa.Table, mixture: str = "main") -> dict[str, float]:
    sel = kept.filter(pa.compute.equal(kept.column("mixture"), mixture))
    tot = sum(sel.column("n_tokens").to_pylist())
    out: dict[str, float] = {}
    for d, n in zip(sel.column("mix_domain").to_pylist(), sel.column("n_tokens").to_pylist()):
        out[d] = out.get(d, 0) + n / tot
    return out


def test_three_domain_mixture_hits_targets_with_upsampling() -> None:
    t = corpus()
    total = sum(t.column("n_tokens").to_pylist())
    weights = {"web": 0.5, "code": 0.3, "math": 0.2}
    res = Mix({"mixtures": {"main": {"weights": weights, "total_tokens": total * 0.5}}})(t)
    got = shares(res.kept)
    for d, w in weights.items():
        assert abs(got[d] - w) < 0.01, (d, got)
    reps = res.kept.filter(pa.compute.equal(res.kept.column("mix_domain"), "math")).column("repeat").to_pylist()
    assert max(reps) >= 1  # math is up-sampled
    assert res.kept.num_rows - res.created + res.count(res.dropped) == t.num_rows
    assert set(res.dropped.column("reason").to_pylist()) == {"not_selected"}


def test_cap_is_reported_not_rescaled() -> None:
    t = corpus(n_math=5)
    total = sum(t.column("n_tokens").to_pylist())
    stage = Mix({"mixtures": {"main": {"weights": {"web": 0.5, "math": 0.5}, "total_tokens": total, "max_repeats": 4}}})
    res = stage(t)
    math_tokens = sum(t.filter(pa.compute.equal(t.column("mix_domain"), "math")).column("n_tokens").to_pylist())
    got = res.kept.filter(pa.compute.equal(res.kept.column("mix_domain"), "math"))
    assert sum(got.column("n_tokens").to_pylist()) == 4 * math_tokens  # capped at 4 repeats
    assert "code" not in set(res.kept.column("mix_domain").to_pylist())
    assert "domain_not_in_mixture" in res.dropped.column("reason").to_pylist()
    with pytest.raises(Exception, match="cannot be met"):
        Mix({"mixtures": {"main": {"weights": {"web": 0.5, "math": 0.5}, "total_tokens": total}}, "strict": True}).process(t)


def test_changing_one_weight_changes_only_that_domain() -> None:
    t = corpus()
    total = 40_000
    a = Mix({"mixtures": {"m": {"weights": {"web": 0.5, "code": 0.3, "math": 0.2}, "total_tokens": total}}})(t).kept
    b = Mix({"mixtures": {"m": {"weights": {"web": 0.5, "code": 0.2, "math": 0.2}, "total_tokens": total * 0.9}}})(t).kept

    def ids(k: pa.Table, d: str) -> list[str]:
        return k.filter(pa.compute.equal(k.column("mix_domain"), d)).column("id").to_pylist()

    assert ids(a, "web") == ids(b, "web") and ids(a, "math") == ids(b, "math")
    assert ids(a, "code") != ids(b, "code")


def test_prefer_takes_best_documents_and_several_mixtures() -> None:
    t = corpus()
    res = Mix({"mixtures": {
        "general": {"weights": {"web": 1.0}, "total_tokens": 10_000, "prefer": "quality"},
        "knowledge": {"weights": {"code": 0.5, "math": 0.5}, "total_tokens": 5_000},
    }})(t).kept
    gen = res.filter(pa.compute.equal(res.column("mixture"), "general"))
    web_q = t.filter(pa.compute.equal(t.column("mix_domain"), "web")).column("quality").to_numpy()
    assert min(gen.column("quality").to_pylist()) >= np.quantile(web_q, 0.5)
    assert set(res.column("mixture").to_pylist()) == {"general", "knowledge"}

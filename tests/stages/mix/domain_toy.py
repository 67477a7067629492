"""A tiny three-domain corpus and a fastText domain model trained from it in a few seconds (tests only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

MATH = ["{a} apples cost {b} dollars, so {c} apples cost {a} times {b} dollars. Solve for x: {a}x + {b} = {c}.",
        "The sum of {a} and {b} is {c}; the equation x squared plus {a} x equals {b} has two roots.",
        "If a train travels {a} miles per hour for {b} hours, the distance is {c} miles; compute the average."]
CODE = ["def f{a}(x):\n    return x * {b} + {c}\n\nfor i in range({a}):\n    print(f{a}(i))",
        "import os\nclass C{a}:\n    def run(self, n={b}):\n        return [i for i in range(n) if i % {c} == 0]",
        "if (x{a} > {b}) {{ return x{a} * {c}; }} else {{ while (i < {a}) i++; }}"]
WEB = ["Our shop opens at {a} am every day. Visit us for the best coffee in town and a friendly chat with the team.",
       "The weekend festival brings music, food stalls and {a} local artists to the old market square.",
       "Read our travel story number {a}: {b} days on the coast, quiet beaches and small villages full of flowers."]


def toy_docs(per_class: int = 150) -> pa.Table:
    """id, group, label, text rows for math, code and web."""
    rows = []
    for label, templates in (("math", MATH), ("code", CODE), ("web", WEB)):
        for i in range(per_class):
            t = templates[i % len(templates)].format(a=i + 2, b=(i * 7) % 13 + 1, c=(i * 11) % 17 + 3)
            rows.append({"id": f"{label}-{i}", "group": f"{label}-{i}", "label": label, "text": t})
    return pa.table({k: pa.array([r[k] for r in rows], pa.string()) for k in ("id", "group", "label", "text")})


def train_toy_domains(root: Path, **overrides: Any) -> dict[str, Any]:
    """Train the toy domain model into root/models/toy-domain (manifest root/models/manifest.json)."""
    from dataforge.quality_models.train_domain import DomainTrainConfig, train_domains

    cfg = DomainTrainConfig(name="toy-domain", version="1", out_dir=str(root / "models" / "toy-domain"),
                            manifest=str(root / "models" / "manifest.json"), min_count=1, bucket=20000,
                            epoch=15, lr=0.5, quantize=False, min_chars=5, **overrides)
    return train_domains(toy_docs(), cfg, log=lambda s: None)

"""Score (prompt, response) pairs with a reward model into a ``reward`` column."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from dataforge.inference.base import BackendConfig, EchoConfig
from dataforge.schema import RAW_EXCERPT_CHARS, quarantine_table
from dataforge.stage import SYSTEMATIC_FAILURE_ROWS, BatchResult, Resources, StageError, StageParams, Transform


class RewardScoreParams(StageParams):
    """The reward model's engine and the columns that hold prompt and response."""

    backend: BackendConfig = Field(default_factory=EchoConfig,
                                   description="a sequence-classification reward model (transformers, http score route, vllm classify)")
    prompt_column: str = Field("prompt", description="the prompt the response answers (synthetic rows carry `prompt`)")
    response_column: str = Field("text", description="the response to score")
    column: str = Field("reward", description="output column (float64)")


class RewardScore(Transform):
    """Add a ``reward`` column: the reward model's score of each (prompt, response) pair.

    The Qwen2 recipe filters its synthetic data with reward models: this stage scores, and
    ``reward_filter_v1`` keeps best-of-n per prompt or everything above a threshold or
    percentile, so re-thresholding never re-runs the model. Pairs the model could not score
    (server error, timeout) are quarantined with reason ``score_error``; the model name goes in
    ``reward_model``.
    """

    name = "reward_score_v1"
    Params = RewardScoreParams
    stateful = True
    batch_size = 64
    resources = Resources(cpus=1)
    example = {"backend": {"engine": "echo"}, "prompt_column": "url"}

    def setup(self) -> None:
        """Make the backend (loads the reward model for local engines)."""
        from dataforge.inference.base import make_backend

        self.backend = make_backend(self.params.backend)  # type: ignore[attr-defined]

    def __getstate__(self) -> dict[str, Any]:
        """Pickle parameters only; setup() rebuilds the backend on the worker."""
        return {"params": self.params, "_ready": False}

    def versions(self) -> dict[str, str]:
        """The reward model, for manifests."""
        return {"reward_model": self.params.backend.model}  # type: ignore[attr-defined]

    def transform(self, batch: pa.Table) -> BatchResult:
        """Score every pair; keep scored rows, quarantine the others."""
        p: RewardScoreParams = self.params  # type: ignore[assignment]
        for col in (p.prompt_column, p.response_column):
            if batch.num_rows and col not in batch.column_names:
                raise StageError(f"stage {self.name!r}: column {col!r} is missing; set prompt_column/response_column "
                                 f"to columns the batch has ({', '.join(batch.column_names)})")
        if batch.num_rows == 0:
            out = batch
            for name, typ in ((p.column, pa.float64()), ("reward_model", pa.string())):
                out = out.append_column(name, pa.array([], typ)) if name not in out.column_names else out
            return BatchResult(kept=out)
        prompts = pc.fill_null(batch.column(p.prompt_column).cast(pa.string()), "").to_pylist()
        responses = pc.fill_null(batch.column(p.response_column).cast(pa.string()), "").to_pylist()
        scores = self.backend.score(list(zip(prompts, responses)))
        errors: list[str | None] = list(getattr(self.backend, "last_score_errors", None) or [None] * len(scores))
        bad = [i for i, s in enumerate(scores) if s is None or math.isnan(s)]
        if len(bad) == batch.num_rows and batch.num_rows >= SYSTEMATIC_FAILURE_ROWS:
            raise StageError(f"stage {self.name!r}: the reward model scored none of {batch.num_rows} pairs "
                             f"({errors[bad[0]] or 'no score'}); check the backend config and that the server is up")
        arr = pa.array(scores, pa.float64())
        out = batch
        for name, values in ((p.column, arr), ("reward_model", pa.array([self.backend.model_id] * batch.num_rows, pa.string()))):
            if name in out.column_names:
                out = out.set_column(out.column_names.index(name), name, values)
            else:
                out = out.append_column(name, values)
        if not bad:
            return BatchResult(kept=out)
        mask = pa.array([i not in set(bad) for i in range(batch.num_rows)])
        ids = [str(x) for x in pc.take(batch.column("id"), pa.array(bad)).to_pylist()]
        src = pc.take(batch.column("source"), pa.array(bad)).to_pylist() if "source" in batch.column_names else [None] * len(bad)
        q = quarantine_table(ids, "", self.name, ["score_error"] * len(bad),
                             [(errors[i] or "reward model returned no score")[:500] for i in bad],
                             [responses[i][:RAW_EXCERPT_CHARS] for i in bad])
        q = q.set_column(1, "source", pa.array(src, pa.string()))
        return BatchResult(kept=out.filter(mask), quarantined=q)

"""Grade documents with an instruct model (FineWeb-Edu educational value 0-5) and parse the score robustly."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from dataforge.inference.base import BackendConfig, ChatMessage, SamplingParams
from dataforge.schema import with_columns
from dataforge.stage import Annotator, StageParams

#: Columns a grading template may use besides the core ones (``{{ text }}`` is required).
EXTRA_VARIABLES = ("title", "page")


def load_template(name: str, required: tuple[str, ...] = ("text",), key: str = "template") -> Any:
    """Load a prompt template (shipped name or path) and check its variables; errors name the file and the fix."""
    from dataforge.stages.synth.templates import CORE_VARIABLES, PromptTemplate

    tpl = PromptTemplate.load(name)
    tpl.check((*CORE_VARIABLES, *EXTRA_VARIABLES), key=key)
    missing = [v for v in required if v not in tpl.variables]
    if missing:
        raise ValueError(f"{key}: template {tpl.name!r} ({tpl.path}) must contain "
                         + ", ".join(f"{{{{ {v} }}}}" for v in missing) + " where the document goes")
    return tpl


def row_values(batch: pa.Table, i: int, names: list[str]) -> dict[str, Any]:
    """Template values of row ``i`` from the columns present in the batch."""
    return {c: batch.column(c)[i].as_py() for c in names if c in batch.column_names}


def sampled(ids: pa.Array | pa.ChunkedArray, fraction: float, seed: int) -> np.ndarray:
    """Which rows are in a deterministic ``fraction`` sample: a pure function of (seed, id)."""
    from dataforge.hashing import unit_interval

    if fraction >= 1.0:
        return np.ones(len(ids), dtype=bool)
    return unit_interval(pc.cast(ids, pa.string()), seed) < fraction


# -- the stage -------------------------------------------------------------------------------------
class LlmAnnotateParams(StageParams):
    """The model, the prompt, the sample, and how the score is read from the answer."""

    backend: BackendConfig = Field(description="inference engine: {engine: transformers|http|vllm, model: ...}")
    template: str = Field(
        "edu_grade", description="prompt template: a shipped name (pipelines/prompts/<name>.txt) or a path; "
                                 "{{ text }} is the document, {{ url }}, {{ domain }}, {{ title }}... are columns")
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.0, max_tokens=256, seed=0),
        description="generation parameters (default: greedy, 256 new tokens, as graders are run)")
    fraction: float = Field(1.0, gt=0, le=1, description="share of documents graded, chosen by hash(seed, id)")
    seed: int = Field(0, description="seed of the sample")
    max_chars: int = Field(10_000, ge=100, description="characters of the document put in the prompt")
    column: str = Field("edu_score", description="score column; also <column>_reason and <column>_response")
    score_pattern: str = Field(
        r"Educational score:\s*\**\s*\[?\s*(\d+(?:\.\d+)?)", description="regex whose group 1 is the score "
                                                                          "(the last match counts)")
    min_score: float = Field(0.0, description="lowest valid score")
    max_score: float = Field(5.0, description="highest valid score (FineWeb-Edu: 5)")
    keep_response: bool = Field(True, description="keep the model's answer in <column>_response for audit")

    @field_validator("score_pattern")
    @classmethod
    def _one_group(cls, v: str) -> str:
        """The pattern compiles and has a group for the score."""
        try:
            rx = re.compile(v)
        except re.error as exc:
            raise ValueError(f"score_pattern is not a valid regex: {exc}") from None
        if rx.groups < 1:
            raise ValueError("score_pattern needs a group around the score, e.g. 'Score: (\\d+)'")
        return v

    @model_validator(mode="after")
    def _check(self) -> "LlmAnnotateParams":
        """The template exists and uses known variables (checked when the pipeline is validated)."""
        load_template(self.template, key="llm_annotate_v1 template")
        if self.min_score > self.max_score:
            raise ValueError(f"min_score {self.min_score} is above max_score {self.max_score}")
        return self


def parse_score(text: str | None, pattern: re.Pattern[str], lo: float, hi: float) -> tuple[float | None, str | None]:
    """The last score the answer states, and None; or None and why not (empty_response, unparseable, out_of_range)."""
    if text is None or not text.strip():
        return None, "empty_response"
    matches = pattern.findall(text)
    if not matches:
        return None, "unparseable"
    raw = matches[-1] if isinstance(matches[-1], str) else matches[-1][0]
    try:
        value = float(raw)
    except ValueError:
        return None, "unparseable"
    if not lo <= value <= hi:
        return None, "out_of_range"
    return value, None


class LlmAnnotate(Annotator):
    """Grade a deterministic sample of documents with an instruct model; FineWeb-Edu's 0-5 educational score by default.

    The prompt template (default ``edu_grade``: FineWeb-Edu's additive 5-point prompt, Penedo
    et al. 2024, in ``pipelines/prompts/edu_grade.txt``; edit it or give another file) gets the
    document's first ``max_chars`` characters as ``{{ text }}`` (also ``{{ url }}``,
    ``{{ domain }}``, ``{{ language }}``, ``{{ title }}``, ``{{ id }}``, ``{{ source }}``);
    unknown variables are errors when the pipeline is validated. It is sent as a
    chat through the backend (transformers, an OpenAI-compatible HTTP server, or vLLM on Ray),
    greedy by default. The score is the last match of ``score_pattern`` ("Educational score: N",
    also with markdown bold or brackets) within [min_score, max_score].

    Adds ``<column>`` (float, null when not graded), ``<column>_reason`` (null when graded, else
    ``not_sampled``, ``empty_text``, ``timeout``, ``generation_error``, ``empty_response``,
    ``unparseable``, ``out_of_range``) and, with ``keep_response``, ``<column>_response`` (the
    answer, or the error). Rows are graded when ``hash(seed, id) < fraction``, so the sample is
    the same on any number of workers. Never drops rows; ``score_filter_v1`` thresholds,
    ``train_classifier_v1`` learns a cheap classifier from the grades.
    """

    name = "llm_annotate_v1"
    Params = LlmAnnotateParams
    batch_size = 64
    stateful = True
    example = {"backend": {"engine": "echo"}}

    def setup(self) -> None:
        """Build the backend (loads the model or opens the connection pool)."""
        from dataforge.inference.base import make_backend

        p: LlmAnnotateParams = self.params  # type: ignore[assignment]
        self._template = load_template(p.template)
        self._pattern = re.compile(p.score_pattern)
        self._backend = make_backend(p.backend)

    def versions(self) -> dict[str, str]:
        """The model and a hash of the prompt template, for manifests."""
        p: LlmAnnotateParams = self.params  # type: ignore[assignment]
        tpl = load_template(p.template)
        return {"model": p.backend.model, "engine": p.backend.engine, "template": tpl.name,
                "template_sha256": tpl.sha256[:16]}

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the parameters only; the backend is rebuilt by setup() on the worker."""
        state = dict(self.__dict__)
        for k in ("_backend", "_pattern"):
            state.pop(k, None)
        state["_ready"] = False
        return state

    def _prompts(self, batch: pa.Table, rows: list[int]) -> list[list[ChatMessage]]:
        """Chat prompts for the given rows."""
        p: LlmAnnotateParams = self.params  # type: ignore[assignment]
        out = []
        for i in rows:
            values = row_values(batch, i, self._template.variables)
            values["text"] = (values.get("text") or "")[: p.max_chars]
            out.append(self._template.render(values))
        return out

    def annotate(self, batch: pa.Table) -> pa.Table:
        """Grade the sampled rows with text; the others get a null score and the reason."""
        p: LlmAnnotateParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        scores: list[float | None] = [None] * n
        reasons: list[str | None] = ["not_sampled"] * n
        responses: list[str | None] = [None] * n
        if n:
            take = sampled(batch.column("id"), p.fraction, p.seed)
            texts = pc.fill_null(batch.column("text"), "")
            has_text = np.asarray(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(texts)), 0)
                                  .to_numpy(zero_copy_only=False), dtype=bool)
            for i in np.flatnonzero(take & ~has_text):
                reasons[i] = "empty_text"
            rows = np.flatnonzero(take & has_text).tolist()
            if rows:
                ids = [str(x) for x in pc.take(batch.column("id"), pa.array(rows, pa.int64())).to_pylist()]
                params = p.sampling.model_copy(update={"n": 1})
                results = self._backend.generate(self._prompts(batch, rows), params, keys=ids)
                for i, comps in zip(rows, results):
                    c = comps[0] if comps else None
                    if c is None or c.error is not None:
                        reasons[i] = "timeout" if c is not None and c.finish_reason == "timeout" else "generation_error"
                        responses[i] = c.error if c is not None else "the backend returned no completion"
                        continue
                    responses[i] = c.text
                    scores[i], reasons[i] = parse_score(c.text, self._pattern, p.min_score, p.max_score)
        cols: dict[str, Any] = {
            p.column: pa.array(scores, pa.float64()),
            f"{p.column}_reason": pa.array(reasons, pa.string()),
        }
        if p.keep_response:
            cols[f"{p.column}_response"] = pa.array(responses, pa.string())
        return with_columns(batch, cols)

"""Ask an instruct model to repair extracted text, and keep the original when the repair adds or loses content."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from dataforge.inference.base import BackendConfig, SamplingParams
from dataforge.schema import with_columns
from dataforge.stage import StageParams, Transform

_WORD = re.compile(r"\w+", re.UNICODE)


def overlap(original: str, repaired: str) -> tuple[float, float]:
    """(precision, recall) of the repaired text's word tokens against the original's, as multisets (lowercased).

    Precision is the share of the output's words found in the original (below 1: content added);
    recall is the share of the original's words kept (below 1: content lost).
    """
    a = Counter(w.lower() for w in _WORD.findall(original))
    b = Counter(w.lower() for w in _WORD.findall(repaired))
    common = sum((a & b).values())
    na, nb = sum(a.values()), sum(b.values())
    return (common / nb if nb else 0.0), (common / na if na else 1.0)


_FENCED = re.compile(r"^\s*```[a-z]*\n(.*?)\n```\s*$", re.DOTALL)


class LlmRepairParams(StageParams):
    """The model, the instruction, and the guard's thresholds."""

    backend: BackendConfig = Field(description="an instruct model: {engine: transformers|http|vllm, model: ...}")
    template: str = Field("repair_text", description="prompt template (shipped name or path) with {{ text }}")
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.0, max_tokens=4096, seed=0),
        description="generation parameters (default: greedy)")
    min_precision: float = Field(
        0.9, ge=0, le=1, description="reject a repair when fewer than this share of its words occur in the original "
                                     "(the model added content)")
    min_recall: float = Field(
        0.8, ge=0, le=1, description="reject a repair that keeps fewer than this share of the original's words "
                                     "(the model dropped or summarised content)")
    max_chars: int = Field(12_000, ge=1, description="longer documents are left as they are (too_long)")
    only_column: str | None = Field(
        None, description="repair only rows where this boolean column is true (e.g. needs_repair); others: skipped")
    keep_original: bool = Field(True, description="keep the text before repair in text_before_repair")

    @field_validator("template")
    @classmethod
    def _template_ok(cls, v: str) -> str:
        """The template exists and uses known variables (checked when the pipeline is validated)."""
        from dataforge.stages.synth.llm_annotate import load_template

        load_template(v, required=("text",), key="llm_repair_v1 template")
        return v


class LlmRepair(Transform):
    """Optional clean-up pass: an instruct model repairs extracted text (reading order, broken tables to Markdown).

    Each document (up to ``max_chars``; optionally only rows where ``only_column`` is true) is
    sent with the ``repair_text`` template (``pipelines/prompts/repair_text.txt``). The answer
    replaces the text only if it passes the guard: the share of its word tokens found in the
    original (precision, lowercased multisets) is at least ``min_precision`` (else the model
    added content not in the source) and the share of the original's tokens it keeps (recall) is
    at least ``min_recall`` (else it dropped or summarised). Otherwise the original is kept and
    the reason recorded. A response wrapped in one ``` fence is unwrapped first.

    Adds ``repair_status`` (``repaired``, ``unchanged``, ``added_content``, ``lost_content``,
    ``empty_response``, ``generation_error``, ``timeout``, ``too_long``, ``skipped``),
    ``repair_precision`` and ``repair_recall`` (null when no answer was judged), and, with
    ``keep_original``, ``text_before_repair`` (null when the text was not replaced). Rows are
    never dropped: a failed repair is not a bad document.
    """

    name = "llm_repair_v1"
    Params = LlmRepairParams
    batch_size = 16
    stateful = True
    example = {"backend": {"engine": "echo"}}

    def setup(self) -> None:
        """Load the template and build the backend."""
        from dataforge.inference.base import make_backend
        from dataforge.stages.synth.llm_annotate import load_template

        p: LlmRepairParams = self.params  # type: ignore[assignment]
        self._template = load_template(p.template, key=f"{self.name} template")
        self._backend = make_backend(p.backend)

    def versions(self) -> dict[str, str]:
        """The model and template, for manifests."""
        p: LlmRepairParams = self.params  # type: ignore[assignment]
        return {"model": p.backend.model, "engine": p.backend.engine, "template": p.template}

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the parameters only; setup() rebuilds the backend on the worker."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_backend", "_template")}
        state["_ready"] = False
        return state

    def transform(self, batch: pa.Table) -> pa.Table:
        """Repair the eligible rows; apply the guard; record what happened to each."""
        p: LlmRepairParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        texts = pc.fill_null(batch.column("text"), "").to_pylist() if n else []
        status: list[str] = ["skipped"] * n
        prec: list[float | None] = [None] * n
        rec: list[float | None] = [None] * n
        before: list[str | None] = [None] * n
        new = list(texts)
        if p.only_column and n and p.only_column not in batch.column_names:
            raise ValueError(f"{self.name}: only_column {p.only_column!r} is not in the data; add the stage that "
                             "writes it or unset only_column")
        eligible = (pc.fill_null(batch.column(p.only_column), False).to_pylist() if p.only_column and n
                    else [True] * n)
        rows = []
        for i in range(n):
            if not eligible[i] or not texts[i].strip():
                continue
            if len(texts[i]) > p.max_chars:
                status[i] = "too_long"
                continue
            rows.append(i)
        if rows:
            ids = [str(batch.column("id")[i].as_py()) for i in rows]
            prompts = [self._template.render({"text": texts[i], **{c: batch.column(c)[i].as_py()
                                                                 for c in self._template.variables
                                                                 if c != "text" and c in batch.column_names}})
                       for i in rows]
            results = self._backend.generate(prompts, p.sampling.model_copy(update={"n": 1}), keys=ids)
            for i, comps in zip(rows, results):
                c = comps[0] if comps else None
                if c is None or c.error is not None:
                    status[i] = "timeout" if c is not None and c.finish_reason == "timeout" else "generation_error"
                    continue
                answer = c.text.strip()
                m = _FENCED.match(answer)
                if m:
                    answer = m.group(1).strip()
                if not answer:
                    status[i] = "empty_response"
                    continue
                prec[i], rec[i] = overlap(texts[i], answer)
                if prec[i] < p.min_precision:
                    status[i] = "added_content"
                elif rec[i] < p.min_recall:
                    status[i] = "lost_content"
                elif answer == texts[i].strip():
                    status[i] = "unchanged"
                else:
                    status[i] = "repaired"
                    before[i] = texts[i]
                    new[i] = answer
        cols: dict[str, Any] = {
            "text": pa.array(new, pa.string()),
            "repair_status": pa.array(status, pa.string()),
            "repair_precision": pa.array(prec, pa.float64()),
            "repair_recall": pa.array(rec, pa.float64()),
        }
        if p.keep_original:
            cols["text_before_repair"] = pa.array(before, pa.string())
        return with_columns(batch, cols)

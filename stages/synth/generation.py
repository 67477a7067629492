"""The shared machinery of synthetic-generation stages: prompt per row, n samples, rows with provenance.

Every synthetic row records, as columns: ``source_id`` (the row it came from),
``synth_model``, ``synth_template`` and ``synth_template_sha256``, ``synth_sampling`` (the
sampling parameters as JSON), ``synth_seed`` (the seed that sample used, from
``hash(seed, source id, sample)``), ``synth_finish_reason`` and ``prompt`` (the user message
the model saw). A sample that failed (timeout, engine error, empty or unparseable response)
becomes a quarantined row with that reason and the response excerpt; the run goes on.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import Field, ValidationInfo, field_validator

from dataforge.inference.base import BackendConfig, Completion, EchoConfig, SamplingParams, row_seed
from dataforge.schema import RAW_EXCERPT_CHARS, quarantine_table
from dataforge.stage import SYSTEMATIC_FAILURE_ROWS, BatchResult, Resources, StageError, StageParams, Transform
from dataforge.stages.synth.templates import CORE_VARIABLES, PromptTemplate

#: Provenance columns every synthetic row carries, with their types.
SYNTH_COLUMNS: dict[str, pa.DataType] = {
    "source_id": pa.string(),
    "synth_model": pa.string(),
    "synth_template": pa.string(),
    "synth_template_sha256": pa.string(),
    "synth_sampling": pa.string(),
    "synth_seed": pa.int64(),
    "synth_finish_reason": pa.string(),
    "prompt": pa.string(),
}


class SynthParams(StageParams):
    """What every generation stage takes: the engine, the template, sampling, and what to keep."""

    backend: BackendConfig = Field(default_factory=EchoConfig, description="engine config (transformers, http, vllm, echo)")
    columns: list[str] = Field(default_factory=list, description="extra columns the template may use")
    template: str = Field(description="shipped template name or path to a .txt template")
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    keep_source: bool = Field(False, description="also keep the input rows (without synth columns filled)")
    output_source: str = Field("synth", description="value of the `source` column of synthetic rows")

    #: Variables a stage offers besides columns (subclasses extend).
    stage_variables: ClassVar[tuple[str, ...]] = ()

    @field_validator("template")
    @classmethod
    def _template_variables(cls, v: str, info: ValidationInfo) -> str:
        tpl = PromptTemplate.load(v)
        tpl.check([*CORE_VARIABLES, *info.data.get("columns", []), *cls.stage_variables], key="template")
        return v


class SynthStage(Transform):
    """Base of generation stages: renders the template per row, samples n completions, builds rows."""

    Params = SynthParams
    stateful = True
    batch_size = 64
    resources = Resources(cpus=1)
    #: Short label used in synthetic ids: ``<source id>/<label>/<sample>``.
    label: ClassVar[str] = "synth"

    def setup(self) -> None:
        """Load the template and make the backend (loads the model for local engines)."""
        from dataforge.inference.base import make_backend

        p: SynthParams = self.params  # type: ignore[assignment]
        self.template = PromptTemplate.load(p.template)
        self.backend = make_backend(p.backend)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle parameters only; the backend is rebuilt by setup() on the worker."""
        return {"params": self.params, "_ready": False}

    def config_hash(self) -> str:
        """Parameters plus the template's checksum, so an edited template reruns the stage."""
        import hashlib

        p: SynthParams = self.params  # type: ignore[assignment]
        sha = PromptTemplate.load(p.template).sha256
        return hashlib.sha256(f"{super().config_hash()}:{sha}".encode()).hexdigest()[:16]

    def versions(self) -> dict[str, str]:
        """Model and template checksum, for manifests."""
        p: SynthParams = self.params  # type: ignore[assignment]
        return {"model": p.backend.model, "template_sha256": PromptTemplate.load(p.template).sha256}

    # -- per-stage hooks -------------------------------------------------------------------
    def variables(self, batch: pa.Table) -> dict[str, list[Any]]:
        """Per-row values of the stage's own template variables (default: none)."""
        return {}

    def parse(self, text: str) -> tuple[dict[str, Any] | None, str | None]:
        """Turn one response into output fields (``text`` at least), or (None, reason) if it is unusable."""
        return {"text": text.strip()}, None

    def extra_columns(self) -> dict[str, pa.DataType]:
        """Columns ``parse`` fills beyond ``text`` (default: none)."""
        return {}

    # -- the transform ---------------------------------------------------------------------
    def transform(self, batch: pa.Table) -> BatchResult:
        """Generate ``n`` samples per row; successes become rows, failures quarantined rows."""
        p: SynthParams = self.params  # type: ignore[assignment]
        n_rows, n = batch.num_rows, p.sampling.n
        if n_rows == 0:
            return BatchResult(kept=self._empty_output(batch))
        ids = [str(x) for x in batch.column("id").to_pylist()]
        names = [v for v in self.template.variables if v in batch.column_names]
        cols = {v: batch.column(v).to_pylist() for v in names}
        cols.update(self.variables(batch))
        prompts = [self.template.render({v: c[i] for v, c in cols.items()}) for i in range(n_rows)]
        completions = self.backend.generate(prompts, p.sampling, keys=ids)
        self._check_systematic(completions, n_rows)

        take: list[int] = []
        fields: list[dict[str, Any]] = []
        comps: list[tuple[int, Completion]] = []
        q_ids, q_reasons, q_details, q_raw = [], [], [], []
        for i, samples in enumerate(completions):
            for j, c in enumerate(samples[:n]):
                sid = f"{ids[i]}/{self.label}/{j}"
                parsed, reason = self._judge(c)
                if parsed is None:
                    q_ids.append(sid)
                    q_reasons.append(reason or "unparseable_response")
                    q_details.append((c.error or f"finish_reason={c.finish_reason}, {c.n_tokens} tokens")[:500])
                    q_raw.append(c.text[:RAW_EXCERPT_CHARS])
                    continue
                take.append(i)
                fields.append(parsed)
                comps.append((j, c))
        synth = self._rows(batch, take, fields, comps, prompts, ids)
        kept = synth
        created = n_rows * n - n_rows
        if p.keep_source:
            kept = pa.concat_tables([batch, synth], promote_options="permissive")
            created += n_rows
        quarantined = None
        if q_ids:
            quarantined = quarantine_table(q_ids, "", self.name, q_reasons, q_details, q_raw)
            quarantined = quarantined.set_column(1, "source", pa.array([p.output_source] * len(q_ids), pa.string()))
        return BatchResult(kept=kept, quarantined=quarantined, created=created)

    def _judge(self, c: Completion) -> tuple[dict[str, Any] | None, str | None]:
        """Parsed fields of a completion, or None and the quarantine reason."""
        if c.error or c.finish_reason in ("error", "timeout"):
            return None, "generation_timeout" if c.finish_reason == "timeout" else "generation_error"
        if not c.text.strip():
            return None, "empty_response"
        return self.parse(c.text)

    def _check_systematic(self, completions: list[list[Completion]], n_rows: int) -> None:
        """Stop the run when every request of a sizeable batch failed with an engine error (a dead endpoint).

        The engine retries a failed batch row by row; those single rows fail loudly too while the
        endpoint stays dead, so the run stops with the error instead of quarantining every row.
        """
        errors = [c.error for s in completions for c in s if c.finish_reason == "error"]
        total = sum(len(s) for s in completions)
        all_failed = bool(errors) and len(errors) == total
        dead_before = getattr(self, "_endpoint_dead", False)
        self._endpoint_dead = all_failed and (dead_before or n_rows >= SYSTEMATIC_FAILURE_ROWS)
        if self._endpoint_dead:
            raise StageError(
                f"stage {self.name!r}: every one of {total} generation requests failed ({errors[0]}); "
                "check the backend config (model path, base_url, server running) — not quarantining a whole batch"
            )

    def _empty_output(self, batch: pa.Table) -> pa.Table:
        out = batch.slice(0, 0)
        for name, typ in {**SYNTH_COLUMNS, **self.extra_columns()}.items():
            if name not in out.column_names:
                out = out.append_column(name, pa.array([], typ))
        return out

    def _rows(self, batch: pa.Table, take: list[int], fields: list[dict[str, Any]],
              comps: list[tuple[int, Completion]], prompts: list[Any], ids: list[str]) -> pa.Table:
        """Synthetic rows: the source row's columns, new id/text/source, provenance columns."""
        p: SynthParams = self.params  # type: ignore[assignment]
        if not take:
            return self._empty_output(batch)
        out = batch.take(pa.array(take, pa.int64()))
        m = len(take)

        def put(name: str, arr: pa.Array) -> None:
            nonlocal out
            if name in out.column_names:
                out = out.set_column(out.column_names.index(name), name, arr)
            else:
                out = out.append_column(name, arr)

        put("id", pa.array([f"{ids[i]}/{self.label}/{j}" for i, (j, _) in zip(take, comps)], pa.string()))
        put("text", pa.array([f["text"] for f in fields], pa.string()))
        put("source", pa.array([p.output_source] * m, pa.string()))
        sampling = json.dumps(p.sampling.model_dump(mode="json"), sort_keys=True)
        prompt_user = [next((msg.content for msg in reversed(prompts[i]) if msg.role == "user"), "") for i in take]
        values: dict[str, pa.Array] = {
            "source_id": pa.array([ids[i] for i in take], pa.string()),
            "synth_model": pa.array([self.backend.model_id] * m, pa.string()),
            "synth_template": pa.array([self.template.name] * m, pa.string()),
            "synth_template_sha256": pa.array([self.template.sha256] * m, pa.string()),
            "synth_sampling": pa.array([sampling] * m, pa.string()),
            "synth_seed": pa.array([row_seed(p.sampling.seed, ids[i]) for i in take], pa.int64()),
            "synth_finish_reason": pa.array([c.finish_reason for _, c in comps], pa.string()),
            "prompt": pa.array(prompt_user, pa.string()),
        }
        for name, typ in self.extra_columns().items():
            values[name] = pa.array([f.get(name) for f in fields], typ)
        for name, arr in values.items():
            put(name, arr)
        return out


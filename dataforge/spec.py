"""Pipeline files: YAML validated with pydantic before any data is read.

``${VAR}`` (and ``${VAR:-default}``) take values from ``--set VAR=...`` or the environment; a
missing one is an error naming the key that uses it. ``--set a.b=value`` overrides any key
(list items by index: ``stages.1.params.min_chars=10``).
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dataforge.stage import Resources

VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class PipelineError(ValueError):
    """A pipeline file that cannot run; the message names each bad key and the fix."""

    def __init__(self, problems: list[str], source: str = "pipeline") -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} is not valid ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n{lines}")


class Strict(BaseModel):
    """Base for spec sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class InputSpec(Strict):
    """Where documents come from and how to read them."""

    format: str = Field(description="reader: jsonl, parquet (and warc, html, pdf where installed)")
    paths: list[str] = Field(min_length=1, description="files, folders, globs or object-store URIs")
    text_field: str = "text"
    id_field: str | None = Field(None, description="use this field as the document id instead of file+offset")
    fields: dict[str, str] = Field(default_factory=dict, description="core column -> input field, e.g. {url: link}")
    metadata_fields: list[str] = Field(default_factory=list, description="input fields kept as JSON in `metadata`")
    extra_fields: list[str] = Field(default_factory=list, description="input fields kept as typed columns of their own")
    source: str | None = Field(None, description="value of the `source` column (default: the format)")
    split_bytes: int = Field(128 * 1024 * 1024, gt=0, description="shard size for splittable files")
    max_text_bytes: int = Field(10 * 1024 * 1024, gt=0, description="larger documents are quarantined")
    batch_rows: int = Field(8192, gt=0, description="rows per batch read")
    options: dict[str, Any] = Field(default_factory=dict, description="reader-specific options")

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class OutputSpec(Strict):
    """Where the kept documents of the last stage are published."""

    path: str
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"


class StageSpec(Strict):
    """One stage of a pipeline: its registered name, params, and scheduling overrides."""

    stage: str
    params: dict[str, Any] = Field(default_factory=dict)
    resources: Resources | None = None
    batch_size: int | None = Field(None, gt=0)
    workers: int | None = Field(None, gt=0)
    id: str | None = Field(None, description="a label to tell apart two uses of the same stage")


class BranchSpec(InputSpec):
    """One of several inputs: how to read it, and the row-level stages its rows go through before the join.

    Inputs are read in the order listed; after each input's own ``stages`` (e.g. HTML extraction
    for WARCs, PDF extraction for PDFs) every document goes through the pipeline's shared
    ``stages``. Label each input with ``source`` so later stages and stats can tell them apart.
    """

    stages: list[StageSpec] = Field(default_factory=list, description="row-level stages for this input only")


class PipelineSpec(Strict):
    """A whole pipeline file: one ``input``, or several ``inputs`` that join before the shared stages."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    seed: int = 0
    workers: int | None = Field(None, gt=0, description="default workers per stage (default: cluster CPUs)")
    input: InputSpec | None = None
    inputs: list[BranchSpec] = Field(default_factory=list, description="several inputs, each with its own stages")
    output: OutputSpec
    stages: list[StageSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind_of_input(self) -> "PipelineSpec":
        if (self.input is None) == (not self.inputs):
            raise ValueError("give exactly one of `input` (one source) or `inputs` (a list of sources, each with "
                             "format, paths and optional stages)")
        return self

    def branches(self) -> list[BranchSpec]:
        """The inputs as branches: ``inputs``, or the single ``input`` with no stages of its own."""
        if self.inputs:
            return list(self.inputs)
        assert self.input is not None
        return [BranchSpec.model_validate(self.input.model_dump())]

    def all_stages(self) -> list[tuple[str, StageSpec]]:
        """Every stage with the key that locates it (``inputs[i].stages[j]`` then ``stages[k]``)."""
        out = [(f"inputs[{b}].stages[{j}]", st) for b, br in enumerate(self.inputs) for j, st in enumerate(br.stages)]
        return out + [(f"stages[{i}]", st) for i, st in enumerate(self.stages)]


def parse_sets(pairs: list[str] | None) -> dict[str, str]:
    """Turn ``["a.b=1", "DATA=/x"]`` into a dict; a pair without '=' is an error."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PipelineError([f"--set {pair!r}: expected KEY=VALUE, e.g. --set stages.0.params.min_chars=50"])
        out[key.strip()] = value
    return out


def _set_path(doc: Any, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = doc
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise PipelineError([f"--set {dotted}: {'.'.join(parts[:i]) or 'root'} is a list of {len(node)}; use an index 0..{len(node) - 1}"])
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise PipelineError([f"--set {dotted}: {'.'.join(parts[:i])} is a value, not a section"])


def _substitute(node: Any, env: dict[str, str], where: str, problems: list[str]) -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, env, f"{where}.{k}" if where else str(k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, env, f"{where}[{i}]", problems) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        def repl(m: re.Match[str]) -> str:
            var, default = m.group(1), m.group(2)
            if var in env:
                return env[var]
            if default is not None:
                return default
            problems.append(f"{where}: variable ${{{var}}} is not set; export {var}=... or pass --set {var}=...")
            return m.group(0)

        return VAR.sub(repl, node)
    return node


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the last key of ``loc``, to list its valid keys."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", {})
        if part not in fields:
            return None
        ann = fields[part].annotation
        args = getattr(ann, "__args__", ()) or ()
        candidates = [ann, *args]
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if current is None:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def explain(err: ValidationError, model: type[BaseModel], prefix: str = "") -> list[str]:
    """Turn pydantic errors into one line per key: where, what is wrong, what is valid."""
    problems = []
    for e in err.errors():
        loc = tuple(e["loc"])
        where = _loc(loc)
        if prefix:
            where = prefix + (("" if where.startswith("[") else ".") + where if where else "")
        if e["type"] == "extra_forbidden":
            owner = _model_at(model, loc)
            valid = sorted(owner.model_fields) if owner else []
            key = str(loc[-1])
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(f"{where}: unknown key; {hint}valid keys: {', '.join(valid)}")
        elif e["type"] == "missing":
            problems.append(f"{where}: required key is missing")
        else:
            got = e.get("input")
            shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
            problems.append(f"{where}: {e['msg']} (got {shown[:80]})")
    return problems


def load(path: str | Path, sets: list[str] | None = None, env: dict[str, str] | None = None) -> PipelineSpec:
    """Read, override, substitute and validate a pipeline file, stage parameters included."""
    path = Path(path)
    if not path.exists():
        raise PipelineError([f"{path}: no such pipeline file"], str(path))
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PipelineError([f"YAML syntax: {exc}"], str(path)) from exc
    return from_dict(doc, sets=sets, env=env, source=str(path))


def from_dict(
    doc: Any, sets: list[str] | None = None, env: dict[str, str] | None = None, source: str = "pipeline"
) -> PipelineSpec:
    """Validate a pipeline given as a dict (see ``load``)."""
    if not isinstance(doc, dict):
        raise PipelineError(["the file must be a mapping with name, input, output and stages"], source)
    overrides = parse_sets(sets)
    variables = dict(os.environ if env is None else env)
    for key, value in overrides.items():
        if "." in key or key in PipelineSpec.model_fields:
            try:
                _set_path(doc, key, yaml.safe_load(value) if value else value)
            except PipelineError as exc:
                raise PipelineError(exc.problems, source) from None
        else:
            variables[key] = value
    problems: list[str] = []
    doc = _substitute(doc, variables, "", problems)
    if problems:
        raise PipelineError(problems, source)
    try:
        spec = PipelineSpec.model_validate(doc)
    except ValidationError as exc:
        raise PipelineError(explain(exc, PipelineSpec), source) from None
    problems = check_stages(spec)
    from dataforge.readers import reader_names, get_reader

    sources = [("input", spec.input)] if spec.input is not None else [(f"inputs[{b}]", br) for b, br in enumerate(spec.inputs)]
    for where, inp in sources:
        if inp.format not in reader_names():
            close = difflib.get_close_matches(inp.format, reader_names(), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(f"{where}.format: unknown format {inp.format!r}; {hint}valid: {', '.join(reader_names())}")
        else:
            reader = get_reader(inp.format)
            try:
                reader.Options.model_validate(inp.options)
            except ValidationError as exc:
                problems += explain(exc, reader.Options, prefix=f"{where}.options")
    if problems:
        raise PipelineError(problems, source)
    return spec


def check_stages(spec: PipelineSpec) -> list[str]:
    """Check each stage name exists and its params validate against the stage's Params model."""
    from dataforge import registry

    from dataforge.stage import DatasetStage

    problems: list[str] = []
    for where, st in spec.all_stages():
        try:
            cls = registry.get(st.stage)
        except registry.UnknownStage as exc:
            problems.append(f"{where}.stage: {exc}")
            continue
        except ImportError as exc:
            problems.append(f"{where}.stage: {st.stage} needs a package that is not installed ({exc}); "
                            f"install the matching extra, e.g. pip install 'dataforge[web]'")
            continue
        if where.startswith("inputs[") and issubclass(cls, DatasetStage):
            problems.append(f"{where}.stage: {st.stage} works on the whole dataset; an input's own stages must be "
                            f"row-level (extract, filter, annotate): move it to the shared `stages` after the join")
        try:
            cls.Params.model_validate(st.params)
        except ValidationError as exc:
            problems += explain(exc, cls.Params, prefix=f"{where}.params")
    return problems

"""Mixture-domain labels from the source, the URL host and path, and an existing label column."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dataforge.schema import with_columns
from dataforge.stage import Annotator, StageParams


class Rule(BaseModel):
    """One rule: a document matching every given condition gets ``domain``."""

    model_config = ConfigDict(extra="forbid")
    domain: str
    hosts: list[str] = Field(default_factory=list, description="host patterns: 'arxiv.org' also matches subdomains; '*' wildcards allowed")
    paths: list[str] = Field(default_factory=list, description="regexes searched in the URL path, e.g. '^/wiki/'")
    sources: list[str] = Field(default_factory=list, description="values of the `source` column")

    @field_validator("paths")
    @classmethod
    def _regex(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"path pattern {p!r} is not a valid regex: {exc}") from None
        return v


class DomainRulesParams(StageParams):
    """Rules in order (first match wins), the column written, and the fallback."""

    rules: list[Rule] = Field(default_factory=list)
    column: str = Field("mix_domain", description="the mixture-domain column written")
    keep_existing: bool = Field(True, description="rows that already have a label in `column` keep it")
    fallback: str | None = Field(
        "web", description="label of documents no rule matches; null leaves them unlabelled for domain_classify_v1")


def _host_regex(pattern: str) -> str:
    pattern = pattern.lower().strip()
    body = re.escape(pattern).replace(r"\*", "[^/]*")
    return rf"^(?:[^/]*\.)?{body}$" if not pattern.startswith("*") else rf"^{body}$"


class DomainRules(Annotator):
    """Label each document's mixture domain (``mix_domain``) by source, URL host and path rules; a defined fallback otherwise.

    Rules are tried in order and the first match wins; a host pattern matches the host and
    its subdomains (``arxiv.org`` matches ``export.arxiv.org``). Vectorised with RE2 regexes.
    With ``fallback: null`` unmatched documents stay unlabelled (null), for ``domain_classify_v1``
    to label with a fastText model: rules first, the classifier for the rest.
    """

    name = "domain_rules_v1"
    Params = DomainRulesParams
    batch_size = 16384
    example = {"rules": [{"domain": "code", "hosts": ["github.com"]}]}

    def annotate(self, batch: pa.Table) -> pa.Table:
        """Add or fill the label column."""
        p: DomainRulesParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        url = pc.fill_null(batch.column("url"), "") if "url" in batch.column_names else pa.array([""] * n)
        parts = pc.extract_regex(url, r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://)?(?P<host>[^/?#:]*)(?::\d+)?(?P<path>[^?#]*)")
        host = pc.utf8_lower(pc.fill_null(pc.struct_field(parts, "host"), ""))
        path = pc.fill_null(pc.struct_field(parts, "path"), "")
        source = pc.fill_null(batch.column("source"), "") if "source" in batch.column_names else pa.array([""] * n)
        label = pa.nulls(n, pa.string())
        if p.keep_existing and p.column in batch.column_names:
            label = pc.cast(batch.column(p.column), pa.string())
        for rule in p.rules:
            match = pa.array(np.ones(n, dtype=bool))
            if rule.hosts:
                m = pa.array(np.zeros(n, dtype=bool))
                for h in rule.hosts:
                    m = pc.or_(m, pc.match_substring_regex(host, _host_regex(h)))
                match = pc.and_(match, m)
            if rule.paths:
                m = pa.array(np.zeros(n, dtype=bool))
                for rx in rule.paths:
                    m = pc.or_(m, pc.match_substring_regex(path, rx))
                match = pc.and_(match, m)
            if rule.sources:
                match = pc.and_(match, pc.is_in(source, value_set=pa.array(rule.sources, pa.string())))
            label = pc.if_else(pc.and_(pc.is_null(label), match), pa.scalar(rule.domain), label)
        if p.fallback is not None:
            label = pc.fill_null(label, p.fallback)
        return with_columns(batch, {p.column: label})

"""Rephrase web documents into higher-quality forms (textbook, Wikipedia, question–answer)."""

from __future__ import annotations

import re

from pydantic import Field

from dataforge.stages.synth.generation import SynthParams, SynthStage

#: Openers instruct models put before the answer, stripped from the response.
PREAMBLE = re.compile(r"^\s*(sure|certainly|of course|here is|here's)[^\n]{0,120}:\s*\n", re.IGNORECASE)


class RephraseParams(SynthParams):
    """Template (the style), engine, sampling; defaults follow Maini et al. 2024 (WRAP) styles."""

    template: str = Field("rephrase_textbook", description="rephrase_textbook, rephrase_wikipedia, rephrase_qa or a path")
    min_chars: int = Field(20, ge=0, description="shorter responses are quarantined as empty_response")


class Rephrase(SynthStage):
    """Rewrite each document in the template's style with an instruct model; one row per sample.

    The WRAP recipe (Maini et al. 2024) and Qwen's synthetic knowledge text: a web document
    becomes a textbook passage, a Wikipedia-style article or question–answer pairs. Synthetic
    rows have id ``<source id>/rephrase/<sample>``, ``source_id`` linking back, and the
    provenance columns (model, template + sha256, sampling, seed). Reasons for quarantined
    samples: ``generation_timeout``, ``generation_error``, ``empty_response``.
    """

    name = "rephrase_v1"
    Params = RephraseParams
    label = "rephrase"
    example = {"backend": {"engine": "echo"}, "template": "rephrase_textbook", "sampling": {"max_tokens": 256}}

    def parse(self, text: str) -> tuple[dict[str, str] | None, str | None]:
        """The response without a chatty preamble; too short is ``empty_response``."""
        p: RephraseParams = self.params  # type: ignore[assignment]
        body = PREAMBLE.sub("", text, count=1).strip()
        if len(body) < p.min_chars:
            return None, "empty_response"
        return {"text": body}, None

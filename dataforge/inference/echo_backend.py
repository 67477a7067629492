"""A model-free backend for dry runs: generation echoes the prompt's text, scores are word overlap.

``engine: echo`` checks a pipeline's templates, columns and bookkeeping end to end without
loading a model; its output is not synthetic data.
"""

from __future__ import annotations

import re

from dataforge.inference.base import ChatMessage, Completion, EchoConfig, SamplingParams, as_messages

WORD = re.compile(r"\w+")


class EchoBackend:
    """Answers each prompt with its last user message, cut to ``max_tokens`` words."""

    def __init__(self, config: EchoConfig) -> None:
        """Store the config; there is nothing to load."""
        self.config = config
        self.model_id = config.model

    def generate(self, prompts: list[list[ChatMessage]] | list[str], params: SamplingParams,
                 keys: list[str] | None = None) -> list[list[Completion]]:
        """``params.n`` copies of each prompt's last user message (its text parts; images are ignored)."""
        out = []
        for p in prompts:
            msgs = as_messages(p)
            content = next((m["content"] for m in reversed(msgs) if m["role"] == "user"), "")
            user = content if isinstance(content, str) else " ".join(
                part.get("text", "") for part in content if part.get("type") == "text")
            words = user.split()
            text = " ".join(words[: params.max_tokens])
            reason = "length" if len(words) > params.max_tokens else "stop"
            out.append([Completion(text=text, finish_reason=reason, n_prompt_tokens=len(words),
                                   n_tokens=min(len(words), params.max_tokens))] * params.n)
        return out

    def score(self, pairs: list[tuple[str, str]]) -> list[float]:
        """Jaccard overlap of the prompt's and the response's lowercase words."""
        self.last_score_errors: list[str | None] = [None] * len(pairs)
        scores = []
        for prompt, response in pairs:
            a, b = set(WORD.findall(prompt.lower())), set(WORD.findall(response.lower()))
            scores.append(len(a & b) / len(a | b) if a | b else 0.0)
        return scores

    def close(self) -> None:
        """Nothing to release."""

"""Prompt templates: editable text files with ``{{ variable }}`` slots, checked when a pipeline is validated.

A template is the user message, or, with section lines, a system and a user message::

    ### system
    You are a careful writer.
    ### user
    Rewrite this as a textbook section:
    {{ text }}

A bare name (``rephrase_textbook``) means ``pipelines/prompts/<name>.txt`` shipped with
dataforge; anything with a slash or a ``.txt`` suffix is a path. Variables are the document's
columns (core ones always; others listed in the stage's ``columns``) and the stage's own.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from dataforge.inference.base import ChatMessage

#: Where the shipped templates live (the repository's pipelines/prompts).
PROMPTS_DIR = Path(__file__).resolve().parents[2] / "pipelines" / "prompts"
SLOT = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
SECTION = re.compile(r"^###\s*(system|user)\s*$", re.MULTILINE)
#: Document columns every batch has, usable in any template.
CORE_VARIABLES = ("id", "text", "source", "url", "domain", "language")


def resolve(name: str) -> Path:
    """The file a template name or path refers to; a missing file is an error naming the fix."""
    looks_like_path = "/" in name or name.endswith(".txt")
    path = Path(name).expanduser() if looks_like_path else PROMPTS_DIR / f"{name}.txt"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in PROMPTS_DIR.glob("*.txt"))) or "none"
        raise ValueError(f"template {name!r}: no such file {path}; give a path to a .txt file or a shipped name ({shipped})")
    return path.resolve()


@dataclass
class PromptTemplate:
    """A loaded template: its name, text, checksum and the variables it uses."""

    name: str
    path: Path
    text: str
    sha256: str
    variables: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, name: str) -> "PromptTemplate":
        """Read a template by name or path."""
        path = resolve(name)
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            raise ValueError(f"template {name!r} ({path}) is empty; write the prompt with {{{{ text }}}} where the document goes")
        variables = sorted(set(SLOT.findall(text)))
        return cls(path.stem, path, text, hashlib.sha256(text.encode()).hexdigest(), variables)

    def check(self, known: list[str] | tuple[str, ...], key: str = "template") -> None:
        """Raise a ValueError naming each variable that is neither a column nor a stage variable."""
        unknown = [v for v in self.variables if v not in known]
        if unknown:
            names = ", ".join(f"{{{{ {v} }}}}" for v in unknown)
            raise ValueError(
                f"{key}: template {self.name!r} ({self.path}) uses {names}, which is not a known variable "
                f"(known: {', '.join(sorted(set(known)))}); fix the template, or list the column in params.columns"
            )

    def render(self, values: dict[str, str]) -> list[ChatMessage]:
        """The chat messages for one row's values (missing or null values render as empty text)."""
        filled = SLOT.sub(lambda m: "" if values.get(m.group(1)) is None else str(values[m.group(1)]), self.text)
        parts = SECTION.split(filled)
        if len(parts) == 1:
            return [ChatMessage(role="user", content=filled.strip())]
        messages = []
        for role, body in zip(parts[1::2], parts[2::2]):
            if body.strip():
                messages.append(ChatMessage(role=role, content=body.strip()))  # type: ignore[arg-type]
        return messages

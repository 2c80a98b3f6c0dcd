"""Prompt templates as files; the loader returns their text and a content-hash version.

Every answer records the versions of the prompts it used, so a dataset exported from
the log reproduces exactly what the model saw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["Prompt", "load_prompt", "prompt_names"]


@dataclass(frozen=True, slots=True)
class Prompt:
    name: str
    text: str
    #: First 12 hex digits of the SHA-256 of the text: changes whenever the wording does.
    version: str

    def render(self, **values: str) -> str:
        """Fill ``{placeholders}``; a missing value is an error, not an empty string."""
        return self.text.format(**values)


def prompt_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".txt")
        for p in resources.files(__package__).iterdir()
        if p.name.endswith(".txt")
    )


@cache
def load_prompt(name: str) -> Prompt:
    """Load ``prompts/<name>.txt``; raises ``KeyError`` naming the known prompts."""
    path = resources.files(__package__) / f"{name}.txt"
    if not path.is_file():
        raise KeyError(f"no prompt {name!r}; known: {', '.join(prompt_names())}")
    text = path.read_text(encoding="utf-8")
    return Prompt(name=name, text=text, version=hashlib.sha256(text.encode()).hexdigest()[:12])

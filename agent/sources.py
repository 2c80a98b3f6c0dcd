"""Which documents an answer shows, for every adapter alike.

An answer from the knowledge base always names documents: the ones it cites, and when
it cites none, the ones it was given to read (marked as consulted, not cited), so a
reader can check where it came from. An answer of the tuned model shows only what it
cites (a model trained with context may cite).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from askloop.agent.answers import AnswerRecord

__all__ = ["CITED_LABEL", "CONSULTED_LABEL", "ShownSource", "SourceList", "shown_sources"]

CITED_LABEL = "Sources"
CONSULTED_LABEL = "Consulted (not cited)"


@dataclass(frozen=True, slots=True)
class ShownSource:
    title: str
    source: str
    url: str
    chunk_id: str
    #: The ``[n]`` the answer cites it by; None for a consulted document.
    n: int | None = None


@dataclass(frozen=True, slots=True)
class SourceList:
    kind: Literal["cited", "consulted"]
    items: tuple[ShownSource, ...]

    @property
    def label(self) -> str:
        return CITED_LABEL if self.kind == "cited" else CONSULTED_LABEL


def shown_sources(record: AnswerRecord) -> SourceList | None:
    """The documents to show under ``record``'s answer, or None (nothing to show: an
    apology, or a tuned-model answer that cites nothing)."""
    if record.error:
        return None
    if record.citations:
        cited = sorted(record.citations, key=lambda c: c.n)
        return SourceList(
            "cited",
            tuple(ShownSource(c.title, c.source, c.url, c.chunk_id, c.n) for c in cited),
        )
    if record.route == "finetuned":
        return None
    chunks = {c.chunk_id: c for c in record.retrieved}
    shown: dict[str, ShownSource] = {}  # one entry per document, in the order given
    for chunk_id in record.context:
        chunk = chunks.get(chunk_id)
        if chunk is not None and (chunk.source or chunk.title) not in shown:
            shown[chunk.source or chunk.title] = ShownSource(
                chunk.title, chunk.source, chunk.url, chunk.chunk_id
            )
    return SourceList("consulted", tuple(shown.values())) if shown else None

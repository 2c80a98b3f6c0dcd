"""Which documents an answer shows, for every adapter alike.

An answer from the knowledge base always names documents: the ones it cites, and when
it cites none, the ones it was given to read (marked as consulted, not cited), so a
reader can check where it came from. An answer of the tuned model shows only what it
cites (a model trained with context may cite). A document is listed once, however many
of its chunks the answer cites: under the first marker, with the others beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from askloop.agent.answers import AnswerRecord

__all__ = [
    "CITED_LABEL",
    "CONSULTED_LABEL",
    "ShownSource",
    "SourceList",
    "first_marks",
    "shown_sources",
]

CITED_LABEL = "Sources"
CONSULTED_LABEL = "Consulted (not cited)"


@dataclass(frozen=True, slots=True)
class ShownSource:
    title: str
    source: str
    url: str
    chunk_id: str
    #: The ``[n]`` markers the answer cites it by, lowest first; () for a consulted document.
    marks: tuple[int, ...] = ()

    @property
    def n(self) -> int | None:
        """The first marker that cites it; None for a consulted document."""
        return self.marks[0] if self.marks else None

    @property
    def mark(self) -> str:
        """Its markers as the answer writes them (``[1][3]``); "" for a consulted one."""
        return "".join(f"[{n}]" for n in self.marks)


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
        cited: dict[str, ShownSource] = {}  # one entry per document, by its first marker
        for c in sorted(record.citations, key=lambda c: c.n):
            held = cited.get(c.source or c.title)
            marks = (*held.marks, c.n) if held else (c.n,)
            first = held or ShownSource(c.title, c.source, c.url, c.chunk_id)
            cited[c.source or c.title] = replace(first, marks=marks)
        return SourceList("cited", tuple(cited.values()))
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


def first_marks(record: AnswerRecord) -> dict[int, int]:
    """Each ``[n]`` the answer cites -> the first marker citing the same document, for
    renderings that show one entry per marker (Teams' citations)."""
    sources = shown_sources(record)
    if sources is None or sources.kind != "cited":
        return {}
    return {n: item.marks[0] for item in sources.items for n in item.marks}

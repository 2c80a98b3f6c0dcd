"""Plain data that crosses the ports: chunks of documents and search hits."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "Chunk",
    "Hit",
    "SearchMode",
    "SEARCH_MODES",
    "chunk_id_for",
    "document_id_for",
    "search_text_for",
]

SearchMode = Literal["hybrid", "keyword", "vector"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "keyword", "vector")


def document_id_for(source: str) -> str:
    """Stable id of a document from its canonical source (absolute path or URL)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:24]


def chunk_id_for(document_id: str, position: int, text: str) -> str:
    """Content-addressed chunk id: the same text at the same place keeps its id."""
    digest = hashlib.sha256(f"{document_id}\x1f{position}\x1f{text}".encode()).hexdigest()
    return digest[:32]


def search_text_for(*, title: str, heading_path: Sequence[str], text: str) -> str:
    """What is embedded and keyword-indexed for a chunk: title and headings give the
    text context. The chunker sizes chunks by this whole text."""
    context = " > ".join((title, *heading_path))
    return f"{context}\n{text}" if context else text


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of one document, the unit that is embedded, searched and cited."""

    chunk_id: str
    document_id: str
    #: Hash of the whole document's content when it was ingested (detects changes).
    document_hash: str
    text: str
    title: str
    #: Canonical location: absolute file path or URL.
    source: str
    position: int
    heading_path: tuple[str, ...] = ()
    #: Link shown in citations, when the document has one.
    url: str = ""
    updated_at: datetime | None = None
    #: Free-form string metadata; ``doc_type`` and ``acl`` are filterable.
    doc_type: str = ""
    acl: str = ""

    @property
    def search_text(self) -> str:
        """What is embedded and keyword-indexed (see ``search_text_for``)."""
        return search_text_for(title=self.title, heading_path=self.heading_path, text=self.text)


@dataclass(frozen=True, slots=True)
class Hit:
    """A chunk returned by a search, with its score in the mode that produced it.

    ``score`` is comparable within one mode: BM25 for keyword, cosine similarity for
    vector, fused score in [0, 1] for hybrid. The per-side scores are kept when known
    (the router and grader use them).
    """

    chunk: Chunk
    score: float
    mode: SearchMode
    vector_score: float | None = None
    keyword_score: float | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        c = self.chunk
        return {
            "chunk_id": c.chunk_id,
            "title": c.title,
            "source": c.source,
            "url": c.url,
            "heading_path": list(c.heading_path),
            "score": round(self.score, 6),
            "text": c.text,
        }

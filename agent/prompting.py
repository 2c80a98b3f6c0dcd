"""How retrieved chunks are shown to a model. Shared by the graph and the dataset
export, so a model trained on exported data sees exactly the shape it sees live."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

__all__ = ["ShownDocument", "documents_block"]


class ShownDocument(Protocol):
    @property
    def title(self) -> str: ...

    @property
    def text(self) -> str: ...


def _heading_path(doc: object) -> Sequence[str]:
    if isinstance(doc, dict):
        return doc.get("heading_path") or ()
    return getattr(doc, "heading_path", ()) or ()


def _field(doc: object, name: str) -> str:
    return str(doc[name] if isinstance(doc, dict) else getattr(doc, name))


def documents_block(docs: Iterable[object]) -> str:
    """Numbered, delimited documents: data for the model, never instructions."""
    blocks = []
    for n, doc in enumerate(docs, 1):
        where = " > ".join([_field(doc, "title"), *_heading_path(doc)])
        where = where.replace('"', "'")
        blocks.append(f'<document index="{n}" title="{where}">\n{_field(doc, "text")}\n</document>')
    return "\n".join(blocks)

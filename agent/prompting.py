"""How retrieved chunks are shown to a model. Shared by the graph and the dataset
export, so a model trained on exported data sees exactly the shape it sees live."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol

__all__ = ["ShownDocument", "documents_block", "fenced"]

# The fence is a <document> tag. Any tag of that name inside a document's own text
# (opening or closing, any case or spacing: "</document>", "< / Documents >") would
# let the text end its fence early and speak outside it, so its "<" is escaped.
_FENCE_TAG = re.compile(r"<(?=\s*/?\s*documents?\b)", re.IGNORECASE)


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


def fenced(text: str) -> str:
    """``text`` with every fence tag it contains made inert (``<`` -> ``&lt;``)."""
    return _FENCE_TAG.sub("&lt;", text)


def _attribute(value: str) -> str:
    """A title as an attribute value: it can neither close the quote nor open a tag
    (a ">" inside the quotes ends nothing, and " > " joins heading paths)."""
    return value.replace('"', "'").replace("<", "&lt;")


def documents_block(docs: Iterable[object]) -> str:
    """Numbered, delimited documents: data for the model, never instructions."""
    blocks = []
    for n, doc in enumerate(docs, 1):
        where = _attribute(" > ".join([_field(doc, "title"), *_heading_path(doc)]))
        text = fenced(_field(doc, "text"))
        blocks.append(f'<document index="{n}" title="{where}">\n{text}\n</document>')
    return "\n".join(blocks)

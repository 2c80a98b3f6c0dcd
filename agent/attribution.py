"""Citing, after the fact, the document an uncited answer was taken from.

Small local models answer from the documents but rarely write the ``[n]`` markers
they are asked for, so their answers would show no sources. When an answer made from
the knowledge base cites nothing, the document it demonstrably draws on is cited for
it: most of the answer's content words are in that document, and so is every number
the answer states (an answer that changes "26 days" to "30 days" is not attributed).
The trace records that the citation was attributed, not written by the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from askloop.agent.state import HitData
from askloop.agent.text import content_words

__all__ = ["MIN_SHARE", "MIN_WORDS", "attribute"]

#: Share of the answer's content words the document must contain.
MIN_SHARE = 0.6
#: And at least this many of them (a two-word answer proves nothing).
MIN_WORDS = 3
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def attribute(answer: str, docs: Sequence[HitData]) -> int | None:
    """The number (1-based) of the document ``answer`` is drawn from, or None."""
    said = set(content_words(answer))
    numbers = set(_NUMBER.findall(answer))
    best, best_share = None, 0.0
    for n, doc in enumerate(docs, 1):
        source = " ".join([doc["title"], *doc["heading_path"], doc["text"]])
        found = said & set(content_words(source))
        share = len(found) / len(said) if said else 0.0
        if (
            len(found) >= MIN_WORDS
            and share >= MIN_SHARE
            and numbers <= set(_NUMBER.findall(source))
            and share > best_share
        ):
            best, best_share = n, share
    return best

"""Answers that say only what the documents say.

Two styles (``[graph] answer_style``; "auto" is grounded for the local model, whose own
answers are unreliable, and generative for any other):

- **grounded**: the answer leads with the sentence(s) of the documents that answer the
  question (agent/quotes.py), quoted with their citation. The model's own wording
  follows only when every number and name it states is in a document it was shown
  (its quoted document, or one it cites) or in the question; a sentence that only
  restates the quote, says nothing was found, is cut off by the token limit, or whose
  words are mostly not the documents' (``MIN_SHARE`` of agent/attribution.py: "The
  document is a list of days, not a list of days.") is left out. When nothing is
  left, the quote stands alone. When even the best sentence scores under
  ``MIN_QUOTE_SCORE`` (agent/quotes.py's score), none answers the question: the hits
  were a near neighbour of what was asked ("Access Requests" → a page that mentions
  Gatehouse in passing), and the answer step gives up as when they grade poor. So it
  does when the best sentence sends the reader to the very name asked about ("For
  temporary files see the tempfile module." asked "How does tempfile work?",
  agent/quotes.py ``refers_elsewhere``): that thing's own page is not among the hits.
- **generative**: the model's answer, less each sentence that states a number or a name
  found in no document it was given and not in the question; when nothing is left, the
  quote stands in for it.

``Outcome`` names what happened; the answer step records it in the decision trace.
Pure functions: the node calls the model and the embedder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from askloop.agent.attribution import MIN_SHARE
from askloop.agent.facts import Vocabulary, sentences, unsupported, vocabulary
from askloop.agent.quotes import Quote
from askloop.agent.state import HitData
from askloop.agent.text import content_words

__all__ = [
    "GROUNDED_DOCS",
    "GROUNDED_MAX_TOKENS",
    "MIN_QUOTE_SCORE",
    "Grounded",
    "Outcome",
    "check_generative",
    "compose_grounded",
    "quote_block",
    "resolve_style",
    "source_texts",
]

#: Documents a grounded answer's model reads: the quoted ones first, then the next hits.
GROUNDED_DOCS = 2
#: A grounded answer's own wording is a sentence or two after the quote.
GROUNDED_MAX_TOKENS = 120
#: A best sentence scoring less than this answers nothing that was asked. Chosen on the
#: sample handbook only (bench/decisions.py's labelled questions graded good): of 93
#: answerable questions, 1 quote scores under it (0.74, a heading-like fragment); of 28
#: questions about held-out pages, 7 (0.76-0.84); 0.87 would also stop 3 more of those
#: and one right answer (0.86).
MIN_QUOTE_SCORE = 0.85

#: "quote+model": quote, then the model's wording; "quote": the quote alone;
#: "model": the model's answer as written; "model_trimmed": less its unsupported
#: sentences; "quote_fallback": none of it was supported, the quote replaces it;
#: "unsupported": none of it was supported and there is nothing to quote.
Outcome = Literal["quote+model", "quote", "model", "model_trimmed", "quote_fallback", "unsupported"]

_MARKER = re.compile(r"\[(\d{1,3})\]")
# The model saying it found nothing: wrong next to a quote that answers.
_NOTHING_FOUND = re.compile(
    r"could ?n[o']t find|can ?n[o']t find|unable to find|no information|not (?:found|mentioned|"
    r"specified|provided|stated) in|do(?:es)? not (?:contain|mention|say|specify|provide)",
    re.IGNORECASE,
)


# How a finished sentence ends (a list item or a short phrase may end without one).
_FINISHED = re.compile(r"[.!?…:;)\]\"'”`*]\s*$")


def _unfinished(sentence: str) -> bool:
    """Cut off by the token limit: a long last sentence with no final punctuation."""
    return len(sentence.split()) >= 6 and not _FINISHED.search(sentence)


@dataclass(frozen=True, slots=True)
class Grounded:
    answer: str
    outcome: Outcome
    #: Numbers and names of the model's answer that no document (nor the question) holds.
    unsupported: tuple[str, ...] = ()
    #: The model's sentences left out (unsupported, restating the quote, "not found").
    dropped: int = 0
    reasons: tuple[str, ...] = field(default=())


def resolve_style(style: str, model_id: str) -> Literal["grounded", "generative"]:
    """The answer style in effect: "auto" is grounded for the local model."""
    if style == "auto":
        return "grounded" if model_id.startswith("local:") else "generative"
    return "grounded" if style == "grounded" else "generative"


def source_texts(hit: HitData) -> list[str]:
    return [hit["title"], *hit["heading_path"], hit["text"]]


def _known(question: str, docs: Sequence[HitData]) -> Vocabulary:
    return vocabulary([question, *(t for d in docs for t in source_texts(d))])


def quote_block(quotes: Sequence[Quote], numbers: dict[int, int]) -> str:
    """The quotes as the answer leads with them: “…” [n], each with its document's
    number (``numbers``: hit index -> [n])."""
    parts = []
    for q in quotes:
        text = q.text.strip()
        if text and text[-1] not in ".!?…":
            text += "."
        parts.append(f"“{text}” [{numbers[q.doc]}]")
    return " ".join(parts)


def _cited(sentence: str, docs: Sequence[HitData]) -> list[HitData]:
    numbers = {int(n) for n in _MARKER.findall(sentence)}
    return [d for n, d in enumerate(docs, 1) if n in numbers]


def compose_grounded(
    question: str,
    quote: str,
    quoted_docs: Sequence[HitData],
    model_text: str,
    shown: Sequence[HitData],
) -> Grounded:
    """The quote, then the model's wording where it is supported and adds something.

    ``quoted_docs`` hold the quote; ``shown`` are the documents [1]..[n] the model read.
    """
    if not model_text.strip():
        return Grounded(quote, "quote", reasons=("no_model_text",))
    said = set(content_words(quote)) | set(content_words(question))
    kept: list[str] = []
    missing: list[str] = []
    reasons: list[str] = []
    pieces = sentences(model_text)
    for sentence in pieces:
        known = _known(question, [*quoted_docs, *_cited(sentence, shown)])
        bad = unsupported(sentence, known)
        if bad:
            missing += bad
        elif _NOTHING_FOUND.search(sentence):
            reasons.append("says_not_found")
        elif (words := set(content_words(_MARKER.sub(" ", sentence)))) <= said:
            reasons.append("restates_quote")
        elif len(words & known.words) < MIN_SHARE * len(words):
            reasons.append("not_from_documents")
        elif sentence is pieces[-1] and _unfinished(sentence):
            reasons.append("unfinished")
        else:
            kept.append(sentence)
    dropped = len(pieces) - len(kept)
    if missing:
        # One invented fact and the rest of its wording is not to be trusted either.
        invented = tuple(dict.fromkeys(missing))
        return Grounded(quote, "quote", invented, len(pieces), ("unsupported",))
    why = tuple(dict.fromkeys(reasons))
    if not kept:
        return Grounded(quote, "quote", (), dropped, why)
    wording = model_text.strip() if not dropped else " ".join(kept)
    return Grounded(f"{quote}\n\n{wording}", "quote+model", (), dropped, why)


def check_generative(question: str, model_text: str, docs: Sequence[HitData]) -> Grounded:
    """The model's answer less its sentences stating a number or name that none of
    ``docs`` (the documents it was given) nor the question holds. An answer left empty
    has outcome "unsupported": the caller puts the quote in its place."""
    known = _known(question, docs)
    missing: list[str] = []
    text = model_text
    dropped = 0
    for sentence in sentences(model_text):
        bad = unsupported(sentence, known)
        if bad:
            missing += bad
            dropped += 1
            text = text.replace(sentence, "", 1)
    if not missing:
        return Grounded(model_text, "model")
    text = re.sub(r"[ \t]+\n", "\n", re.sub(r"\n{3,}", "\n\n", text)).strip()
    outcome: Outcome = "model_trimmed" if re.search(r"\w", _MARKER.sub("", text)) else "unsupported"
    return Grounded(text, outcome, tuple(dict.fromkeys(missing)), dropped, ("unsupported",))

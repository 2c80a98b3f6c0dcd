"""The sentence (or table row) of the retrieved documents that answers a question.

Every sentence, list item and table row of the hits is a candidate. Each is scored
against the question:

    score = W_COSINE·cosine + W_TERMS·terms + W_NUMBERS·numbers + W_HEADING·heading
            + W_KIND·kind + W_ROW·row + W_RANK·rank − W_INTRO·intro

- ``cosine``: the embedder's similarity of the question and the candidate prefixed with
  its section's heading (the MiniLM that already embeds the queries; only the
  ``EMBEDDED`` best candidates by the other features are embedded);
- ``terms`` / ``numbers``: the share of the question's key words and names / of its
  numbers the candidate holds (agent/evidence.py's key terms);
- ``heading``: the share of them in the hit's title and headings;
- ``kind``: the question asks for an amount, a time, a date or a number to call ("how
  many", "when", "what time", "who do I call", ...) and the candidate states a number;
- ``row``: a table row whose first cell (its key) names one of the question's terms;
- ``rank``: the hit's place in the search (1 for the first, falling to 0);
- ``intro``: the candidate ends with ":" (it introduces an answer, it is not one);
- ``pointer``: it points elsewhere ("See the VPN page ...", "This page explains ...").

The best candidate is quoted, and the second best as well when it scores within
``SECOND_WITHIN`` of it (the answer is often split over two sentences: "You may carry
over up to 5 days." / "Carried-over days must be used by 31 March.").

The weights were chosen on the sample handbook (a grid search over the questions of
kb/QUESTIONS.md: the quote holds the expected fact for 37 of 43, top candidate alone
27); the wiki pairs of bench/answer_quality.py are held out. No model call, no new
weights.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from askloop.agent.evidence import key_terms, terms_in, uncommon_words
from askloop.agent.facts import sentences
from askloop.agent.ports import Embedder
from askloop.agent.state import HitData
from askloop.agent.text import stem

__all__ = [
    "Candidate",
    "Quote",
    "candidates",
    "choose_quotes",
    "rank_candidates",
    "refers_elsewhere",
]

W_COSINE = 1.0
W_TERMS = 0.1
W_NUMBERS = 0.3
W_HEADING = 0.15
W_KIND = 0.25
W_ROW = 0.3
W_RANK = 0.3
W_INTRO = 0.3
W_POINTER = 0.3
#: The second-best candidate is quoted too when its score is within this of the best.
SECOND_WITHIN = 0.25
#: Candidates embedded per question (the best by the other features).
EMBEDDED = 24
#: A quote is at most this long; a longer candidate is cut at a word.
MAX_QUOTE_CHARS = 400

_ASKS_NUMBER = re.compile(
    r"\b(how (many|much|long|often|soon|quickly|fast|far|old)|when|what time|which day|"
    r"what day|what year|which year|what date|deadline|limit|cap|maximum|minimum|most|"
    r"least|phone|call|dial|number|address|extension|pin)\b",
    re.IGNORECASE,
)
# A sentence about where the answer is, not the answer: "See the VPN page", "This page
# explains ...".
_POINTER = re.compile(
    r"^(?:see|this (?:page|policy|document|section|guide)|for more|read more)\b|\(see ",
    re.IGNORECASE,
)
# "see the tempfile module", "please see random.SystemRandom", "refer to the VPN page":
# the word after a referral, past an article.
_REFERRAL = re.compile(
    r"\b(?:see|refer to|consult)\s+(?:also\s+)?(?:the\s+|an?\s+)?([\w.-]*\w)", re.IGNORECASE
)
_DIGIT = re.compile(r"\d")
_EMPHASIS = re.compile(r"\*\*|__")
_LIST_MARK = re.compile(r"^(?:[-*+>]\s+|\d+[.)]\s+|#+\s+)")
_TABLE_RULE = re.compile(r"^\|?[\s:|-]+\|?$")


@dataclass(frozen=True, slots=True)
class Candidate:
    #: Index of its hit in the hits given (0-based).
    doc: int
    #: Its place in the hit's text.
    position: int
    #: As shown in a quote: emphasis and list marks removed, a table row as
    #: "Header: cell; Header: cell".
    text: str
    #: A table row's first cell ("" for a sentence).
    key: str = ""


@dataclass(frozen=True, slots=True)
class Quote:
    #: Index of its hit in the hits given (0-based).
    doc: int
    text: str
    score: float


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _clean(text: str) -> str:
    return _LIST_MARK.sub("", _EMPHASIS.sub("", text)).strip()


def candidates(hits: Sequence[HitData]) -> list[Candidate]:
    out: list[Candidate] = []
    for doc, hit in enumerate(hits):
        header: list[str] | None = None
        position = 0
        for line in hit["text"].splitlines():
            stripped = line.strip()
            if not stripped.startswith("|"):
                header = None
                for sentence in sentences(stripped):
                    text = _clean(sentence)
                    if len(text.split()) >= 2:
                        out.append(Candidate(doc, position, text))
                        position += 1
                continue
            if _TABLE_RULE.match(stripped):
                continue
            cells = [_clean(c) for c in _cells(stripped)]
            if header is None:
                header = cells
                continue
            pairs = zip(header, cells, strict=False)
            text = "; ".join(f"{h}: {c}" if h else c for h, c in pairs if c)
            out.append(Candidate(doc, position, text, key=cells[0] if cells else ""))
            position += 1
    return out


def _share(wanted: Sequence[str], found: frozenset[str]) -> float:
    return sum(w in found for w in wanted) / len(wanted) if wanted else 0.0


#: The features of ``_features``, in order, and their weights.
FEATURES = ("terms", "numbers", "heading", "kind", "row", "rank", "intro", "pointer")


def weights() -> tuple[float, ...]:
    return (W_TERMS, W_NUMBERS, W_HEADING, W_KIND, W_ROW, W_RANK, -W_INTRO, -W_POINTER)


def _features(
    question: str, hits: Sequence[HitData], items: Sequence[Candidate]
) -> list[tuple[float, ...]]:
    """Each candidate's ``FEATURES`` (all but the cosine)."""
    terms = key_terms(question)
    words = terms.names + terms.words
    asks_number = bool(_ASKS_NUMBER.search(question))
    headings = [terms_in(h["title"], *h["heading_path"]) for h in hits]
    out: list[tuple[float, ...]] = []
    for c in items:
        found = terms_in(c.text)
        out.append(
            (
                _share(words, found),
                _share(terms.numbers, found),
                _share(words, headings[c.doc] | found),
                float(asks_number and bool(_DIGIT.search(c.text))),
                float(bool(c.key) and bool(set(words) & terms_in(c.key))),
                1 - c.doc / len(hits),
                float(c.text.endswith(":")),
                float(bool(_POINTER.search(c.text))),
            )
        )
    return out


def refers_elsewhere(question: str, text: str, everyday: frozenset[str] = frozenset()) -> str:
    """The name the question asks about that ``text`` sends the reader elsewhere for
    ("For temporary files see the tempfile module." asked "How does tempfile work?";
    "please see random.SystemRandom" asked about random), or "".

    A passage that refers to the asked-about thing by its name is not that thing's
    documentation: the knowledge base holds a neighbour of what was asked. Only a name
    counts (an identifier, a capitalised word, a word of no everyday English by
    ``everyday``; a dotted one by its first part too): "see the expenses page" asked
    about expenses points to more, it does not say the topic lives elsewhere."""
    terms = key_terms(question)
    asked = {*terms.names, *terms.words}
    for match in _REFERRAL.finditer(text):
        written = match.group(1).removesuffix("'s").removesuffix("’s")
        if not _named(written, everyday):
            continue
        target = written.lower()
        for form in (target, target.split(".")[0]):
            if form in asked or stem(form) in asked:
                return form
    return ""


def _named(word: str, everyday: frozenset[str]) -> bool:
    return "." in word or "_" in word or word[:1].isupper() or bool(uncommon_words(word, everyday))


def _lexical(question: str, hits: Sequence[HitData], items: Sequence[Candidate]) -> list[float]:
    w = weights()
    return [sum(a * b for a, b in zip(w, f, strict=True)) for f in _features(question, hits, items)]


def _cut(text: str) -> str:
    if len(text) <= MAX_QUOTE_CHARS:
        return text
    return text[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def choose_quotes(question: str, hits: Sequence[HitData], embedder: Embedder) -> list[Quote]:
    """The best candidate of ``hits`` for ``question`` (and the second best when close),
    in the order they stand in the hits; empty when the hits hold no text."""
    ranked = rank_candidates(question, hits, embedder)
    chosen = ranked[:1] + [r for r in ranked[1:2] if r[1] >= ranked[0][1] - SECOND_WITHIN]
    chosen.sort(key=lambda pair: (pair[0].doc, pair[0].position))
    return [Quote(c.doc, _cut(c.text), score) for c, score in chosen]


def rank_candidates(
    question: str, hits: Sequence[HitData], embedder: Embedder
) -> list[tuple[Candidate, float]]:
    """Candidates of ``hits`` with their scores, best first (only the embedded ones)."""
    items = candidates(hits)
    if not items:
        return []
    lexical = _lexical(question, hits, items)
    order = sorted(range(len(items)), key=lambda i: -lexical[i])[:EMBEDDED]
    shown = [_in_section(hits[items[i].doc], items[i].text) for i in order]
    vectors = embedder.embed_documents(shown)
    cosines = np.asarray(vectors) @ np.asarray(embedder.embed_query(question)).reshape(-1)
    scored = [
        (items[i], lexical[i] + W_COSINE * float(cos))
        for i, cos in zip(order, cosines, strict=True)
    ]
    return sorted(scored, key=lambda pair: -pair[1])


def _in_section(hit: HitData, text: str) -> str:
    """``text`` as the embedder reads it: after its section's heading ("Dogs: only ...")."""
    heading = (hit["heading_path"] or [hit["title"]])[-1]
    return f"{heading}: {text}" if heading else text

"""The evidence router: one fixed logistic decision over what the probe's hits show.

The probe router (agent/routing.py) adds lexical evidence to the best cosine with hand-set
weights and compares the sum with a corpus-dependent threshold. This router weighs more
of the hits' evidence, each feature computed without corpus statistics (no fit per
tenant): the best cosine and how far it stands out, a title naming the subject, the share
of the question's words where a hit states its subject, in the hits at all, in one hit
and by BM25, the probe router's own score, and the question's form (agent/calibration.py
computes them). Weights and threshold were fitted once on the sample handbook's labelled
questions of bench/decisions.py (the tuning corpus; wiki and python3-doc are held out):
a logistic regression (C 0.1), the threshold letting through 97 % of its answerable
questions (the issue 14 target; the calibrated router's RECALL_QUANTILE likewise);
bench/fit_evidence.py refits them and prints the constants.

When the tenant's word counts are known (``askloop ingest`` writes them from its own
text, integrations/tuning/router.py), a second fit on the same questions also weighs
``corpus_coverage``: how much of the question (by rarity) the corpus uses anywhere. A
question on words the corpus never uses is about something it does not hold, however near
the probe's neighbours (bench/decisions.py, handbook absent 0.58 -> 0.47 searched at the
same 97 % of answerable ones).

A question that names one of the tenant's distinctive headings as a phrase ("What is the
class-based API?" on a page with a "Class-based API" section) is searched whatever the
weights say: the knowledge base has a section of that name, and the vector probe, which
reads meaning and not names, can miss it (on a python3-doc draw its neighbours were the
ast page's "class" sections). ``heading_index`` keeps the headings of at least
``MIN_HEADING_WORDS`` words, one of them a content word, that head sections of at most
``MAX_HEADING_DOCUMENTS`` documents ("Module contents" on every page of a reference names
no section in particular); ``askloop ingest`` stores them with the word counts. Both
constants were chosen on the handbook: there it searches 3 more of its 100 answerable
questions and no absent question or small talk (1 document: 2 more).

``one_hit_coverage`` (the largest share of the question's words one hit holds) tells a
section about the question from near neighbours that each hold a few of its words: on the
handbook it lowered the absent questions searched from 0.47 to 0.33 at the same 97 % of
answerable ones, the best of eight coverage variants tried there (by rarity, in the top
hit only, in titles and headings...; bench/fit_evidence.py lists them). A question of one
or two words counts for less: its words are easily found in one hit.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Literal

from askloop.agent.calibration import CorpusStats, corpus_coverage, route_features
from askloop.agent.routing import features as lexical_features
from askloop.agent.state import HitData
from askloop.agent.text import WORD_PATTERN, content_words, stem

__all__ = [
    "CORPUS_THRESHOLD",
    "CORPUS_WEIGHTS",
    "EVIDENCE_THRESHOLD",
    "EVIDENCE_WEIGHTS",
    "decide_evidence",
    "evidence_features",
    "heading_index",
    "heads_section",
    "named_heading",
    "weights_for",
]

#: Logistic weights (per unit of each feature) and intercept; see the module doc.
EVIDENCE_WEIGHTS: dict[str, float] = {
    "best_cosine": 0.47,
    "cosine_margin": 0.23,
    "title_match": 0.23,
    "subject_overlap": 0.87,
    "hit_coverage": 0.68,
    "one_hit_coverage": 0.84,
    "bm25": 0.44,
    "is_question": 0.41,
    "chat_form": -0.20,
    "score": 0.87,
}
EVIDENCE_INTERCEPT = -2.67
#: Search when the probability reaches this.
EVIDENCE_THRESHOLD = 0.378
#: The same fit with ``corpus_coverage`` (the share, by rarity, of the question's words
#: the tenant's corpus uses anywhere), for a tenant whose word counts are known.
CORPUS_WEIGHTS: dict[str, float] = {
    "best_cosine": 0.46,
    "cosine_margin": 0.23,
    "title_match": 0.22,
    "subject_overlap": 0.83,
    "hit_coverage": 0.63,
    "one_hit_coverage": 0.81,
    "bm25": 0.41,
    "is_question": 0.40,
    "chat_form": -0.19,
    "score": 0.85,
    "corpus_coverage": 0.51,
}
CORPUS_INTERCEPT = -2.99
CORPUS_THRESHOLD = 0.386
_NO_STATS = CorpusStats(sections=0, df={})
#: A heading names a section in particular when it has at least this many words...
MIN_HEADING_WORDS = 2
#: ... and heads sections of at most this many documents (see the module doc).
MAX_HEADING_DOCUMENTS = 2
#: Longer headings are not looked for in questions.
MAX_HEADING_WORDS = 10
#: "ssl — TLS/SSL wrapper for socket objects", "Expenses: travel": each part is a name too.
_SEPARATOR = re.compile(r"\s+[—–-]\s+|:\s+")
_QUALIFIER = re.compile(r"\s*\([^)]*\)")


def _said(text: str) -> list[re.Match[str]]:
    """The words of ``text`` (a lone dash or quote is none), where they stand."""
    return [m for m in WORD_PATTERN.finditer(text) if m.group().strip("'-")]


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(stem(m.group().strip("'-").lower()) for m in _said(text))


def _heading_phrases(title: str, headings: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for name in (title, *headings):
        for part in {name, *_SEPARATOR.split(name)}:
            part = _QUALIFIER.sub("", part)
            words = _phrase(part)
            if MIN_HEADING_WORDS <= len(words) <= MAX_HEADING_WORDS and content_words(part):
                out.add(" ".join(words))
    return out


def heading_index(sections: Iterable[tuple[str, Sequence[str], str]]) -> dict[str, int]:
    """The distinctive headings of a corpus's ``(title, headings, text)`` sections: each
    phrase (lower-case, stemmed words) with how many documents (by title) it heads."""
    documents: defaultdict[str, set[str]] = defaultdict(set)
    for title, headings, _ in sections:
        for phrase in _heading_phrases(title, headings):
            documents[phrase].add(title)
    return {p: len(d) for p, d in documents.items() if len(d) <= MAX_HEADING_DOCUMENTS}


def heads_section(hit: HitData, named: str) -> bool:
    """Is ``hit`` in a section headed ``named`` (a heading ``named_heading`` found)?"""
    return " ".join(_phrase(named)) in _heading_phrases(hit["title"], hit["heading_path"])


def named_heading(question: str, words: CorpusStats) -> str:
    """The longest of the corpus' distinctive headings ``question`` holds as a phrase, in
    the question's words ("" when none)."""
    if not words.headings:
        return ""
    said = _said(question)
    phrase = _phrase(question)
    best = (0, 0)  # (start, length)
    for i, first in enumerate(phrase):
        if first not in words.heading_starts:
            continue
        for n in range(
            min(MAX_HEADING_WORDS, len(phrase) - i), max(MIN_HEADING_WORDS, best[1] + 1) - 1, -1
        ):
            if " ".join(phrase[i : i + n]) in words.headings:
                best = (i, n)
                break
    start, n = best
    return question[said[start].start() : said[start + n - 1].end()] if n else ""


def evidence_features(
    question: str, hits: Sequence[HitData], words: CorpusStats | None = None
) -> dict[str, float]:
    """The features the weights read: from the hits, and from the tenant's word counts
    when known (``corpus_coverage``)."""
    lexical = lexical_features(question, hits)
    values = route_features(question, hits, _NO_STATS, lexical=lexical)
    values["score"] = lexical["score"]
    if words is not None and words.sections:
        values["corpus_coverage"] = corpus_coverage(question, words)
    return values


def weights_for(words: CorpusStats | None) -> tuple[dict[str, float], float, float]:
    """``(weights, intercept, threshold)``: the fit that reads the tenant's word counts
    when they are known, else the one that reads the hits alone."""
    if words is not None and words.sections:
        return CORPUS_WEIGHTS, CORPUS_INTERCEPT, CORPUS_THRESHOLD
    return EVIDENCE_WEIGHTS, EVIDENCE_INTERCEPT, EVIDENCE_THRESHOLD


def decide_evidence(
    question: str, hits: Sequence[HitData], words: CorpusStats | None = None
) -> tuple[Literal["retrieve", "finetuned"], str, dict[str, float]]:
    """``(decision, human reason, features)`` by the fixed evidence weights; with the
    tenant's ``words`` (its word counts), by the weights that also read them."""
    values = evidence_features(question, hits, words)
    weights, intercept, threshold = weights_for(words)
    if not hits:
        return "finetuned", "the probe search found nothing", values
    z = intercept + sum(w * values[name] for name, w in weights.items())
    p = 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))
    values["probability"] = p
    decision: Literal["retrieve", "finetuned"] = "retrieve" if p >= threshold else "finetuned"
    reason = (
        f"evidence: p(knowledge base) {p:.3f} vs threshold {threshold} (best cosine "
        f"{values['best_cosine']:.3f}, {values['hit_coverage']:.0%} of the question's words "
        f"in the hits, {values['subject_overlap']:.0%} where a hit names its subject)"
    )
    if words is not None and words.headings:
        named = named_heading(question, words)
        values["names_heading"] = 1.0 if named else 0.0
        if named and decision == "finetuned":
            decision = "retrieve"
            reason += f"; but the question names the heading '{named}' of this knowledge base"
    return decision, reason, values

"""The probe router's decision: search the knowledge base, or ask the fine-tuned model?

A pure function of the question and the probe search's hits; no model call. The
evidence is a score in cosine units:

    score = best cosine
          + TITLE_WEIGHT    if a hit's title or heading names exactly the question's subject
          + OVERLAP_WEIGHT * min(words, OVERLAP_CAP) / OVERLAP_CAP

where ``words`` is the largest number of the question's content words found in one hit's
title, headings and opening words (where a passage states its subject). The question
goes to the knowledge base when the score reaches ``policy.route_threshold``.

Cosine alone confuses "the knowledge base has a page about this" with "the knowledge
base has pages near this" (a large corpus has a close neighbour for almost anything);
the lexical evidence tells them apart. Weights, from bench/router.py: a logistic fit on
its Wikipedia TUNE split gives about 1.2 and 1.1 (in cosine units), which makes the
decision mostly lexical and sends paraphrased handbook questions away; 0.3 and 0.3 keep
TUNE accuracy within a point of that fit and work on the handbook too.

``route_threshold`` is compared with this score, not with the bare cosine, and it
depends on the corpus (about 0.78 for 2,000 encyclopaedia articles, 0.31-0.62 for the
sample handbook): it is the one knob to tune per deployment, e.g. from logged traces.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from askloop.agent.context import Policy
from askloop.agent.state import HitData
from askloop.agent.text import content_words, stem

__all__ = [
    "OPENING_WORDS",
    "OVERLAP_CAP",
    "OVERLAP_WEIGHT",
    "TITLE_WEIGHT",
    "decide",
    "features",
    "tune_threshold",
]

#: Added to the score when a hit's title (or a heading) has exactly the question's words.
TITLE_WEIGHT = 0.3
#: Added, in proportion, for each question word found where a hit states its subject.
OVERLAP_WEIGHT = 0.3
#: Words beyond this many add nothing more.
OVERLAP_CAP = 4
#: How much of a hit's text counts as its opening.
OPENING_WORDS = 30

_QUALIFIER = re.compile(r"\s*\([^)]*\)")  # "Mercury (planet)" names "Mercury"


def _words(text: str) -> frozenset[str]:
    return frozenset(stem(w) for w in content_words(text))


def features(question: str, hits: Sequence[HitData]) -> dict[str, float]:
    """The decision's inputs: best cosine, exact title match, words found in an opening."""
    asked = _words(question)
    best = max((h["vector_score"] or 0.0 for h in hits), default=0.0)
    title_match = 0.0
    found = 0
    for h in hits:
        # Each name and the opening are read once (this runs on every question).
        named: set[str] = set()
        for name in (h["title"], *h["heading_path"]):
            words = _words(name)
            named |= words
            if "(" in name:
                words = _words(_QUALIFIER.sub("", name))
            if asked and words == asked:
                title_match = 1.0
        opening = h["text"].split(maxsplit=OPENING_WORDS)[:OPENING_WORDS]
        found = max(found, len(asked & (named | _words(" ".join(opening)))))
    overlap = min(found, OVERLAP_CAP) / OVERLAP_CAP
    score = best + TITLE_WEIGHT * title_match + OVERLAP_WEIGHT * overlap
    return {
        "best_cosine": best,
        "title_match": title_match,
        "overlap_words": float(found),
        "question_words": float(len(asked)),
        "score": score,
    }


def decide(
    question: str, hits: Sequence[HitData], policy: Policy
) -> tuple[Literal["retrieve", "finetuned"], str, dict[str, float]]:
    """``(decision, human reason, features)`` for a question and its probe hits."""
    f = features(question, hits)
    if not hits:
        return "finetuned", "the probe search found nothing", f
    decision: Literal["retrieve", "finetuned"] = (
        "retrieve" if f["score"] >= policy.route_threshold else "finetuned"
    )
    bonus = f["score"] - f["best_cosine"]
    reason = (
        f"score {f['score']:.3f} vs threshold {policy.route_threshold}: best cosine "
        f"{f['best_cosine']:.3f} + {bonus:.3f} for the subject named in a hit "
        f"(title match {f['title_match']:.0f}, {f['overlap_words']:.0f} of "
        f"{f['question_words']:.0f} question words in a title or opening)"
    )
    return decision, reason, f


def tune_threshold(points: Sequence[tuple[float, bool]]) -> tuple[float, float]:
    """``(threshold, accuracy)``: the ``route_threshold`` that best separates labelled
    routing scores, ``points`` being ``(score, should_search)`` (``askloop export
    --format router`` writes them). Thresholds halfway between neighbouring scores are
    tried; of equally good ones, the middle one is taken.
    """
    if not points:
        raise ValueError("no labelled routing decisions to tune on")
    ordered = sorted(points)
    scores = sorted({s for s, _ in ordered})
    candidates = [scores[0] - 0.01]
    candidates += [(a + b) / 2 for a, b in zip(scores, scores[1:], strict=False)]
    candidates.append(scores[-1] + 0.01)
    # Sweep upwards: at threshold t, scores >= t search. Right are the scores below t
    # that should not search and those at or above t that should.
    total_search = sum(1 for _, search in ordered if search)
    best: list[float] = []
    top = -1
    below_no, below_yes, i = 0, 0, 0
    for t in candidates:
        while i < len(ordered) and ordered[i][0] < t:
            below_yes += ordered[i][1]
            below_no += not ordered[i][1]
            i += 1
        correct = below_no + (total_search - below_yes)
        if correct > top:
            top, best = correct, [t]
        elif correct == top:
            best.append(t)
    return round(best[len(best) // 2], 4), top / len(ordered)

"""The score grader: do the hits answer the question? A pure function, no model call.

It reads the evidence the search ranked by, not cosine alone:

- ``fused``: the top hit's hybrid score (keyword and vector sides fused, in [0, 1]);
- ``cosine``: the best cosine similarity among the top hits;
- ``coverage``: the share of the question's key terms (numbers, names, content words;
  agent/evidence.py) found in the top ``TOP`` hits' titles, headings and text.

They are combined into a calibrated probability,

    p = 1 / (1 + exp(-(BIAS + W_FUSED·fused + W_COSINE·cosine + W_COVERAGE·coverage)))

and the hits are good when ``p`` reaches ``policy.grade_threshold`` (0.5 by default),
unless the question names numbers or names and none of the top hits contains any of
them (then they are about something else, however close their wording), or the
question names a thing in several capitalised words ("Event Loop Policies") that no top
hit holds as a phrase (its words scattered over a passage are not the thing), or, when the
tenant's word counts are known, the top hits lack the question's rarest name (the one
the fewest of its sections use: "Telnet" in "Telnet Objects", "al-Tusi" in "Nasir al-Din
al-Tusi"): a passage on a commoner namesake or on the rest of the question is not about
what was asked. A word of no everyday English (and no typo of one) counts as a name there
wherever it stands and however written ("pkgutil", "functools", also as the first word;
agent/evidence.py ``uncommon_words``, when the word counts carry an English word list).

The weights are a logistic fit on the sample handbook only (bench/grade.py --tune:
the questions of kb/QUESTIONS.md as answerable; questions the handbook does not cover,
its own questions with their numbers and names swapped, and small talk as poor). The
wiki and Python-documentation corpora are held out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from askloop.agent.calibration import CorpusStats
from askloop.agent.evidence import (
    Coverage,
    coverage,
    key_terms,
    missing_phrases,
    uncommon_words,
)
from askloop.agent.state import HitData
from askloop.agent.text import stem

__all__ = [
    "BIAS",
    "MIN_TERMS",
    "TOP",
    "W_COSINE",
    "W_COVERAGE",
    "W_FUSED",
    "assess",
    "features",
    "rarest_name",
]

#: Hits whose text counts as evidence (the first ones are what the answer reads).
TOP = 3
#: Fewer key terms than this count as partly missing.
MIN_TERMS = 2
BIAS = -7.3
W_FUSED = 0.6
W_COSINE = 12.6
W_COVERAGE = 2.9


def features(question: str, hits: Sequence[HitData]) -> dict[str, float]:
    """The grader's inputs and its probability, for the trace."""
    return _features(hits[:TOP], coverage(question, hits[:TOP]))


def _features(top: Sequence[HitData], found: Coverage) -> dict[str, float]:
    fused = min(max(top[0]["score"], 0.0), 1.0) if top else 0.0
    cos = max((h["vector_score"] or 0.0 for h in top), default=0.0)
    # A question of one or two key terms ("test", "team lunch") is weak evidence even
    # when all are found: it counts as at most found / MIN_TERMS.
    covered = found.found / max(found.asked, MIN_TERMS)
    z = BIAS + W_FUSED * fused + W_COSINE * cos + W_COVERAGE * covered
    out = {
        "fused": fused,
        "cosine": cos,
        "coverage": covered,
        "p": 1 / (1 + math.exp(-z)) if top else 0.0,
    }
    if found.specific is not None:
        out["specific_coverage"] = found.specific
    return out


def rarest_name(question: str, words: CorpusStats | None) -> tuple[str, str] | None:
    """The question's name that the fewest sections of the knowledge base use, by its
    word counts, as ``coverage`` lists it among the missing terms (a word by its stem)
    and as the question writes it; None without names or word counts. A name is a
    capitalised key term past the first word, or a word of no everyday English
    (``uncommon_words``, when the counts carry the vocabulary: "pkgutil", "functools",
    also as the first word)."""
    if words is None or not words.sections:
        return None
    names = {name: name for name in key_terms(question).names}
    for word in uncommon_words(question, words.everyday):
        if word not in names:
            names.setdefault(stem(word), word)
    if not names:
        return None
    key = max(names, key=lambda name: words.idf(stem(name)))
    return key, names[key]


def assess(
    question: str,
    hits: Sequence[HitData],
    threshold: float,
    words: CorpusStats | None = None,
) -> tuple[Literal["good", "poor"], str, dict[str, float], tuple[str, ...]]:
    """``(verdict, human reason, features, missing key terms)``; with the tenant's word
    counts (``words``), hits that lack the question's rarest name are poor too."""
    if not hits:
        return "poor", "the search found nothing", features(question, hits), ()
    found = coverage(question, hits[:TOP])
    f = _features(hits[:TOP], found)
    missing = found.missing
    summary = (
        f"p {f['p']:.3f} vs threshold {threshold} (fused {f['fused']:.3f}, "
        f"cosine {f['cosine']:.3f}, key terms covered {f['coverage']:.2f})"
    )
    if f.get("specific_coverage") == 0.0:
        named = [t for t in key_terms(question).specific if t in missing]
        return "poor", f"no top hit names {', '.join(named)}; {summary}", f, missing
    scattered = missing_phrases(question, hits[:TOP])
    if scattered:
        phrases = ", ".join(repr(p) for p in scattered)
        return "poor", f"no top hit holds {phrases} as a phrase; {summary}", f, missing
    rarest = rarest_name(question, words)
    if rarest is not None and rarest[0] in missing:
        return (
            "poor",
            f"no top hit names {rarest[1]}, the question's rarest name in this knowledge base; "
            f"{summary}",
            f,
            missing,
        )
    return ("good" if f["p"] >= threshold else "poor"), summary, f, missing

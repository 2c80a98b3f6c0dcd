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

``one_hit_coverage`` (the largest share of the question's words one hit holds) tells a
section about the question from near neighbours that each hold a few of its words: on the
handbook it lowered the absent questions searched from 0.47 to 0.33 at the same 97 % of
answerable ones, the best of eight coverage variants tried there (by rarity, in the top
hit only, in titles and headings...; bench/fit_evidence.py lists them). A question of one
or two words counts for less: its words are easily found in one hit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from askloop.agent.calibration import CorpusStats, corpus_coverage, route_features
from askloop.agent.routing import features as lexical_features
from askloop.agent.state import HitData

__all__ = [
    "CORPUS_THRESHOLD",
    "CORPUS_WEIGHTS",
    "EVIDENCE_THRESHOLD",
    "EVIDENCE_WEIGHTS",
    "decide_evidence",
    "evidence_features",
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
    return decision, reason, values

"""The evidence router: one fixed logistic decision over what the probe's hits show.

The probe router (agent/routing.py) adds lexical evidence to the best cosine with hand-set
weights and compares the sum with a corpus-dependent threshold. This router weighs more
of the hits' evidence, each feature computed without corpus statistics (no fit per
tenant): the best cosine and how far it stands out, a title naming the subject, the share
of the question's words where a hit states its subject, in the hits at all and by BM25,
the probe router's own score, and the question's form (agent/calibration.py computes
them). Weights and threshold were fitted once on the sample handbook's labelled questions
of bench/decisions.py (the tuning corpus; wiki and python3-doc are held out): a logistic
regression (C 0.1), the threshold letting through 97 % of its answerable questions (the
issue 14 target; the calibrated router's RECALL_QUANTILE likewise); bench/fit_evidence.py
refits them and prints the constants.

When the tenant's word counts are known (``askloop ingest`` writes them from its own
text, integrations/tuning/router.py), a second fit on the same questions also weighs
``corpus_coverage``: how much of the question (by rarity) the corpus uses anywhere. A
question on words the corpus never uses is about something it does not hold, however near
the probe's neighbours (bench/decisions.py, handbook absent 0.58 -> 0.47 searched at the
same 97 % of answerable ones).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from askloop.agent.calibration import CorpusStats, route_features
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
    "best_cosine": 0.52,
    "cosine_margin": 0.25,
    "title_match": 0.21,
    "subject_overlap": 0.99,
    "hit_coverage": 0.80,
    "bm25": 0.51,
    "is_question": 0.43,
    "chat_form": -0.22,
    "score": 0.96,
}
EVIDENCE_INTERCEPT = -2.5
#: Search when the probability reaches this.
EVIDENCE_THRESHOLD = 0.332
#: The same fit with ``corpus_coverage`` (the share, by rarity, of the question's words
#: the tenant's corpus uses anywhere), for a tenant whose word counts are known.
CORPUS_WEIGHTS: dict[str, float] = {
    "best_cosine": 0.50,
    "cosine_margin": 0.25,
    "title_match": 0.21,
    "subject_overlap": 0.94,
    "hit_coverage": 0.74,
    "bm25": 0.48,
    "is_question": 0.42,
    "chat_form": -0.21,
    "score": 0.93,
    "corpus_coverage": 0.57,
}
CORPUS_INTERCEPT = -2.84
CORPUS_THRESHOLD = 0.363
_NO_STATS = CorpusStats(sections=0, df={})


def evidence_features(
    question: str, hits: Sequence[HitData], words: CorpusStats | None = None
) -> dict[str, float]:
    """The features the weights read: from the hits, and from the tenant's word counts
    when known (``corpus_coverage``)."""
    values = route_features(question, hits, _NO_STATS)
    values["score"] = lexical_features(question, hits)["score"]
    if words is not None and words.sections:
        values["corpus_coverage"] = route_features(question, (), words)["corpus_coverage"]
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

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
issue 14 target; the calibrated router's RECALL_QUANTILE likewise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from askloop.agent.calibration import CorpusStats, route_features
from askloop.agent.routing import features as lexical_features
from askloop.agent.state import HitData

__all__ = ["EVIDENCE_THRESHOLD", "EVIDENCE_WEIGHTS", "decide_evidence"]

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
_NO_STATS = CorpusStats(sections=0, df={})


def decide_evidence(
    question: str, hits: Sequence[HitData]
) -> tuple[Literal["retrieve", "finetuned"], str, dict[str, float]]:
    """``(decision, human reason, features)`` by the fixed evidence weights."""
    values = route_features(question, hits, _NO_STATS)
    values["score"] = lexical_features(question, hits)["score"]
    if not hits:
        return "finetuned", "the probe search found nothing", values
    z = EVIDENCE_INTERCEPT + sum(w * values[name] for name, w in EVIDENCE_WEIGHTS.items())
    p = 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))
    values["probability"] = p
    decision: Literal["retrieve", "finetuned"] = (
        "retrieve" if p >= EVIDENCE_THRESHOLD else "finetuned"
    )
    reason = (
        f"evidence: p(knowledge base) {p:.3f} vs threshold {EVIDENCE_THRESHOLD} (best cosine "
        f"{values['best_cosine']:.3f}, {values['hit_coverage']:.0%} of the question's words "
        f"in the hits, {values['subject_overlap']:.0%} where a hit names its subject)"
    )
    return decision, reason, values

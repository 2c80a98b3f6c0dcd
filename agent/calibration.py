"""A route decision calibrated per knowledge base, without labels.

The probe router's one threshold (agent/routing.py) suits the corpus it was tuned on. A
tenant's own decision is fitted instead on its own text: pseudo-questions made from the
corpus (agent/pseudo_questions.py) are the questions it should search for, small talk,
general questions and questions about subjects the corpus never mentions are those it
should not. Each question goes through the same probe search as a real one; a logistic
regression over the features below separates the two. Stored per tenant with the corpus
fingerprint it was fitted on (integrations/tuning/router.py); no model, the old router.

Features (all from the question, the probe's hits and the corpus' word counts):

- ``best_cosine``, ``cosine_margin``: the best hit's cosine, and how far it stands out;
- ``title_match``, ``subject_overlap``: a hit's title or heading names the subject, the
  share of the question's words found where a hit states its subject;
- ``hit_coverage``, ``bm25``: the share of the question's words (weighted by rarity in
  this corpus) found in the hits, and the best hit's BM25 normalised to [0, 1];
- ``one_hit_coverage`` (read by the evidence router only): the largest share of the
  question's words one hit holds, in full for questions of three words or more;
- ``corpus_coverage``, ``rarest_in_hits``: the share (by rarity) of the question's words
  that occur anywhere in the corpus, and whether its rarest word is in a hit;
- ``absent_names``: the share of the question's words that neither the corpus nor a
  general vocabulary knows (a name the knowledge base never mentions, unlike a
  paraphrase's everyday words);
- ``number_coverage``: the question's numbers found in the hits (1 when it has none);
- ``is_question``, ``second_person``, ``chat_form``, ``length``: the question's form
  (``chat_form``: a greeting, thanks, sums, or a request to write, translate, suggest).

The fitted model is plain numbers (means, scales, weights): deciding is a dot product.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from askloop.agent.routing import features as lexical_features
from askloop.agent.state import HitData
from askloop.agent.text import WORD_PATTERN, content_words, stem

__all__ = [
    "FEATURES",
    "FORMAT",
    "RATED_WEIGHT",
    "RECALL_QUANTILE",
    "CorpusStats",
    "RouterModel",
    "corpus_coverage",
    "decide_calibrated",
    "fit_router",
    "route_features",
    "terms",
]

#: The model file's format; a file of another format is not used.
FORMAT = 2
FEATURES: tuple[str, ...] = (
    "best_cosine",
    "cosine_margin",
    "title_match",
    "subject_overlap",
    "hit_coverage",
    "bm25",
    "corpus_coverage",
    "rarest_in_hits",
    "absent_names",
    "number_coverage",
    "is_question",
    "second_person",
    "chat_form",
    "length",
)
#: The decision threshold lets through this share of the corpus' own pseudo-questions at
#: least (cross-validated): a knowledge-base question sent to the tuned model gets an
#: invented answer, an off-topic one sent to search only costs a search. Tuned on the
#: sample handbook.
RECALL_QUANTILE = 0.03
#: How many pseudo-questions one rated decision weighs in a fit: a user's verdict on a
#: real question says more than a question made from a heading.
RATED_WEIGHT = 5.0
_K1 = 1.2
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_QUESTION_START = frozenset(
    "what when where which who whom whose why how is are do does did can could should "
    "would will may must has have".split()
)
_SECOND_PERSON = re.compile(r"\b(you|your|yours|yourself)\b", re.I)
_CHAT = re.compile(
    r"^\W*(hi|hello|hey|thanks|thank you|thx|ty|cheers|bye|good (morning|evening|night)|"
    r"(please )?(write|compose|draft|translate|summari[sz]e|rephrase|reword|calculate|"
    r"convert|recommend|suggest|tell me a|give me an?|pick|flip|toss|roll|spell)\b)"
    r"|\d\s*([-+*/x%^]|times|plus|minus|divided|squared)\s*\d?|square root",
    re.I,
)


#: ``one_hit_coverage`` counts in full from this many question words on.
_ONE_HIT_WORDS = 3


def terms(text: str) -> list[str]:
    """The content words of ``text``, stemmed, in order, without repeats."""
    return list(dict.fromkeys(stem(w) for w in content_words(text)))


@dataclass(frozen=True, slots=True)
class CorpusStats:
    """How many sections of the corpus each term occurs in; and, to tell a name from a
    common word, the words of everyday English (lower-case, from an English word list;
    not part of the stored counts, empty when unknown)."""

    sections: int
    df: Mapping[str, int]
    everyday: frozenset[str] = frozenset()
    #: The corpus' distinctive headings, as phrases (agent/evidence_routing.py's
    #: ``heading_index``), with how many documents each heads sections of.
    headings: Mapping[str, int] = field(default_factory=dict)
    #: The first word of each heading: where a question may hold one (derived).
    heading_starts: frozenset[str] = field(init=False, default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        starts = frozenset(p.split(" ", 1)[0] for p in self.headings)
        object.__setattr__(self, "heading_starts", starts)

    @classmethod
    def of(cls, texts: Iterable[str]) -> CorpusStats:
        df: Counter[str] = Counter()
        n = 0
        for text in texts:
            n += 1
            df.update(set(terms(text)))
        return cls(sections=n, df=dict(df))

    def idf(self, term: str) -> float:
        """Rarity of ``term``; a term the corpus never uses is the rarest of all."""
        return math.log((self.sections + 1) / (self.df.get(term, 0) + 0.5))


def _hit_terms(hit: HitData) -> Counter[str]:
    return _text_terms(" ".join((hit["title"], *hit["heading_path"], hit["text"])))


@functools.lru_cache(maxsize=4096)
def _text_terms(text: str) -> Counter[str]:
    # Cached: the same chunks come back for many questions (read-only by the callers).
    return Counter(stem(w) for w in WORD_PATTERN.findall(text.lower()))


def _coverage_of(weights: Mapping[str, float], stats: CorpusStats) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in stats.df) / total if total else 0.0


def corpus_coverage(question: str, stats: CorpusStats) -> float:
    """The share, by rarity, of the question's words the corpus uses anywhere."""
    return _coverage_of({t: stats.idf(t) for t in terms(question)}, stats)


def route_features(
    question: str,
    hits: Sequence[HitData],
    stats: CorpusStats,
    common: frozenset[str] = frozenset(),
    lexical: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """The calibrated router's inputs (see the module doc), by name; ``common`` is the
    general vocabulary (stemmed, ``terms``); ``lexical``, the probe router's features of
    the same question and hits when the caller has them already."""
    if lexical is None:
        lexical = lexical_features(question, hits)
    asked = terms(question)
    weights = {t: stats.idf(t) for t in asked}
    total = sum(weights.values()) or 1.0
    cosines = sorted((h["vector_score"] or 0.0 for h in hits), reverse=True)
    best = cosines[0] if cosines else 0.0
    rest = cosines[1:]
    margin = best - (sum(rest) / len(rest)) if rest else 0.0
    in_hits: set[str] = set()
    bm25 = 0.0
    most_in_one = 0
    hit_text = ""
    for h in hits:
        counts = _hit_terms(h)
        found = [t for t in asked if counts.get(t)]
        in_hits.update(found)
        most_in_one = max(most_in_one, len(found))
        score = sum(weights[t] * counts[t] * (_K1 + 1) / (counts[t] + _K1) for t in found)
        bm25 = max(bm25, score / ((_K1 + 1) * total))
        hit_text += " " + h["text"]
    numbers = set(_NUMBER.findall(question))
    hit_numbers = set(_NUMBER.findall(hit_text)) if numbers else set()
    rarest = max(asked, key=lambda t: weights[t]) if asked else ""
    first = question.strip().split(maxsplit=1)[0].lower() if question.strip() else ""
    return {
        "best_cosine": best,
        "cosine_margin": margin,
        "title_match": lexical["title_match"],
        "subject_overlap": lexical["overlap_words"] / len(asked) if asked else 0.0,
        "hit_coverage": sum(weights[t] for t in in_hits) / total if asked else 0.0,
        # One hit holding the whole question, not its words scattered over several; a
        # question of one or two words counts for less (its words are easily found).
        "one_hit_coverage": (
            most_in_one / len(asked) * min(len(asked), _ONE_HIT_WORDS) / _ONE_HIT_WORDS
            if asked
            else 0.0
        ),
        "bm25": bm25,
        "corpus_coverage": _coverage_of(weights, stats),
        "rarest_in_hits": 1.0 if rarest and rarest in in_hits else 0.0,
        "absent_names": (
            sum(1 for t in asked if len(t) > 3 and t not in stats.df and t not in common)
            / len(asked)
            if asked
            else 0.0
        ),
        "number_coverage": len(numbers & hit_numbers) / len(numbers) if numbers else 1.0,
        "is_question": 1.0 if question.rstrip().endswith("?") or first in _QUESTION_START else 0.0,
        "second_person": 1.0 if _SECOND_PERSON.search(question) else 0.0,
        "chat_form": 1.0 if _CHAT.search(question) else 0.0,
        "length": min(len(asked), 10) / 10,
    }


@dataclass(frozen=True, slots=True)
class RouterModel:
    """A tenant's fitted route decision: standardised features, logistic weights."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    intercept: float
    #: Search when the probability reaches this.
    threshold: float
    stats: CorpusStats
    #: The general vocabulary, stemmed (``absent_names``).
    common: frozenset[str] = frozenset()
    #: The corpus it was fitted on (integrations/tuning/router.py computes it).
    fingerprint: str = ""
    #: What it was fitted on and how well it separates them (cross-validated).
    report: dict[str, Any] = field(default_factory=dict)

    def probability(self, values: Mapping[str, float]) -> float:
        z = self.intercept
        for name, m, s, w in zip(FEATURES, self.mean, self.scale, self.weights, strict=True):
            z += w * (values[name] - m) / s
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "features": list(FEATURES),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "intercept": self.intercept,
            "threshold": self.threshold,
            "fingerprint": self.fingerprint,
            "report": self.report,
            "sections": self.stats.sections,
            "df": dict(self.stats.df),
            "common": sorted(self.common),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RouterModel:
        """Raises ``ValueError`` for a file of another format or other features."""
        if data.get("format") != FORMAT or tuple(data.get("features", ())) != FEATURES:
            raise ValueError("a router model of another format")
        return cls(
            mean=tuple(float(v) for v in data["mean"]),
            scale=tuple(float(v) for v in data["scale"]),
            weights=tuple(float(v) for v in data["weights"]),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
            stats=CorpusStats(sections=int(data["sections"]), df=dict(data["df"])),
            common=frozenset(data.get("common") or ()),
            fingerprint=str(data.get("fingerprint", "")),
            report=dict(data.get("report") or {}),
        )


def fit_router(
    positives: Sequence[Mapping[str, float]],
    negatives: Sequence[Mapping[str, float]],
    *,
    stats: CorpusStats,
    common: frozenset[str] = frozenset(),
    fingerprint: str = "",
    seed: int = 0,
    rated: Sequence[tuple[Mapping[str, float], bool]] = (),
) -> RouterModel:
    """Fit the decision on feature rows of questions to search (``positives``) and not.

    ``rated``: rows of real, rated decisions with whether searching was right (see
    agent/rated_routes.py); each weighs ``RATED_WEIGHT`` pseudo-questions.
    The threshold is the smaller of 0.5 and the probability that still lets
    ``1 - RECALL_QUANTILE`` of the positives through, judged by 5-fold cross-validation
    (not on the rows the model was fitted on).
    Raises ``ValueError`` when either side has fewer than 10 pseudo-questions.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    if len(positives) < 10 or len(negatives) < 10:
        raise ValueError("too few questions to fit a router on")
    rows = (*positives, *negatives, *(row for row, _ in rated))
    x = np.array([[row[n] for n in FEATURES] for row in rows], dtype=float)
    y = np.array([1] * len(positives) + [0] * len(negatives) + [int(s) for _, s in rated])
    weight = np.array([1.0] * (len(positives) + len(negatives)) + [RATED_WEIGHT] * len(rated))
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = (x - mean) / scale
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=seed)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    held_out = cross_val_predict(
        model, z, y, cv=folds, method="predict_proba", params={"sample_weight": weight}
    )[:, 1]
    model.fit(z, y, sample_weight=weight)
    pos = np.sort(held_out[y == 1])
    threshold = min(0.5, float(np.quantile(pos, RECALL_QUANTILE)))
    searched = held_out >= threshold
    pseudo = slice(0, len(positives) + len(negatives))
    report: dict[str, Any] = {
        "positives": len(positives),
        "negatives": len(negatives),
        "positives_searched": round(float(searched[pseudo][y[pseudo] == 1].mean()), 4),
        "negatives_kept_out": round(float(1 - searched[pseudo][y[pseudo] == 0].mean()), 4),
        "seed": seed,
    }
    if rated:
        report["rated_rows"] = len(rated)
    return RouterModel(
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        weights=tuple(float(v) for v in model.coef_[0]),
        intercept=float(model.intercept_[0]),
        threshold=round(threshold, 6),
        stats=stats,
        common=common,
        fingerprint=fingerprint,
        report=report,
    )


def decide_calibrated(
    question: str, hits: Sequence[HitData], model: RouterModel
) -> tuple[Literal["retrieve", "finetuned"], str, dict[str, float]]:
    """``(decision, human reason, features)`` by the tenant's fitted model."""
    values = route_features(question, hits, model.stats, model.common)
    if not hits:
        return "finetuned", "the probe search found nothing", values
    p = model.probability(values)
    values["probability"] = p
    decision: Literal["retrieve", "finetuned"] = "retrieve" if p >= model.threshold else "finetuned"
    reason = (
        f"calibrated on this knowledge base: p(knowledge base) {p:.3f} vs threshold "
        f"{model.threshold:.3f} (best cosine {values['best_cosine']:.3f}, "
        f"{values['hit_coverage']:.0%} of the question's words in the hits, "
        f"{values['corpus_coverage']:.0%} in the corpus)"
    )
    return decision, reason, values

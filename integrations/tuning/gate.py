"""The promotion gate's scoring and statistics (pure functions, no models).

An answer is judged against the reference (the 👍 answer or the correction):

- **key-fact containment**: the reference's key facts (numbers, codes, names and other
  capitalised words, e-mail addresses, links) must all appear in the answer; a
  reference without such facts needs most of its content words instead;
- **token F1** over content words, as a softer second figure;
- a **refusal** is an answer that says it does not know.

The candidate passes when its fact accuracy beats the baseline's with a paired
bootstrap 95% interval of the difference above zero, and it does not lose the
knowledge-base questions that were 👍 (net loss at most ``KB_TOLERANCE`` of them).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Judgement",
    "ModelScore",
    "Verdict",
    "bootstrap_interval",
    "decide",
    "judge",
    "key_facts",
    "token_f1",
]

#: Net share of 👍 knowledge-base questions the candidate may lose (noise of a greedy
#: small model); 0 when there are fewer than 1 / KB_TOLERANCE of them.
KB_TOLERANCE = 0.05
#: Share of a fact-less reference's content words an answer must contain.
CONTENT_SHARE = 0.6

_STOP = frozenset(
    """a an and are as at be been but by can do does did for from has have how i if in
    into is it its it's may me my no not of on or our should so than that the their them
    then there these they this to up us was we were what when where which who why will
    with would you your yes also just about any all per via each get gets got""".split()
)
_WORD = re.compile(r"[\w][\w.@/:%+-]*[\w%]|\w", re.UNICODE)
_REFUSAL = re.compile(
    r"\b(i (do not|don't|dont) know|i'm not sure|i am not sure|i (cannot|can't|could not|"
    r"couldn't) find|no information|not (able|sure)|unable to)\b",
    re.IGNORECASE,
)


def _words(text: str) -> list[str]:
    return [w.strip(".:/-+").lower() for w in _WORD.findall(text)]


def _content(text: str) -> list[str]:
    return [w for w in _words(text) if w and w not in _STOP]


def key_facts(reference: str) -> list[str]:
    """Numbers, codes, names and links of ``reference``, lower-cased, in order."""
    facts: list[str] = []
    sentences = re.split(r"(?<=[.!?])\s+", reference.strip())
    for sentence in sentences:
        for i, raw in enumerate(_WORD.findall(sentence)):
            word = raw.strip(".:/-+")
            if not word:
                continue
            lower = word.lower()
            is_code = any(c.isdigit() for c in word) or "@" in word or "/" in word
            is_name = word[0].isupper() and i > 0 and lower not in _STOP
            if (is_code or is_name) and lower not in facts:
                facts.append(lower)
    return facts


def token_f1(answer: str, reference: str) -> float:
    got, want = _content(answer), _content(reference)
    if not got or not want:
        return 0.0
    pool = list(want)
    common = 0
    for word in got:
        if word in pool:
            pool.remove(word)
            common += 1
    if common == 0:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True, slots=True)
class Judgement:
    correct: bool
    f1: float
    refusal: bool


def judge(answer: str, reference: str) -> Judgement:
    words = set(_words(answer))
    joined = " ".join(_words(answer))
    facts = key_facts(reference)
    if facts:
        correct = all(f in words or f in joined for f in facts)
    else:
        want = set(_content(reference))
        correct = bool(want) and len(want & words) >= CONTENT_SHARE * len(want)
    return Judgement(
        correct=correct, f1=token_f1(answer, reference), refusal=bool(_REFUSAL.search(answer))
    )


def bootstrap_interval(
    candidate: Sequence[float],
    baseline: Sequence[float],
    *,
    rounds: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(mean difference, low, high): paired percentile bootstrap of candidate - baseline."""
    if len(candidate) != len(baseline):
        raise ValueError("paired scores must have the same length")
    n = len(candidate)
    if n == 0:
        return 0.0, 0.0, 0.0
    diffs = [c - b for c, b in zip(candidate, baseline, strict=True)]
    rng = random.Random(seed)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(rounds))
    tail = (1 - level) / 2
    low = means[int(tail * rounds)]
    high = means[min(rounds - 1, int((1 - tail) * rounds))]
    return sum(diffs) / n, low, high


@dataclass(frozen=True, slots=True)
class ModelScore:
    """One model's figures on the held-out questions."""

    model: str
    fact_correct: tuple[bool, ...]
    fact_f1: tuple[float, ...]
    fact_refusals: int
    kb_correct: tuple[bool, ...]

    @property
    def fact_accuracy(self) -> float:
        return _mean(self.fact_correct)

    @property
    def kb_accuracy(self) -> float:
        return _mean(self.kb_correct)

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "fact_questions": len(self.fact_correct),
            "fact_accuracy": round(self.fact_accuracy, 4),
            "fact_f1": round(_mean(self.fact_f1), 4),
            "refusals": self.fact_refusals,
            "kb_questions": len(self.kb_correct),
            "kb_accuracy": round(self.kb_accuracy, 4),
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    better: bool
    difference: float
    low: float
    high: float
    #: Held-out fact questions the baseline had right and the candidate lost.
    regressions: int
    #: 👍 knowledge-base questions lost, net of those gained.
    kb_lost: int
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "better": self.better,
            "difference": round(self.difference, 4),
            "ci95": [round(self.low, 4), round(self.high, 4)],
            "regressions": self.regressions,
            "kb_lost": self.kb_lost,
            "reasons": list(self.reasons),
        }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def decide(candidate: ModelScore, baseline: ModelScore, *, seed: int = 0) -> Verdict:
    cand = [float(c) for c in candidate.fact_correct]
    base = [float(b) for b in baseline.fact_correct]
    difference, low, high = bootstrap_interval(cand, base, seed=seed)
    regressions = sum(
        b and not c for c, b in zip(candidate.fact_correct, baseline.fact_correct, strict=True)
    )
    kb_lost = sum(baseline.kb_correct) - sum(candidate.kb_correct)
    allowed = int(KB_TOLERANCE * len(baseline.kb_correct))
    reasons = []
    if not cand:
        reasons.append("no held-out fact questions to compare on")
    elif low <= 0:
        reasons.append(
            f"fact accuracy {difference:+.0%} (95% CI {low:+.0%}..{high:+.0%}) does not exclude 0"
        )
    if kb_lost > allowed:
        reasons.append(f"loses {kb_lost} of the 👍 knowledge-base questions (allowed {allowed})")
    return Verdict(
        better=not reasons,
        difference=difference,
        low=low,
        high=high,
        regressions=regressions,
        kb_lost=kb_lost,
        reasons=tuple(reasons),
    )

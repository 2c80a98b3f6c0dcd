"""What the route step should have decided, read from the answers users rated.

A logged answer carries the route it took (the route step's verdict is in its trace) and
its rating, with any correction. Feedback labels a decision only where it says which
route was right:

- 👍 on an answer from the knowledge base: searching was right (``retrieve``);
- 👍 on the tuned model's answer: keeping out was right (``finetuned``), also when a
  search found nothing and gave up (the search could have been skipped);
- 👎 with a correction the knowledge base states: the answer had to come from there
  (``retrieve``), whichever route it took;
- 👎 on a knowledge-base answer with a correction the knowledge base does not state:
  searching could not help (``finetuned``);
- 👎 on the tuned model's answer with a correction the knowledge base does not state,
  or any 👎 without a correction: the answer was bad, the route may have been right;
  no label.

Whether the knowledge base states a correction is decided by the caller
(:func:`states_correction` over a search for it). The rated decisions are split by
conversation thread (every answer of a thread on one side) so that a fit is judged on
threads it never saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from askloop.agent.answers import LoggedAnswer
from askloop.agent.datasets.raft import is_validation
from askloop.agent.evidence import coverage
from askloop.agent.state import HitData

__all__ = [
    "HELD_OUT_FRACTION",
    "RatedDecision",
    "Score",
    "label_of",
    "score",
    "split",
    "states_correction",
]

RouteLabel = Literal["retrieve", "finetuned"]

#: Share of threads held out to judge a fit on.
HELD_OUT_FRACTION = 0.3
#: A correction is stated by a hit that holds all its numbers and names and this share
#: of its key terms.
CORRECTION_COVERAGE = 0.6


@dataclass(frozen=True, slots=True)
class RatedDecision:
    """One rated answer's route label and where it came from."""

    answer_id: str
    #: Conversation key: every decision of a thread lands on the same side of a split.
    thread: str
    question: str
    #: What the route step decided when the answer was made ("" when unknown).
    decided: str
    label: RouteLabel
    why: str


def _route_step_verdict(item: LoggedAnswer) -> str:
    step = next((s for s in item.record.trace if s.node == "route"), None)
    return step.verdict if step is not None else ""


def label_of(item: LoggedAnswer, *, correction_stated: bool | None) -> RatedDecision | None:
    """``item``'s label (see the module doc), or None when its feedback names no route.

    ``correction_stated``: whether the knowledge base states the item's correction (None
    when it has none)."""
    r = item.record
    searched = r.route in ("retrieve", "rewrite")
    label: RouteLabel | None = None
    why = ""
    if item.rating == "up":
        label = "retrieve" if searched else "finetuned"
        why = "👍 on the knowledge base's answer" if searched else "👍 on the tuned model's answer"
    elif item.rating == "down" and correction_stated is True:
        label, why = "retrieve", "👎, and the knowledge base states the correction"
    elif item.rating == "down" and correction_stated is False and searched:
        label, why = "finetuned", "👎 on a search, and the knowledge base lacks the correction"
    if label is None:
        return None
    return RatedDecision(
        answer_id=r.answer_id,
        thread=f"{r.tenant}:{r.platform}:{r.conversation_id or r.answer_id}",
        question=r.question,
        decided=_route_step_verdict(item),
        label=label,
        why=why,
    )


def states_correction(correction: str, hits: Sequence[HitData]) -> bool:
    """Whether one of ``hits`` holds ``correction``'s facts: all its numbers and names,
    and most of its key terms."""
    for hit in hits:
        found = coverage(correction, [hit])
        if found.asked and found.terms >= CORRECTION_COVERAGE and found.specific in (None, 1.0):
            return True
    return False


def split(
    decisions: Sequence[RatedDecision], *, seed: int = 0
) -> tuple[list[RatedDecision], list[RatedDecision]]:
    """(fit, held out), by thread."""
    fit: list[RatedDecision] = []
    held: list[RatedDecision] = []
    for d in decisions:
        (held if is_validation(d.thread, HELD_OUT_FRACTION, seed) else fit).append(d)
    return fit, held


@dataclass(frozen=True, slots=True)
class Score:
    """How a router's decisions agree with the labels."""

    n: int
    #: Share of all decisions that match their label.
    accuracy: float
    #: The mean of the share searched among ``retrieve`` labels and the share kept out
    #: among ``finetuned`` labels (over the labels present): a router that always
    #: searches does not score well on a log of mostly 👍 knowledge-base answers.
    balanced: float
    searched: float | None
    kept_out: float | None

    def to_json(self) -> dict[str, float | int | None]:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "balanced_accuracy": round(self.balanced, 4),
            "retrieve_searched": None if self.searched is None else round(self.searched, 4),
            "finetuned_kept_out": None if self.kept_out is None else round(self.kept_out, 4),
        }


def score(labels: Sequence[str], decisions: Sequence[str]) -> Score:
    """``decisions`` ("retrieve" | "finetuned", one per label) judged by ``labels``."""
    pairs = list(zip(labels, decisions, strict=True))
    pos = [d for lab, d in pairs if lab == "retrieve"]
    neg = [d for lab, d in pairs if lab == "finetuned"]
    searched = sum(d == "retrieve" for d in pos) / len(pos) if pos else None
    kept_out = sum(d != "retrieve" for d in neg) / len(neg) if neg else None
    shares = [s for s in (searched, kept_out) if s is not None]
    return Score(
        n=len(pairs),
        accuracy=sum(lab == d for lab, d in pairs) / len(pairs) if pairs else 0.0,
        balanced=sum(shares) / len(shares) if shares else 0.0,
        searched=searched,
        kept_out=kept_out,
    )

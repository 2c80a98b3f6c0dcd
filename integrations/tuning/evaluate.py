"""``askloop eval``: replay the tenant's held-out rated questions through models.

Fact questions (corrections, and 👍 answers of the fine-tuned route) are asked the way
the fine-tuned route asks them; 👍 knowledge-base questions are replayed with the
prompt they had, documents included, to catch a candidate that forgot how to answer
from them. Each answer is judged against the reference (integrations/tuning/gate.py).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from askloop.agent.chat import ChatModel, Message
from askloop.agent.errors import InvalidInputError, ModelUnavailableError
from askloop.integrations.tuning.gate import ModelScore, Verdict, decide, judge
from askloop.integrations.tuning.samples import Sample, collect

__all__ = ["Evaluation", "evaluate", "score_model"]

log = logging.getLogger(__name__)

MAX_ANSWER_TOKENS = 160


def _progress(items: Sequence[Sample], label: str) -> Iterable[Sample]:
    from tqdm import tqdm

    yield from tqdm(items, desc=f"eval {label}", unit="q", file=sys.stderr, delay=1.0, disable=None)


def score_model(model: ChatModel, samples: Sequence[Sample], *, label: str = "") -> ModelScore:
    fact_correct: list[bool] = []
    fact_f1: list[float] = []
    refusals = 0
    kb_correct: list[bool] = []
    for sample in _progress(samples, label or model.model_id):
        messages = [Message(m["role"], m["content"]) for m in sample.prompt]  # type: ignore[arg-type]
        try:
            text = model.complete(messages, max_tokens=MAX_ANSWER_TOKENS).text
        except ModelUnavailableError:
            log.warning("eval: %s gave no answer to %s", model.model_id, sample.answer_id)
            text = ""
        verdict = judge(text, sample.reference)
        if sample.kind == "kb":
            kb_correct.append(verdict.correct)
        else:
            fact_correct.append(verdict.correct)
            fact_f1.append(verdict.f1)
            refusals += verdict.refusal
    return ModelScore(
        model=model.model_id,
        fact_correct=tuple(fact_correct),
        fact_f1=tuple(fact_f1),
        fact_refusals=refusals,
        kb_correct=tuple(kb_correct),
    )


@dataclass(frozen=True, slots=True)
class Evaluation:
    tenant: str
    candidate: ModelScore
    baseline: ModelScore | None
    verdict: Verdict | None
    questions: int

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "questions": self.questions,
            "candidate": self.candidate.to_json(),
            "baseline": self.baseline.to_json() if self.baseline else None,
            "verdict": self.verdict.to_json() if self.verdict else None,
        }

    def table(self) -> str:
        rows = [("", "fact acc", "token F1", "refusals", "KB acc")]
        for name, s in (("candidate", self.candidate), ("baseline", self.baseline)):
            if s is None:
                continue
            j = s.to_json()
            rows.append(
                (
                    f"{name} {s.model}",
                    f"{j['fact_accuracy']:.0%} of {j['fact_questions']}",
                    f"{j['fact_f1']:.2f}",
                    str(j["refusals"]),
                    f"{j['kb_accuracy']:.0%} of {j['kb_questions']}",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        if self.verdict is not None:
            v = self.verdict
            lines.append(
                f"difference {v.difference:+.0%} (95% CI {v.low:+.0%}..{v.high:+.0%}), "
                f"{v.regressions} regressions, {v.kb_lost} KB questions lost net: "
                + ("better" if v.better else "not better: " + "; ".join(v.reasons))
            )
        return "\n".join(lines)


def evaluate(
    answer_log: Any,
    *,
    tenant: str,
    candidate: ChatModel,
    baseline: ChatModel | None,
    samples: Sequence[Sample] | None = None,
) -> Evaluation:
    """Score ``candidate`` (and ``baseline``) on the tenant's held-out questions."""
    held = list(samples) if samples is not None else collect(answer_log, tenant=tenant).held_out
    if not held:
        raise InvalidInputError(
            f"tenant {tenant} has no held-out rated questions to evaluate on (rate more answers)"
        )
    cand = score_model(candidate, held, label="candidate")
    if baseline is None:
        base = None
    elif baseline is candidate:  # the same model: the same answers (greedy)
        base = cand
    else:
        base = score_model(baseline, held, label="baseline")
    verdict = decide(cand, base) if base is not None else None
    return Evaluation(
        tenant=tenant, candidate=cand, baseline=base, verdict=verdict, questions=len(held)
    )

"""The tenant's rated log as tuning samples, split by conversation thread.

Each rated answer becomes one :class:`Sample` through the dataset exports' own
building blocks (``build_example`` rebuilds what the model saw, redacted; ``sft_target``
says what a rating teaches). Threads are split once, deterministically: the held-out
threads are what ``askloop eval`` replays and are never trained on.

What a sample teaches:

- a 👎 with a correction: the question, answered by the correction, on the fine-tuned
  route's own prompt (no documents): a fact the model should know;
- a 👍 answer: its own prompt (with the documents it was shown, if any) and answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from askloop.agent.datasets.examples import (
    Example,
    MissingPromptError,
    build_example,
    question_key,
)
from askloop.agent.datasets.formats import sft_target
from askloop.agent.datasets.raft import is_validation
from askloop.prompts import load_prompt

__all__ = ["HELD_OUT_FRACTION", "Sample", "SampleSet", "collect", "direct_prompt"]

#: Share of conversation threads held out for the promotion gate.
HELD_OUT_FRACTION = 0.25
#: Seed of the held-out split (the same for tune and eval, so they agree).
SPLIT_SEED = 17

Kind = Literal["fact", "kb"]


@dataclass(frozen=True, slots=True)
class Sample:
    answer_id: str
    thread: str
    question: str
    #: What a good answer says: the correction of a 👎, or the 👍 answer.
    reference: str
    #: "fact": the fine-tuned route should know it (a correction, or a 👍 from the tuned
    #: model); "kb": a 👍 answer made from the knowledge base.
    kind: Kind
    #: The conversation to replay: system, earlier turns, the user turn.
    prompt: tuple[dict[str, str], ...]
    held_out: bool


@dataclass(slots=True)
class SampleSet:
    samples: list[Sample]
    read: int = 0
    skipped: int = 0
    #: Corrections whose facts the knowledge base already states: they teach the router
    #: (``askloop tune router``), not the model, and are left out here.
    in_knowledge_base: int = 0

    @property
    def train(self) -> list[Sample]:
        return [s for s in self.samples if not s.held_out]

    @property
    def held_out(self) -> list[Sample]:
        return [s for s in self.samples if s.held_out]

    def digest(self) -> str:
        """Hash of what is trained on and held out (the manifest's data hash)."""
        h = hashlib.sha256()
        for s in sorted(self.samples, key=lambda s: s.answer_id):
            for part in (s.answer_id, s.kind, s.question, s.reference, str(s.held_out)):
                h.update(part.encode())
                h.update(b"\x1f")
        return h.hexdigest()[:16]

    def counts(self) -> dict[str, int]:
        out = {
            "read": self.read,
            "skipped": self.skipped,
            "in_knowledge_base": self.in_knowledge_base,
        }
        for side, items in (("train", self.train), ("held_out", self.held_out)):
            for kind in ("fact", "kb"):
                out[f"{side}_{kind}"] = sum(s.kind == kind for s in items)
        return out


def direct_prompt(question: str, history: Iterable[dict[str, str]] = ()) -> list[dict[str, str]]:
    """The fine-tuned route's prompt (agent/nodes/answering.py ``_direct``, no documents)."""
    return [
        {"role": "system", "content": load_prompt("answer_direct").text},
        *history,
        {"role": "user", "content": question},
    ]


def _sample(ex: Example, held_out: bool) -> Sample | None:
    target = sft_target(ex)
    if target is None or not target.strip():
        return None
    history = [m for m in ex.prompt[1:-1]]
    if ex.rating == "down":
        kind: Kind = "fact"
        prompt = direct_prompt(ex.question, history)
    else:
        kind = "fact" if ex.route == "finetuned" else "kb"
        prompt = list(ex.prompt)
    return Sample(
        answer_id=ex.answer_id,
        thread=ex.thread,
        question=ex.question,
        reference=target.strip(),
        kind=kind,
        prompt=tuple(prompt),
        held_out=held_out,
    )


def _examples(answer_log: Any, tenant: str, report: SampleSet) -> Iterator[Example]:
    cache: dict[str, str | None] = {}

    def texts(version: str) -> str | None:
        if version not in cache:
            cache[version] = answer_log.prompt_text(version)
        return cache[version]

    for item in answer_log.iter_rated(tenant=tenant):
        report.read += 1
        try:
            yield build_example(item, texts)
        except MissingPromptError:
            report.skipped += 1


def collect(
    answer_log: Any,
    *,
    tenant: str,
    fraction: float = HELD_OUT_FRACTION,
    seed: int = SPLIT_SEED,
    stated: Callable[[str], bool] | None = None,
) -> SampleSet:
    """Every usable rated answer of ``tenant``, each thread on one side of the split.

    The same question with the same reference counts once (the first one logged).
    ``stated(correction)`` says whether the knowledge base already holds a correction's
    facts; such corrections are left to the router (counted in ``in_knowledge_base``).
    """
    out = SampleSet(samples=[])
    seen: set[tuple[str, str]] = set()
    for ex in _examples(answer_log, tenant, out):
        sample = _sample(ex, is_validation(ex.thread, fraction, seed))
        if sample is None:
            out.skipped += 1
            continue
        if ex.rating == "down" and stated is not None and stated(sample.reference):
            out.in_knowledge_base += 1
            continue
        key = (question_key(sample.question), question_key(sample.reference))
        if key in seen:
            out.skipped += 1
            continue
        seen.add(key)
        out.samples.append(sample)
    return out

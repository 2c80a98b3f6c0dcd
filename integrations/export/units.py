"""What each format labels, and the records a resolved label makes.

Export runs in two passes. The first reads the log once, turns every example into a
*unit* (the (prompt, completion) pair its label belongs to, keyed by normalised
content) and merges the votes of identical units; the unit itself is spooled to disk, so
memory holds only keys and ballots. The second pass reads the spool and asks
:func:`records_of` for the records each unit makes under its resolved label.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from askloop.agent.answers import Rating
from askloop.agent.datasets.examples import Example
from askloop.agent.datasets.formats import dpo_record, kto_of, router_record, sft_of
from askloop.agent.datasets.labels import round_robin

__all__ = ["QuestionPairs", "Unit", "records_of", "unit_of"]

_PAIR_FORMATS = ("openai-dpo", "trl-dpo")


@dataclass(frozen=True, slots=True)
class Unit:
    #: Normalised (prompt, completion): identical answers share it and one label.
    key: bytes
    thread: str
    payload: dict[str, Any]


def _key(*parts: str) -> bytes:
    norm = "\x1f".join(" ".join(p.lower().split()) for p in parts)
    return hashlib.blake2b(norm.encode(), digest_size=16).digest()


def unit_of(fmt: str, ex: Example, raft: Callable[[Example], dict[str, Any] | None]) -> Unit | None:
    prompt = orjson.dumps(ex.prompt).decode()
    if fmt == "raft":
        # Built only where some user voted 👍: the search for distractors costs a query.
        if not any(v.rating == "up" for v in ex.votes):
            return None
        return Unit(_key(prompt, ex.answer), ex.thread, {"up": raft(ex)})
    if fmt == "router":
        record = router_record(replace(ex, rating="up"))
        if record is None:
            return None
        labelled = orjson.dumps([record["question"], record["features"], record["label"]])
        return Unit(_key(labelled.decode()), ex.thread, {"up": record})
    payload = {"prompt": ex.prompt, "answer": ex.answer, "correction": ex.correction}
    if fmt in _PAIR_FORMATS:
        payload["question"] = ex.question_key
    return Unit(_key(prompt, ex.answer), ex.thread, payload)


def records_of(fmt: str, payload: dict[str, Any], label: Rating) -> list[dict[str, Any]]:
    """The records a unit makes when its merged votes say ``label``."""
    if fmt in ("raft", "router"):
        record = payload["up"] if label == "up" else None
        return [record] if record is not None else []
    prompt, answer, correction = payload["prompt"], payload["answer"], payload["correction"]
    if fmt == "trl-kto":
        return [kto_of(prompt, answer, label=label == "up")]
    if fmt in _PAIR_FORMATS:
        if label == "down" and correction.strip() and correction != answer:
            return [dpo_record(prompt, correction, answer, openai=fmt == "openai-dpo")]
        return []
    target = answer if label == "up" else correction
    return [sft_of(prompt, target, openai=fmt == "openai-sft")] if target.strip() else []


@dataclass(slots=True)
class _Question:
    #: normalised text -> (prompt, text, thread); the 👍 side keeps its own prompt.
    up: dict[bytes, tuple[Any, str, str]] = field(default_factory=dict)
    down: dict[bytes, str] = field(default_factory=dict)


@dataclass(slots=True)
class QuestionPairs:
    """DPO pairs from answers to the same question: every distinct 👍 text against every
    distinct 👎 text (round robin, so each is used), a text rated both ways dropped."""

    fmt: str
    conflicts: int = 0
    _questions: dict[str, _Question] = field(default_factory=dict)

    def add(self, payload: dict[str, Any], label: Rating, thread: str) -> None:
        question = self._questions.setdefault(payload["question"], _Question())
        text = payload["answer"]
        key = _key(text)
        if label == "up":
            question.up.setdefault(key, (payload["prompt"], text, thread))
        else:
            question.down.setdefault(key, text)

    def pairs(self) -> Iterator[tuple[dict[str, Any], str]]:
        for question in self._questions.values():
            both = question.up.keys() & question.down.keys()
            self.conflicts += len(both)
            ups = [v for k, v in question.up.items() if k not in both]
            downs = [v for k, v in question.down.items() if k not in both]
            for (prompt, chosen, thread), rejected in round_robin(ups, downs):
                yield dpo_record(prompt, chosen, rejected, openai=self.fmt == "openai-dpo"), thread

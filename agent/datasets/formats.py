"""Dataset formats: the records trainers accept, built from examples and validated.

Field names follow the trainers exactly: OpenAI fine-tuning (chat SFT with per-message
``weight``, DPO with ``input``/``preferred_output``/``non_preferred_output``), TRL's
conversational prompt/completion SFT (loss on the answer only), DPO
(``prompt``/``chosen``/``rejected``) and KTO (``prompt``/``completion``/``label``), and
RAFT as conversational prompt/completion. ``router`` is askloop's
own: labelled routing decisions to tune (or train) the router.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from askloop.agent.datasets.examples import Example
from askloop.agent.datasets.schemas import SCHEMAS

__all__ = [
    "FORMATS",
    "Format",
    "RecordError",
    "dpo_record",
    "kto_of",
    "kto_record",
    "router_record",
    "sft_of",
    "sft_record",
    "validate",
]


class RecordError(ValueError):
    """A record does not match its format's schema (a bug: it is counted, not written)."""


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    #: Below this many records the export refuses (the trainer would).
    minimum: int
    description: str


FORMATS: Mapping[str, Format] = {
    f.name: f
    for f in (
        Format("openai-sft", 10, "OpenAI chat fine-tuning (👍 answers, 👎 with a correction)"),
        Format("openai-dpo", 10, "OpenAI preference fine-tuning (pairs)"),
        Format("trl-sft", 1, "TRL SFTTrainer, conversational prompt/completion"),
        Format("trl-dpo", 1, "TRL DPOTrainer, conversational (pairs)"),
        Format("trl-kto", 2, "TRL KTOTrainer, every rated answer (both labels needed)"),
        Format(
            "raft", 1, "Retrieval-augmented fine-tuning (prompt/completion): oracle + distractors"
        ),
        Format("router", 1, "Routing: the router's features and the route a 👍 confirms"),
    )
}


def _assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def sft_target(example: Example) -> str | None:
    """What an SFT record teaches: a 👍 answer, or the correction of a 👎 one."""
    if example.rating == "up":
        return example.answer
    if example.rating == "down" and example.correction.strip():
        return example.correction
    return None


def sft_record(example: Example, *, openai: bool) -> dict[str, Any] | None:
    target = sft_target(example)
    if target is None:
        return None
    return sft_of(example.prompt, target, openai=openai)


def sft_of(prompt: Sequence[Mapping[str, str]], target: str, *, openai: bool) -> dict[str, Any]:
    """The conversation ``prompt`` taught to end in ``target``; earlier answers of the
    thread are context, never targets (OpenAI: ``weight`` 0; TRL: in the prompt, which
    carries no loss)."""
    messages: list[dict[str, Any]] = [dict(m) for m in prompt]
    if not openai:
        return {"prompt": messages, "completion": [_assistant(target)]}
    messages = [{**m, "weight": 0} if m["role"] == "assistant" else m for m in messages]
    return {"messages": [*messages, _assistant(target)]}


def dpo_record(
    prompt: Sequence[Mapping[str, str]], chosen: str, rejected: str, *, openai: bool
) -> dict[str, Any]:
    if openai:
        return {
            "input": {"messages": [dict(m) for m in prompt]},
            "preferred_output": [_assistant(chosen)],
            "non_preferred_output": [_assistant(rejected)],
        }
    return {
        "prompt": [dict(m) for m in prompt],
        "chosen": [_assistant(chosen)],
        "rejected": [_assistant(rejected)],
    }


def kto_record(example: Example) -> dict[str, Any] | None:
    if example.rating not in ("up", "down"):
        return None
    return kto_of(example.prompt, example.answer, label=example.rating == "up")


def kto_of(prompt: Sequence[Mapping[str, str]], completion: str, *, label: bool) -> dict[str, Any]:
    return {
        "prompt": [dict(m) for m in prompt],
        "completion": [_assistant(completion)],
        "label": label,
    }


ROUTES = ("retrieve", "finetuned")


def router_record(example: Example) -> dict[str, Any] | None:
    """What the router should have decided, where feedback says so.

    A 👍 confirms the route that made the answer: the knowledge base ("retrieve", also
    after rewrites) or the tuned model ("finetuned", also when a search found nothing and
    gave up, which the router could have skipped). A 👎 says the answer was bad, not
    which route would have been better, so it labels nothing.
    """
    if example.rating != "up" or not example.route_features or example.decision not in ROUTES:
        return None
    return {
        "question": example.question,
        "features": example.route_features,
        "decision": example.decision,
        "label": "finetuned" if example.route == "finetuned" else "retrieve",
    }


def validate(fmt: str, record: Mapping[str, Any]) -> None:
    """Raise ``RecordError`` unless ``record`` is a valid ``fmt`` record (its schema in
    :mod:`askloop.agent.datasets.schemas`)."""
    schema = SCHEMAS.get(fmt)
    if schema is None:
        raise RecordError(f"unknown format {fmt!r}")
    try:
        schema.model_validate(record)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
            for err in exc.errors()
        )
        raise RecordError(f"{fmt} record: {problems}") from None

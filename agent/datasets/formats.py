"""Dataset formats: records that trainers accept, and a validator for each.

Field names follow the trainers exactly: OpenAI fine-tuning (chat SFT with per-message
``weight``, DPO with ``input``/``preferred_output``/``non_preferred_output``), TRL's
conversational SFT, DPO (``prompt``/``chosen``/``rejected``) and KTO
(``prompt``/``completion``/``label``), and RAFT in chat form. ``router`` is askloop's
own: labelled routing decisions to tune (or train) the router.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from askloop.agent.datasets.examples import Example

__all__ = [
    "FORMATS",
    "Format",
    "RecordError",
    "dpo_record",
    "kto_record",
    "router_record",
    "sft_record",
    "validate",
]

ROLES = frozenset({"system", "user", "assistant"})


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
        Format("trl-sft", 1, "TRL SFTTrainer, conversational"),
        Format("trl-dpo", 1, "TRL DPOTrainer, conversational (pairs)"),
        Format("trl-kto", 2, "TRL KTOTrainer, every rated answer (both labels needed)"),
        Format("raft", 1, "Retrieval-augmented fine-tuning: oracle + distractor documents"),
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
    messages: list[dict[str, Any]] = list(example.prompt)
    if openai:
        # Earlier answers of the thread are context, not targets.
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
    return {
        "prompt": [dict(m) for m in example.prompt],
        "completion": [_assistant(example.answer)],
        "label": example.rating == "up",
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


def _messages(value: Any, where: str, *, weights: bool = False) -> None:
    if not isinstance(value, list) or not value:
        raise RecordError(f"{where} must be a non-empty list of messages")
    for m in value:
        allowed = {"role", "content", "weight"} if weights else {"role", "content"}
        if not isinstance(m, dict) or not {"role", "content"} <= m.keys() or m.keys() - allowed:
            raise RecordError(
                f"{where}: bad message keys {sorted(m) if isinstance(m, dict) else m}"
            )
        if m["role"] not in ROLES:
            raise RecordError(f"{where}: unknown role {m['role']!r}")
        if not isinstance(m["content"], str) or not m["content"].strip():
            raise RecordError(f"{where}: empty content")
        if "weight" in m and (m["role"] != "assistant" or m["weight"] not in (0, 1)):
            raise RecordError(f"{where}: weight is 0 or 1, on assistant messages only")


def _ends_with_user(messages: list[dict[str, Any]], where: str) -> None:
    if messages[-1]["role"] != "user":
        raise RecordError(f"{where} must end with the user turn")


def _one_assistant(value: Any, where: str) -> None:
    _messages(value, where)
    if len(value) != 1 or value[0]["role"] != "assistant":
        raise RecordError(f"{where} must be exactly one assistant message")


def validate(fmt: str, record: Mapping[str, Any]) -> None:
    """Raise ``RecordError`` unless ``record`` is a valid ``fmt`` record."""
    keys = set(record)
    if fmt in ("openai-sft", "trl-sft", "raft"):
        if keys != {"messages"}:
            raise RecordError(f"{fmt} records have exactly the key 'messages', not {sorted(keys)}")
        msgs = record["messages"]
        _messages(msgs, "messages", weights=fmt == "openai-sft")
        if msgs[-1]["role"] != "assistant" or msgs[-1].get("weight", 1) != 1:
            raise RecordError("the last message must be the (weighted) assistant answer")
    elif fmt == "openai-dpo":
        if keys != {"input", "preferred_output", "non_preferred_output"}:
            raise RecordError("openai-dpo keys are input/preferred_output/non_preferred_output")
        if set(record["input"]) != {"messages"}:
            raise RecordError("openai-dpo input holds exactly 'messages'")
        _messages(record["input"]["messages"], "input.messages")
        _ends_with_user(record["input"]["messages"], "input.messages")
        _one_assistant(record["preferred_output"], "preferred_output")
        _one_assistant(record["non_preferred_output"], "non_preferred_output")
        if record["preferred_output"] == record["non_preferred_output"]:
            raise RecordError("preferred and non-preferred outputs are identical")
    elif fmt == "trl-dpo":
        if keys != {"prompt", "chosen", "rejected"}:
            raise RecordError("trl-dpo keys are prompt/chosen/rejected")
        _messages(record["prompt"], "prompt")
        _ends_with_user(record["prompt"], "prompt")
        _one_assistant(record["chosen"], "chosen")
        _one_assistant(record["rejected"], "rejected")
        if record["chosen"] == record["rejected"]:
            raise RecordError("chosen and rejected are identical")
    elif fmt == "trl-kto":
        if keys != {"prompt", "completion", "label"}:
            raise RecordError("trl-kto keys are prompt/completion/label")
        _messages(record["prompt"], "prompt")
        _ends_with_user(record["prompt"], "prompt")
        _one_assistant(record["completion"], "completion")
        if not isinstance(record["label"], bool):
            raise RecordError("label must be true or false")
    elif fmt == "router":
        if keys != {"question", "features", "decision", "label"}:
            raise RecordError("router keys are question/features/decision/label")
        if not isinstance(record["question"], str) or not record["question"].strip():
            raise RecordError("router question must be non-empty text")
        features = record["features"]
        if not isinstance(features, dict) or not isinstance(features.get("score"), int | float):
            raise RecordError("router features must be a mapping with a numeric 'score'")
        if record["decision"] not in ROUTES or record["label"] not in ROUTES:
            raise RecordError(f"router decision and label are one of {ROUTES}")
    else:
        raise RecordError(f"unknown format {fmt!r}")

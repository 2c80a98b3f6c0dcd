"""Each dataset format's schema: what a trainer accepts, and what export refuses."""

from __future__ import annotations

import copy

import pytest

from askloop.agent.datasets.formats import FORMATS, RecordError, validate

SYSTEM = {"role": "system", "content": "You answer from the handbook."}
USER = {"role": "user", "content": "How many days of leave?"}
EARLIER = {"role": "assistant", "content": "Hello."}
GOOD = {"role": "assistant", "content": "26 days [1]."}
BAD = {"role": "assistant", "content": "10 days."}

VALID = {
    "openai-sft": {"messages": [SYSTEM, USER, {**EARLIER, "weight": 0}, USER, GOOD]},
    "openai-dpo": {
        "input": {"messages": [SYSTEM, USER]},
        "preferred_output": [GOOD],
        "non_preferred_output": [BAD],
    },
    "trl-sft": {"prompt": [SYSTEM, USER, EARLIER, USER], "completion": [GOOD]},
    "trl-dpo": {"prompt": [SYSTEM, USER], "chosen": [GOOD], "rejected": [BAD]},
    "trl-kto": {"prompt": [USER], "completion": [GOOD], "label": True},
    "raft": {
        "prompt": [SYSTEM, {"role": "user", "content": "<documents>…</documents>"}],
        "completion": [GOOD],
    },
    "router": {
        "question": "How many days of leave?",
        "features": {"score": 0.62, "best_cosine": 0.5},
        "decision": "retrieve",
        "label": "retrieve",
    },
}


def test_every_format_has_a_schema_and_a_valid_example():
    assert set(VALID) == set(FORMATS)


@pytest.mark.parametrize("fmt", sorted(VALID))
def test_valid_records_pass(fmt):
    validate(fmt, VALID[fmt])


def changed(fmt: str, path: tuple, value=...) -> dict:
    """VALID[fmt] with the item at ``path`` replaced by ``value`` (or deleted)."""
    record = copy.deepcopy(VALID[fmt])
    node = record
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return record


INVALID = [
    # The conversation formats.
    ("trl-sft", changed("trl-sft", ("prompt",), []), "prompt"),
    ("trl-sft", changed("trl-sft", ("prompt", -1), GOOD), "user"),
    ("trl-sft", changed("trl-sft", ("completion",), [USER]), "exactly one"),
    ("trl-sft", changed("trl-sft", ("completion",), [GOOD, GOOD]), "exactly one"),
    ("trl-sft", {"messages": [SYSTEM, USER, GOOD]}, "messages"),  # trains on every token
    ("trl-sft", {**VALID["trl-sft"], "extra": 1}, "extra"),
    ("trl-sft", changed("trl-sft", ("prompt", 1, "role"), "tool"), "role"),
    ("trl-sft", changed("trl-sft", ("prompt", 1, "content"), "   "), "empty text"),
    ("trl-sft", changed("trl-sft", ("prompt", 1, "content"), 7), "content"),
    ("trl-sft", changed("trl-sft", ("prompt", 1, "name"), "alice"), "name"),
    ("raft", changed("raft", ("completion",)), "completion"),
    ("raft", changed("raft", ("completion", 0, "weight"), 1), "weight"),  # OpenAI's key only
    ("openai-sft", changed("openai-sft", ("messages", 1, "weight"), 0), "assistant messages"),
    ("openai-sft", changed("openai-sft", ("messages", 2, "weight"), 2), "weight"),
    ("openai-sft", changed("openai-sft", ("messages", 4, "weight"), 0), "weighted"),
    # Preference pairs.
    ("openai-dpo", changed("openai-dpo", ("input", "tools"), []), "input.tools"),
    ("openai-dpo", changed("openai-dpo", ("input", "messages"), [SYSTEM, USER, GOOD]), "user"),
    ("openai-dpo", changed("openai-dpo", ("preferred_output",), [GOOD, GOOD]), "exactly one"),
    ("openai-dpo", changed("openai-dpo", ("non_preferred_output",), [GOOD]), "identical"),
    ("openai-dpo", changed("openai-dpo", ("preferred_output",)), "preferred_output"),
    ("trl-dpo", changed("trl-dpo", ("chosen",), [USER]), "exactly one"),
    ("trl-dpo", changed("trl-dpo", ("rejected",), [GOOD]), "identical"),
    ("trl-dpo", changed("trl-dpo", ("prompt",), []), "prompt"),
    # KTO.
    ("trl-kto", changed("trl-kto", ("label",), "true"), "label"),
    ("trl-kto", changed("trl-kto", ("label",), 1), "label"),
    ("trl-kto", changed("trl-kto", ("completion",), [GOOD, BAD]), "exactly one"),
    ("trl-kto", changed("trl-kto", ("prompt",), [GOOD]), "user"),
    # Router.
    ("router", changed("router", ("question",), " "), "question"),
    ("router", changed("router", ("features",), {"best_cosine": 0.5}), "features.score"),
    ("router", changed("router", ("features",), {"score": "high"}), "features.score"),
    ("router", changed("router", ("features",), [0.6]), "features"),
    ("router", changed("router", ("decision",), "rewrite"), "decision"),
    ("router", changed("router", ("label",), "llm"), "label"),
    ("router", changed("router", ("label",)), "label"),
]


@pytest.mark.parametrize(("fmt", "record", "named"), INVALID)
def test_invalid_records_are_refused_naming_the_problem(fmt, record, named):
    with pytest.raises(RecordError) as excinfo:
        validate(fmt, record)
    assert named in str(excinfo.value)


def test_an_unknown_format_is_refused():
    with pytest.raises(RecordError, match="unknown format"):
        validate("csv", {})

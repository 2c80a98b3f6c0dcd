"""OpenAI's published format checks (the fine-tuning data-preparation checks of its
cookbook, and the preference-data shape of its DPO guide) over the exported files."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from askloop.integrations.answer_log.sql_log import SqlAnswerLog
from askloop.integrations.export.writer import ExportOptions, export_dataset
from tests.export_fixture import populate

MESSAGE_KEYS = {"role", "content", "name", "function_call", "weight"}
ROLES = {"system", "user", "assistant", "function"}


def chat_errors(messages) -> Counter:
    """The cookbook's per-example checks of a chat conversation."""
    errors: Counter = Counter()
    if not isinstance(messages, list) or not messages:
        errors["missing_messages_list"] += 1
        return errors
    for message in messages:
        if "role" not in message or "content" not in message:
            errors["message_missing_key"] += 1
        if set(message) - MESSAGE_KEYS:
            errors["message_unrecognized_key"] += 1
        if message.get("role") not in ROLES:
            errors["unrecognized_role"] += 1
        content = message.get("content")
        if (content is None and not message.get("function_call")) or not isinstance(content, str):
            errors["missing_content"] += 1
        if "weight" in message and message["weight"] not in (0, 1):
            errors["invalid_weight"] += 1
    if not any(m.get("role") == "assistant" for m in messages):
        errors["example_missing_assistant_message"] += 1
    return errors


def sft_errors(example) -> Counter:
    if not isinstance(example, dict):
        return Counter(data_type=1)
    return chat_errors(example.get("messages"))


def dpo_errors(example) -> Counter:
    errors: Counter = Counter()
    if set(example) != {"input", "preferred_output", "non_preferred_output"}:
        errors["unrecognized_or_missing_key"] += 1
    prompt = example.get("input", {}).get("messages")
    errors += chat_errors([*prompt, {"role": "assistant", "content": "x"}]) if prompt else {}
    if not prompt or prompt[-1].get("role") != "user":
        errors["input_not_ending_in_user_turn"] += 1
    for side in ("preferred_output", "non_preferred_output"):
        out = example.get(side)
        if not (isinstance(out, list) and len(out) == 1 and out[0].get("role") == "assistant"):
            errors[f"{side}_not_one_assistant_message"] += 1
        else:
            errors += chat_errors(out)
    if example.get("preferred_output") == example.get("non_preferred_output"):
        errors["identical_outputs"] += 1
    return errors


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("openai")
    log = SqlAnswerLog.sqlite(folder / "log.db")
    populate(log)
    files = {}
    for fmt in ("openai-sft", "openai-dpo"):
        path = folder / f"{fmt}.jsonl"
        export_dataset(log, ExportOptions(fmt=fmt, out=path, tenant="acme"))
        files[fmt] = [json.loads(line) for line in path.read_text().splitlines()]
    log.close()
    return files


def test_openai_sft_passes_the_cookbook_checks(exported):
    examples = exported["openai-sft"]
    assert len(examples) >= 10  # OpenAI's minimum
    assert sum((sft_errors(e) for e in examples), Counter()) == Counter()


def test_openai_dpo_passes_the_preference_checks(exported):
    examples = exported["openai-dpo"]
    assert len(examples) >= 10
    assert sum((dpo_errors(e) for e in examples), Counter()) == Counter()


def test_the_checks_find_what_they_look_for():
    bad = {"messages": [{"role": "tool", "content": 3, "weight": 2, "extra": 1}]}
    assert set(sft_errors(bad)) == {
        "message_unrecognized_key",
        "unrecognized_role",
        "missing_content",
        "invalid_weight",
        "example_missing_assistant_message",
    }
    same = [{"role": "assistant", "content": "a"}]
    pair = {"input": {"messages": [{"role": "user", "content": "q"}]}}
    assert dpo_errors({**pair, "preferred_output": same, "non_preferred_output": same}) == (
        Counter(identical_outputs=1)
    )

"""askloop's feedback form as Teams receives it: the ``message/fetchTask`` dialog."""

from __future__ import annotations

from typing import Any

from botbuilder.core import serializer_helper

from askloop.integrations.teams.feedback import (
    CORRECTION_INPUT,
    CORRECTION_MAX,
    REASON_INPUT,
    REASON_MAX,
)
from askloop.integrations.teams.feedback_form import feedback_dialog, notice_dialog


def wire(dialog: Any) -> dict[str, Any]:
    body: dict[str, Any] = serializer_helper(dialog)
    return body


def card_of(body: dict[str, Any]) -> dict[str, Any]:
    """The Adaptive Card of a ``continue`` task-module response."""
    assert set(body) == {"task"}
    task = body["task"]
    assert task["type"] == "continue"
    attachment = task["value"]["card"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    return card


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in card["body"] if e["type"] == "Input.Text"}


def test_a_dislike_asks_what_was_wrong_and_for_the_correct_answer():
    body = wire(feedback_dialog("down"))
    card = card_of(body)

    fields = inputs(card)
    assert list(fields) == [REASON_INPUT, CORRECTION_INPUT]
    assert fields[REASON_INPUT]["label"] == "What was wrong?"
    assert fields[CORRECTION_INPUT]["label"] == "The correct answer (used to train askloop)"
    # The card stops the user where the parser would cut or refuse.
    assert fields[REASON_INPUT]["maxLength"] == REASON_MAX
    assert fields[CORRECTION_INPUT]["maxLength"] == CORRECTION_MAX
    assert all(f["isMultiline"] is True and not f.get("isRequired") for f in fields.values())
    assert card["actions"] == [{"type": "Action.Submit", "title": "Send"}]
    assert body["task"]["value"]["title"] == "👎 Improve this answer"


def test_a_like_asks_only_what_was_good():
    body = wire(feedback_dialog("up"))
    card = card_of(body)

    assert list(inputs(card)) == [REASON_INPUT]
    assert inputs(card)[REASON_INPUT]["label"] == "What was good?"
    assert [a["type"] for a in card["actions"]] == ["Action.Submit"]
    assert body["task"]["value"]["title"] == "👍 Glad it helped"


def test_a_notice_is_a_dialog_with_nothing_to_submit():
    card = card_of(wire(notice_dialog("askloop can't take feedback on this message.")))

    assert card["body"] == [
        {"type": "TextBlock", "text": "askloop can't take feedback on this message.", "wrap": True}
    ]
    assert "actions" not in card

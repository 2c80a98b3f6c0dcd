"""The feedback invoke's value as Teams sends it, and everything it may look like."""

from __future__ import annotations

import json

import pytest

from integrations.teams.feedback import BadFeedbackError, FeedbackAction, parse_feedback


def value(**action) -> dict:
    return {"actionName": "feedback", "actionValue": action}


def test_the_documented_like_with_its_json_string_feedback():
    documented = {
        "actionName": "feedback",
        "actionValue": {"reaction": "like", "feedback": '{"feedbackText":"This is my feedback."}'},
    }
    assert parse_feedback(documented) == FeedbackAction("up", "This is my feedback.")


def test_dislike_without_text_and_without_the_form():
    assert parse_feedback(value(reaction="dislike", feedback=json.dumps({"feedbackText": ""}))) == (
        FeedbackAction("down", "")
    )
    assert parse_feedback(value(reaction="dislike")) == FeedbackAction("down", "")


def test_a_feedback_object_instead_of_a_string_is_read_too():
    assert parse_feedback(value(reaction="like", feedback={"feedbackText": " ok "})) == (
        FeedbackAction("up", "ok")
    )


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "feedback",
        {"actionName": "somethingElse", "actionValue": {"reaction": "like"}},
        {"actionName": "feedback"},
        {"actionName": "feedback", "actionValue": "like"},
        value(reaction="love"),
        value(reaction=None),
        value(reaction="like", feedback="not json"),
        value(reaction="like", feedback='{"feedbackText": 5}'),
        value(reaction="like", feedback="[1, 2]"),
    ],
)
def test_anything_else_is_refused(bad):
    with pytest.raises(BadFeedbackError):
        parse_feedback(bad)

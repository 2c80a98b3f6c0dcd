"""The feedback invoke's value as Teams sends it, and everything it may look like: the
form is Teams' own (``feedbackText``) or askloop's (``reason`` and ``correction``)."""

from __future__ import annotations

import json

import pytest

from askloop.integrations.teams.feedback import (
    CORRECTION_MAX,
    REASON_MAX,
    BadFeedbackError,
    FeedbackAction,
    parse_feedback,
    parse_rating,
)
from tests.teams_fake import doc_fixture, needs_doc_fixtures


def value(**action) -> dict:
    return {"actionName": "feedback", "actionValue": action}


def custom(reaction: str, **inputs) -> dict:
    """A submit of askloop's form: its inputs as a JSON string, like Teams' own form."""
    return value(reaction=reaction, feedback=json.dumps(inputs))


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


def test_a_long_comment_in_teams_form_is_cut_to_what_the_log_keeps():
    action = parse_feedback(
        value(reaction="like", feedback=json.dumps({"feedbackText": "x" * 9000}))
    )
    assert action == FeedbackAction("up", "x" * REASON_MAX)


def test_askloops_form_gives_the_reason_and_on_a_dislike_the_correction():
    assert parse_feedback(
        custom("dislike", reason=" Cited the 2023 policy. ", correction=" 28 days since 2024. ")
    ) == FeedbackAction("down", "Cited the 2023 policy.", "28 days since 2024.")
    assert parse_feedback(custom("like", reason="Clear and cited.")) == (
        FeedbackAction("up", "Clear and cited.")
    )


def test_askloops_form_left_empty_is_a_bare_rating():
    assert parse_feedback(custom("dislike", reason="", correction="")) == FeedbackAction("down", "")
    assert parse_feedback(custom("like")) == FeedbackAction("up", "")


def test_a_correction_on_a_like_is_dropped():
    # askloop's form asks for one only on a 👎, and only a 👎's correction trains.
    assert parse_feedback(custom("like", reason="ok", correction="something else")) == (
        FeedbackAction("up", "ok", "")
    )


def test_askloops_form_within_and_beyond_its_limits():
    longest = parse_feedback(custom("dislike", reason="r" * 5000, correction="c" * CORRECTION_MAX))
    assert longest == FeedbackAction("down", "r" * REASON_MAX, "c" * CORRECTION_MAX)
    # A correction cut short would train a wrong answer: refused, never cut.
    with pytest.raises(BadFeedbackError, match="longer than"):
        parse_feedback(custom("dislike", reason="r", correction="c" * (CORRECTION_MAX + 1)))


def test_the_rating_of_a_fetch_task():
    assert parse_rating(value(reaction="like")) == "up"
    assert parse_rating(value(reaction="dislike")) == "down"
    with pytest.raises(BadFeedbackError):
        parse_rating(value(reaction="meh"))


@needs_doc_fixtures
def test_the_documented_payloads():
    assert parse_rating(doc_fixture("invoke_feedback_fetchtask.json")["value"]) == "up"
    assert parse_feedback(doc_fixture("invoke_feedback_submit_dislike.json")["value"]) == (
        FeedbackAction("down", "Cited the wrong policy version.")
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
        value(reaction="like", feedback='"just a string"'),
        value(reaction="like", feedback="[" * 100_000),
        value(reaction="like", feedback='{"feedbackText": null}'),
        custom("dislike", reason=42),
        custom("dislike", reason="wrong", correction=["28 days"]),
        custom("dislike", reason=None),
        custom("dislike", feedbackText="wrong", correction="28 days"),
        custom("like", feedbackText="ok", reason="ok"),
    ],
)
def test_anything_else_is_refused(bad):
    with pytest.raises(BadFeedbackError):
        parse_feedback(bad)

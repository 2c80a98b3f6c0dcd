"""The platform's own time of a rating: Slack timestamps and the Teams activity's."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from askloop.integrations.slack.values import ModalState, slack_time
from askloop.integrations.teams.feedback import rated_at


def test_a_slack_timestamp_is_exact_to_the_microsecond():
    assert slack_time("1700000000.123456") == datetime(2023, 11, 14, 22, 13, 20, 123456, UTC)
    assert slack_time("1700000000.1") == datetime(2023, 11, 14, 22, 13, 20, 100000, UTC)
    # Eight fraction digits occur in some events: cut, never rounded up a second.
    assert slack_time("1700000000.99999999").microsecond == 999999


@pytest.mark.parametrize("bad", [None, 17, "", "now", "1700000000", "999999999999.1", "1.2.3"])
def test_anything_else_is_no_time(bad):
    assert slack_time(bad) is None


def test_a_modal_carries_the_clicks_time_and_older_modals_still_decode():
    state = ModalState(answer_id="a1", channel="C1", clicked_ts="1700000000.000100")
    assert ModalState.decode(state.encode()).clicked_ts == "1700000000.000100"
    assert ModalState.decode('{"v": 1, "answer_id": "a1", "channel": "C1"}').clicked_ts is None


def test_a_teams_activitys_timestamp_is_taken_as_utc():
    aware = datetime(2025, 1, 9, 10, 0, 3, tzinfo=UTC)
    assert rated_at(SimpleNamespace(timestamp=aware)) == aware
    assert rated_at(SimpleNamespace(timestamp=aware.replace(tzinfo=None))) == aware
    assert rated_at(SimpleNamespace(timestamp=None)) is None


def _form(payload: object) -> str:
    import json
    import urllib.parse

    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def test_only_one_click_on_the_feedback_buttons_takes_the_short_way():
    from askloop.integrations.slack.values import FEEDBACK_ACTION, feedback_click

    click = {"type": "block_actions", "actions": [{"action_id": FEEDBACK_ACTION, "value": "v"}]}
    assert feedback_click(_payload(click)) == click
    other = {"type": "block_actions", "actions": [{"action_id": "something_else"}]}
    two = {"type": "block_actions", "actions": click["actions"] * 2}
    submission = {"type": "view_submission", "actions": click["actions"]}
    for payload in (other, two, submission, [click], "x", None):
        assert feedback_click(_payload(payload)) is None
    assert _payload_of("payload=%7Bnot+json") is None
    assert _payload_of("") is None
    assert _payload_of(_form(click) + "&" + _form(click)) is None  # two payload fields


def _payload(payload: object) -> object:
    """What the endpoint hands ``feedback_click``: the form's payload, decoded once."""
    return _payload_of(_form(payload))


def _payload_of(form: str) -> object:
    from askloop.integrations.slack.shape import shape

    return shape(form, "application/x-www-form-urlencoded").payload

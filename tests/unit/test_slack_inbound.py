"""Slack's documented payloads (shared/fixtures/slack) → what askloop makes of them."""

from __future__ import annotations

import json

import pytest

from askloop.integrations.slack.feedback import reaction_rating
from askloop.integrations.slack.inbound import envelope_of, question_from
from tests.slack_payloads import SLACK_DOC_FIXTURES, needs_doc_fixtures

FIXTURES = SLACK_DOC_FIXTURES
pytestmark = needs_doc_fixtures


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def context_of(body: dict) -> dict:
    """What Bolt's context holds for a body (team from authorizations, as Bolt does)."""
    auth = (body.get("authorizations") or [{}])[0]
    return {
        "team_id": auth.get("team_id") or body.get("team_id"),
        "enterprise_id": auth.get("enterprise_id") or body.get("enterprise_id"),
        "is_enterprise_install": auth.get("is_enterprise_install"),
    }


def test_an_app_mention_is_a_question_answered_in_its_thread():
    body = fixture("app_mention.json")
    q = question_from("mention", body, envelope_of(context_of(body), None, body))
    assert q is not None
    assert (q.channel, q.ts, q.thread_ts, q.user) == (
        "C123ABC456",
        "1515449522.000016",
        None,
        "U061F7AUR",
    )
    assert q.reply_thread == "1515449522.000016"
    assert q.conversation_id == "C123ABC456:1515449522.000016"
    assert q.event_id == "Ev123ABC456"
    assert q.envelope.platform_tenant == "T123ABC456"
    assert q.envelope.bot_user_id == "U0LAN0Z89"  # the mentioned bot, from authorizations
    assert not q.direct and not q.follow_up


def test_a_direct_message_is_answered_in_the_conversation():
    body = fixture("message_im.json")
    q = question_from("message", body, envelope_of(context_of(body), None, body))
    assert q is not None and q.direct
    assert q.reply_thread is None and q.conversation_id == "D024BE91L"
    assert q.envelope.bot_user_id is None  # that authorization is a user's, not a bot's


@pytest.mark.parametrize("name", ["message_changed.json", "message_deleted.json"])
def test_edits_and_deletions_are_not_questions(name):
    body = fixture(name)
    assert question_from("message", body, envelope_of(context_of(body), None, body)) is None


def test_a_top_level_channel_message_is_only_a_question_through_its_mention():
    body = fixture("message_im.json")
    body["event"].update(channel="C0GENERAL", channel_type="channel")
    assert question_from("message", body, envelope_of({}, None, body)) is None
    body["event"]["thread_ts"] = "1355517000.000001"
    q = question_from("message", body, envelope_of({}, None, body))
    assert q is not None and q.follow_up and q.reply_thread == "1355517000.000001"


def test_a_mention_in_a_direct_message_channel_is_direct():
    body = fixture("app_mention.json")
    body["event"]["channel"] = "D024BE91L"
    q = question_from("mention", body, envelope_of({}, None, body))
    assert q is not None and q.direct and q.reply_thread is None


def test_retry_headers_are_read_as_bolt_passes_them():
    headers = fixture("retry_headers.json")["retry_delivery_headers"]
    lowered = {k.lower(): [v] for k, v in headers.items()}
    assert envelope_of({}, lowered).retry_num == 1
    assert envelope_of({}, {}).retry_num == 0


def test_org_installs_are_keyed_by_the_enterprise():
    body = fixture("message_deleted.json")
    ctx = {"team_id": "T-auth", "enterprise_id": "E-auth", "is_enterprise_install": True}
    assert envelope_of(ctx, None, body).platform_tenant == "E-auth"
    assert envelope_of(dict(ctx, is_enterprise_install=False)).platform_tenant == "T-auth"


def test_thumbs_reactions_map_to_ratings():
    assert reaction_rating(fixture("reaction_added.json")["event"]["reaction"]) == "up"
    assert [reaction_rating(r) for r in ("+1", "+1::skin-tone-4", "-1", "thumbsdown")] == [
        "up",
        "up",
        "down",
        "down",
    ]
    assert reaction_rating("tada") is None

"""Bad input at the platform endpoints: a clear status, nothing processed twice, no crash.

Signatures and tokens have their own suites (test_slack_events, test_teams_auth); here:
malformed bodies, empty and huge messages, oversized requests.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.slack_fake import FakeSlack, post_signed
from tests.slack_payloads import app_mention
from tests.slack_rig import slack_rig
from tests.teams_fake import PERSONAL, personal_message, post, teams_server
from tests.teams_fake import teams_settings as make_teams_settings

HUGE = "How many days of annual leave do employees get? " + "Please explain in detail. " * 4000


def raw_post(url: str, body: bytes, content_type: str) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def slack():
    with FakeSlack(rate_per_second=20, retry_after=0) as fake:
        yield fake


def test_slack_signed_garbage_is_400_and_an_event_without_event_is_ignored(tmp_path, slack):
    with slack_rig(tmp_path, slack) as rig:
        assert post_signed(rig.url, "\x00\x01 not json, not a form")[0] == 400
        assert post_signed(rig.url, "{not json")[0] == 400
        status, _ = rig.event(
            {"type": "event_callback", "event_id": "Ev0EMPTY", "team_id": "T0ACME"}
        )
        assert status == 200  # acknowledged: Slack must not retry it
        rig.settle()
        assert rig.answers() == [] and slack.messages("C0GENERAL") == []
        assert (
            rig.metric("askloop_answer_failures_total", platform="slack", reason="answer_failed")
            == 0
        )


def test_slack_a_huge_question_is_answered_once_from_its_truncated_text(tmp_path, slack):
    with slack_rig(tmp_path, slack) as rig:
        assert rig.event(app_mention(HUGE, channel="C0GENERAL", ts="1700000070.000100"))[0] == 200
        rig.settle()
        [logged] = rig.answers("acme")
        [reply, *_] = slack.messages("C0GENERAL")
    assert reply.thread_ts == "1700000070.000100"
    assert logged.record.trace[0].detail["truncated"] is True
    assert len(logged.record.question) <= 4000


def test_slack_an_oversized_request_is_413_and_nothing_is_answered(tmp_path, slack):
    with slack_rig(tmp_path, slack) as rig:
        body = json.dumps({"type": "event_callback", "padding": "x" * (2 * 1024 * 1024)})
        assert raw_post(rig.url, body.encode(), "application/json") == 413
        rig.settle()
        assert rig.answers() == []


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2, 3]", "application/json", 400),
        (b'{"text": "no type"}', "application/json", 400),
        (b"hello", "text/plain", 415),
    ],
)
def test_teams_malformed_bodies_get_a_clear_4xx(tmp_path, connector, body, content_type, status):
    with teams_server(tmp_path, make_teams_settings(tmp_path / "home")) as srv:
        assert raw_post(srv.url + "/api/messages", body, content_type) == status
        srv.settle()
        assert srv.runtime.services.answer_log.recent(limit=5) == []
    assert connector.to(PERSONAL) == []


def test_teams_an_empty_message_gets_a_hint_not_an_answer(tmp_path, connector):
    with teams_server(tmp_path, make_teams_settings(tmp_path / "home")) as srv:
        assert post(srv.url, personal_message("   ", service_url=connector.url)).status == 200
        srv.settle()
        assert srv.runtime.services.answer_log.recent(limit=5) == []
    [hint] = connector.to(PERSONAL)
    assert hint.type == "message" and hint.activity["text"]


def test_teams_a_huge_message_is_answered_once_from_its_truncated_text(tmp_path, connector):
    with teams_server(tmp_path, make_teams_settings(tmp_path / "home")) as srv:
        assert post(srv.url, personal_message(HUGE, service_url=connector.url)).status == 200
        srv.settle()
        [logged] = srv.runtime.services.answer_log.recent(limit=5)
    assert logged.record.trace[0].detail["truncated"] is True
    assert [s.type for s in connector.to(PERSONAL)][-1] == "message"


def test_teams_an_oversized_request_is_413_and_nothing_is_answered(tmp_path, connector):
    with teams_server(tmp_path, make_teams_settings(tmp_path / "home")) as srv:
        activity = personal_message("x" * (2 * 1024 * 1024), service_url=connector.url)
        status = raw_post(
            srv.url + "/api/messages", json.dumps(activity).encode(), "application/json"
        )
        assert status == 413
        srv.settle()
        assert srv.runtime.services.answer_log.recent(limit=5) == []
    assert connector.to(PERSONAL) == []

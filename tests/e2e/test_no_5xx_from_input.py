"""Input alone never earns a 5xx: each body a fault probe found crashing the handlers
gets a clear 4xx (or a 200 that ignores what Slack may legitimately send), nothing is
answered, and the server keeps serving.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

import pytest

from tests.e2e.test_teams_auth import secured
from tests.slack_fake import SIGNING_SECRET, FakeSlack, post_signed
from tests.slack_payloads import app_mention
from tests.slack_rig import slack_rig
from tests.teams_fake import PERSONAL, personal_message, post, teams_server, teams_settings


def send(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def slack():
    with FakeSlack(rate_per_second=20, retry_after=0) as fake:
        yield fake


def test_slack_an_overlong_timestamp_is_401_not_an_overflow(tmp_path, slack):
    with slack_rig(tmp_path, slack) as rig:
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": "9" * 400,
            "X-Slack-Signature": "v0=" + "0" * 64,
        }
        assert send(rig.url, b'{"type": "event_callback"}', headers) == 401
        # Signed, but with a timestamp no clock can be compared with.
        status, _ = post_signed(rig.url, app_mention("hi"), timestamp=10**40)
        assert status == 401
        rig.settle()
        assert rig.answers() == []


@pytest.mark.parametrize("body", ["[]", "[1, 2]", '"a string"', "null", "42", "true"])
def test_slack_signed_json_that_is_not_an_object_is_400(tmp_path, slack, body):
    with slack_rig(tmp_path, slack) as rig:
        assert post_signed(rig.url, body)[0] == 400
        rig.settle()
        assert rig.answers() == [] and slack.messages() == []


def bytes_signed(raw: bytes, content_type: str) -> dict[str, str]:
    """Slack's v0 signature over raw bytes (its own helper wants text)."""
    ts = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "event_callback", "event": {"type": "app_mention", "text": "\xff\xfe"}}',
        '{"type": "event_callback"}'.encode("utf-16"),
        b"payload=%7B%7D\xff",
    ],
)
@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_slack_a_signed_body_that_is_not_utf8_is_400(tmp_path, slack, raw, content_type):
    with slack_rig(tmp_path, slack) as rig:
        assert send(rig.url, raw, bytes_signed(raw, content_type)) == 400
        unsigned = {**bytes_signed(raw, content_type), "X-Slack-Signature": "v0=" + "0" * 64}
        assert send(rig.url, raw, unsigned) == 401
        rig.settle()
        assert rig.answers() == []


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "block_actions", "actions": [], "user": {"id": "U1"}, "team": {"id": "T0ACME"}},
        {"type": "block_actions", "user": {"id": "U1"}, "team": {"id": "T0ACME"}},
        {"type": "block_actions", "actions": [None], "team": {"id": "T0ACME"}},
        {"type": "block_actions", "actions": "up", "team": {"id": "T0ACME"}},
        {"type": "view_submission", "team": {"id": "T0ACME"}},
        {"type": "view_submission", "view": None, "team": {"id": "T0ACME"}},
    ],
)
def test_slack_signed_interactions_without_their_parts_are_not_5xx(tmp_path, slack, payload):
    with slack_rig(tmp_path, slack) as rig:
        status, _ = rig.interact(payload)
        assert 200 <= status < 500
        rig.settle()
        assert rig.answers() == []
        # And the server still answers a real question afterwards.
        assert rig.event(app_mention("How many days of annual leave do employees get?"))[0] == 200
        rig.settle()
        assert len(rig.answers()) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"conversation": None},
        {"conversation": "personal"},
        {"conversation": {}},
        {"from": None},
        {"recipient": None},
        {"serviceUrl": None},
        {"serviceUrl": 42},
        {"text": {"not": "text"}},
        {"value": "not an object", "type": "invoke", "name": "message/submitAction"},
        {"type": 7},
    ],
)
def test_teams_activities_missing_their_parts_are_4xx(tmp_path, connector, change):
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        activity = personal_message("How many days?", service_url=connector.url)
        activity.update(change)
        response = post(srv.url, activity)
        srv.settle()
        assert 400 <= response.status < 500 or response.status == 200
        assert srv.runtime.services.answer_log.recent(limit=5) == []
        # The server still answers afterwards.
        ok = personal_message("How many days of annual leave?", service_url=connector.url)
        assert post(srv.url, ok).status == 200
        srv.settle()
        assert len(srv.runtime.services.answer_log.recent(limit=5)) == 1
    assert connector.to(PERSONAL)


@pytest.mark.usefixtures("azure_ad")
@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"{not json", "application/json"), (b"[]", "application/json"), (b"x", "text/plain")],
)
def test_teams_a_bad_token_is_401_whatever_the_body(tmp_path, openid, body, content_type):
    with secured(tmp_path, openid) as srv:
        headers = {"Content-Type": content_type, "Authorization": "Bearer not-a-token"}
        assert send(srv.url + "/api/messages", body, headers) == 401
        headers.pop("Authorization")
        assert send(srv.url + "/api/messages", body, headers) == 401


def test_teams_an_unreadable_body_is_400(tmp_path, connector):
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        raw = json.dumps(personal_message("hi", service_url=connector.url)).encode("utf-16")
        assert send(srv.url + "/api/messages", raw, {"Content-Type": "application/json"}) == 400
        srv.settle()
        assert srv.runtime.services.answer_log.recent(limit=5) == []

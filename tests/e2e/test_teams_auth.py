"""With ``MicrosoftAppId`` set, only requests with a valid Bot Framework token are
processed; every other one is a 401 and leaves no trace. Tokens are minted here and
checked against OpenID metadata served from loopback (``BOTFRAMEWORK_OPENID_METADATA``).
"""

from __future__ import annotations

import pytest

from askloop.integrations.teams import auth
from tests.e2e.conftest import OUTBOUND_TOKEN
from tests.teams_fake import (
    APP_ID,
    PERSONAL,
    BotFrameworkKeys,
    FakeOpenId,
    feedback_invoke,
    personal_message,
    post,
    teams_server,
    teams_settings,
)

pytestmark = pytest.mark.usefixtures("azure_ad")

QUESTION = "How many days of annual leave do employees get?"


def secured(tmp_path, openid):
    settings = teams_settings(
        tmp_path / "home",
        app_id=APP_ID,
        app_password="app-secret",
        openid_metadata=openid.metadata_url,
    )
    return teams_server(tmp_path, settings)


def test_a_valid_token_is_processed_and_replies_carry_the_bots_own_token(
    tmp_path, keys, openid, connector
):
    with secured(tmp_path, openid) as srv:
        token = keys.token(service_url=connector.url)
        response = post(srv.url, personal_message(QUESTION, service_url=connector.url), token=token)
        srv.settle()
        (logged,) = srv.runtime.services.answer_log.recent()

        reply = connector.messages(PERSONAL)[-1]
        invoke = feedback_invoke(reply.id, service_url=connector.url)
        feedback = post(srv.url, invoke, token=keys.token(service_url=connector.url))

    assert response.status == 200
    assert reply.activity["text"].startswith("Every employee gets 26 days [1].")
    assert {s.authorization for s in connector.sent} == {f"Bearer {OUTBOUND_TOKEN}"}
    assert (feedback.status, feedback.body) == (200, {})
    assert srv.runtime.services.answer_log.get_answer(logged.record.answer_id).rating == "up"


ELSEWHERE = "http://127.0.0.1:9/"

# name -> how to make the Authorization header (None: no header at all)
MATRIX = {
    "missing": lambda keys, url: None,
    "expired": lambda keys, url: keys.token(service_url=url, expires_in=-3600),
    "wrong audience": lambda keys, url: keys.token(service_url=url, audience="another-bot"),
    "wrong issuer": lambda keys, url: keys.token(service_url=url, issuer="https://evil.example"),
    "unknown kid": lambda keys, url: keys.token(service_url=url, kid="rotated-away"),
    "forged signature": lambda keys, url: keys.token(service_url=url, key=keys.forger),
    "mismatched serviceUrl": lambda keys, url: keys.token(service_url=ELSEWHERE),
    "not a JWT": lambda keys, url: "not-a-jwt",
}


@pytest.mark.parametrize("kind", list(MATRIX))
def test_every_bad_token_is_a_401_and_nothing_is_processed(
    tmp_path, keys, openid, connector, kind, caplog
):
    token = MATRIX[kind](keys, connector.url)
    with secured(tmp_path, openid) as srv:
        message = post(srv.url, personal_message(QUESTION, service_url=connector.url), token=token)
        invoke = post(
            srv.url, feedback_invoke("1736416800001", service_url=connector.url), token=token
        )
        srv.settle()
        assert srv.runtime.services.answer_log.recent() == []
        metrics = srv.runtime.metrics.render().decode()

    assert (message.status, invoke.status) == (401, 401)
    assert connector.sent == []
    assert 'askloop_platform_requests_total{outcome="unauthorized",platform="teams"} 2.0' in metrics
    assert "request refused (401)" in caplog.text or "without a token" in caplog.text


def test_a_key_not_endorsed_for_teams_is_a_401(tmp_path, connector):
    webchat_keys = BotFrameworkKeys(endorsements=("webchat",))
    openid = FakeOpenId(webchat_keys)
    try:
        with secured(tmp_path, openid) as srv:
            response = post(
                srv.url,
                personal_message(QUESTION, service_url=connector.url),
                token=webchat_keys.token(service_url=connector.url),
            )
            srv.settle()
            assert srv.runtime.services.answer_log.recent() == []
    finally:
        openid.close()
    assert response.status == 401
    assert connector.sent == []


def test_the_signing_keys_are_fetched_off_the_event_loop(tmp_path, connector, monkeypatch):
    import threading

    import requests

    keys = BotFrameworkKeys()
    openid = FakeOpenId(keys)  # a new URL: nothing cached for it yet
    fetched_on: list[str] = []
    real_get = requests.get

    def get(url, *args, **kwargs):
        fetched_on.append(threading.current_thread().name)
        return real_get(url, *args, **kwargs)

    monkeypatch.setattr(requests, "get", get)
    try:
        with secured(tmp_path, openid) as srv:
            response = post(
                srv.url,
                personal_message(QUESTION, service_url=connector.url),
                token=keys.token(service_url=connector.url),
            )
            srv.settle()
    finally:
        openid.close()
    assert response.status == 200
    assert fetched_on and "askloop-test-server" not in fetched_on  # the server's loop thread


def test_rotated_signing_keys_are_picked_up_without_waiting_a_day(tmp_path, connector, monkeypatch):
    # The re-fetch for an unknown key id is rate-limited (minutes); not here.
    monkeypatch.setattr(auth, "_UNKNOWN_KID_REFRESH_AFTER", auth.timedelta(0))
    old, new = BotFrameworkKeys(), BotFrameworkKeys(kid="rotated-in")
    openid = FakeOpenId(old)
    try:
        with secured(tmp_path, openid) as srv:
            first = personal_message(QUESTION, service_url=connector.url)
            assert post(srv.url, first, token=old.token(service_url=connector.url)).status == 200
            old.jwks = {"keys": old.jwks["keys"] + new.jwks["keys"]}  # Microsoft rotates
            second = personal_message(QUESTION, service_url=connector.url, activity_id="2")
            response = post(srv.url, second, token=new.token(service_url=connector.url))
            srv.settle()
    finally:
        openid.close()
    assert response.status == 200

"""Teams without an app id: only the Bot Framework Emulator on this machine gets in.

No token can be checked, so ``/api/messages`` serves a request only from a loopback
peer, with no forwarding header, naming a loopback ``serviceUrl``; everything else is a
401, nothing is answered and nothing is posted to the ``serviceUrl`` it names.
``[teams] allow_unauthenticated = true`` opens the door, loudly.
"""

from __future__ import annotations

import json
import logging
import socket
import urllib.error
import urllib.request

import pytest

from tests.teams_fake import (
    FakeConnector,
    Response,
    personal_message,
    post,
    teams_server,
    teams_settings,
)

QUESTION = "How many days of annual leave do employees get?"


def lan_address() -> str | None:
    """An address of this machine that is not loopback (None if it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # a route lookup only: nothing is sent
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


LAN = lan_address()
needs_lan = pytest.mark.skipif(LAN is None, reason="this machine has no non-loopback address")


def post_with(url: str, activity: dict, headers: dict[str, str]) -> Response:
    request = urllib.request.Request(
        f"{url}/api/messages",
        data=json.dumps(activity).encode(),
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return Response(r.status, r.read(), r.headers.get_content_type(), 0.0)
    except urllib.error.HTTPError as e:
        return Response(e.code, e.read(), e.headers.get_content_type(), 0.0)


def answers(srv):
    return srv.runtime.services.answer_log.recent(limit=10)


def refused(srv) -> float:
    sample = srv.runtime.metrics.registry.get_sample_value(
        "askloop_platform_requests_total", {"platform": "teams", "outcome": "unauthorized"}
    )
    return sample or 0.0


def test_the_emulator_on_loopback_is_answered(tmp_path, connector):
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        assert post(srv.url, personal_message(QUESTION, service_url=connector.url)).status == 200
        srv.settle()
        assert len(answers(srv)) == 1
    assert len(connector.messages()) == 1


def test_a_localhost_service_url_is_the_emulator_too(tmp_path, connector):
    service_url = connector.url.replace("127.0.0.1", "localhost")
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        assert post(srv.url, personal_message(QUESTION, service_url=service_url)).status == 200
        srv.settle()
    assert len(connector.messages()) == 1


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": "203.0.113.7"},
        {"Forwarded": "for=203.0.113.7;proto=https"},
        {"X-Real-IP": "203.0.113.7"},
    ],
    ids=lambda h: next(iter(h)),
)
def test_a_request_through_a_proxy_is_401_and_not_answered(tmp_path, connector, header):
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        activity = personal_message(QUESTION, service_url=connector.url)
        response = post_with(srv.url, activity, header)
        srv.settle()
        assert response.status == 401
        assert answers(srv) == []
        assert refused(srv) == 1
    assert connector.sent == []


@needs_lan
def test_a_request_from_another_address_is_401_and_not_answered(tmp_path, connector):
    with teams_server(tmp_path, teams_settings(tmp_path / "home"), host="0.0.0.0") as srv:
        lan_url = srv.url.replace("127.0.0.1", str(LAN))
        response = post(lan_url, personal_message(QUESTION, service_url=connector.url))
        srv.settle()
        assert response.status == 401
        assert answers(srv) == []
    assert connector.sent == []


@needs_lan
def test_a_service_url_off_this_machine_is_401_and_never_posted_to(tmp_path):
    # The reply would carry knowledge-base content to whatever serviceUrl is named.
    with (
        FakeConnector(host=str(LAN)) as elsewhere,
        teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv,
    ):
        response = post(srv.url, personal_message(QUESTION, service_url=elsewhere.url))
        srv.settle()
        assert response.status == 401
        assert answers(srv) == []
        assert elsewhere.sent == []


@pytest.mark.parametrize(
    "service_url",
    [
        "https://smba.trafficmanager.net/teams/",
        "http://203.0.113.7:3978/",
        "http://127.0.0.1@203.0.113.7:3978/",  # user info: the host is the second one
        "http://203.0.113.7\\@127.0.0.1:3978/",  # clients disagree on this one's host
        "http://0.0.0.0:3978/",
    ],
)
def test_service_urls_that_are_not_loopback_are_401(tmp_path, connector, service_url):
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        response = post(srv.url, personal_message(QUESTION, service_url=service_url))
        srv.settle()
        assert response.status == 401
        assert answers(srv) == []


def test_the_door_is_judged_before_the_body(tmp_path):
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        response = post_with(srv.url, {"not": "an activity"}, {"X-Forwarded-For": "203.0.113.7"})
    assert response.status == 401


@needs_lan
def test_allow_unauthenticated_opens_the_door_and_says_so(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="askloop.integrations.teams")
    settings = teams_settings(tmp_path / "home", allow_unauthenticated=True)
    with (
        FakeConnector(host=str(LAN)) as elsewhere,
        teams_server(tmp_path, settings, host="0.0.0.0") as srv,
    ):
        lan_url = srv.url.replace("127.0.0.1", str(LAN))
        activity = personal_message(QUESTION, service_url=elsewhere.url)
        assert post_with(lan_url, activity, {"X-Forwarded-For": "203.0.113.7"}).status == 200
        srv.settle()
        assert len(answers(srv)) == 1
        assert len(elsewhere.messages()) == 1
    [warning] = [r for r in caplog.records if r.name == "askloop.integrations.teams"]
    assert warning.levelno == logging.WARNING
    assert "allow_unauthenticated" in warning.getMessage()
    assert "UNAUTHENTICATED" in warning.getMessage()


def test_allow_unauthenticated_serves_a_proxied_request(tmp_path, connector):
    settings = teams_settings(tmp_path / "home", allow_unauthenticated=True)
    with teams_server(tmp_path, settings) as srv:
        activity = personal_message(QUESTION, service_url=connector.url)
        assert post_with(srv.url, activity, {"X-Forwarded-For": "203.0.113.7"}).status == 200
        srv.settle()
        assert len(answers(srv)) == 1

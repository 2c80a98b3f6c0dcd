"""Closed doors by default: what counts as this machine, and which tenants get in."""

from __future__ import annotations

from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request

from askloop.config.settings import Settings, SlackSettings, TeamsSettings, load_settings
from askloop.integrations.server.loopback import (
    FORWARDING_HEADERS,
    is_loopback_host,
    is_loopback_url,
    why_not_local,
)
from askloop.integrations.server.tenancy import tenant_of, unmapped_policy


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "::ffff:127.0.0.1", "localhost", "LocalHost"],
)
def test_loopback_hosts(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "::", "192.0.2.2", "10.0.0.1", "::ffff:10.0.0.1", "localhost.evil.example", ""],
)
def test_hosts_that_are_not_loopback(host):
    assert not is_loopback_host(host)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3978/",
        "http://localhost:3978",
        "https://[::1]:3978/v3?x=1",
        "http://127.0.0.1:9000/emulator/abc",
    ],
)
def test_loopback_urls(url):
    assert is_loopback_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://smba.trafficmanager.net/teams/",
        "http://127.0.0.1@evil.example/",
        "http://evil.example\\@127.0.0.1/",
        "http://127.0.0.1/\\@evil.example",
        "http://127.0.0.1:3978 /",
        "ftp://127.0.0.1/",
        "http://127.0.0.1.evil.example/",
        "",
    ],
)
def test_urls_that_are_not_loopback(url):
    assert not is_loopback_url(url)


def request_from(peer, headers=None):
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        peer if name == "peername" else default
    )
    return make_mocked_request("POST", "/api/messages", headers=headers or {}, transport=transport)


def test_a_loopback_peer_without_forwarding_headers_is_local():
    assert why_not_local(request_from(("127.0.0.1", 50000))) is None
    assert why_not_local(request_from(("::1", 50000, 0, 0))) is None
    assert why_not_local(request_from(("::ffff:127.0.0.1", 50000, 0, 0))) is None


@pytest.mark.parametrize("header", FORWARDING_HEADERS)
def test_any_forwarding_header_makes_a_loopback_peer_remote(header):
    why = why_not_local(request_from(("127.0.0.1", 50000), {header: "203.0.113.7"}))
    assert why is not None and header in why


@pytest.mark.parametrize("peer", [("192.0.2.2", 50000), ("::ffff:10.1.2.3", 1, 0, 0), None, ""])
def test_other_peers_are_remote(peer):
    assert why_not_local(request_from(peer)) is not None


# -- tenants ------------------------------------------------------------------------

MAP = {"slack:T0ACME": "acme", "teams:8f0e": "acme"}


def test_without_a_map_every_tenant_is_the_default():
    settings = Settings()
    assert unmapped_policy(settings, "slack") == unmapped_policy(settings, "teams") == "default"
    assert tenant_of(settings, "slack", "T0ANY") == "default"
    assert tenant_of(settings, "teams", None) == "default"


def test_with_a_map_unmapped_tenants_are_refused_on_both_platforms():
    settings = Settings(tenants=MAP)
    assert tenant_of(settings, "slack", "T0ACME") == "acme"
    assert tenant_of(settings, "teams", "8f0e") == "acme"
    for platform, other in (("slack", "T0OTHER"), ("teams", "0d9b")):
        assert tenant_of(settings, platform, other) is None
        assert tenant_of(settings, platform, "") is None
        assert tenant_of(settings, platform, None) is None
    # The platform is part of the key: a Slack id is no Teams tenant.
    assert tenant_of(settings, "teams", "T0ACME") is None


def test_unmapped_default_is_per_platform():
    settings = Settings(tenants=MAP, slack=SlackSettings(unmapped="default"))
    assert tenant_of(settings, "slack", "T0OTHER") == "default"
    assert tenant_of(settings, "teams", "0d9b") is None
    settings = Settings(tenants=MAP, teams=TeamsSettings(unmapped="default"))
    assert tenant_of(settings, "slack", "T0OTHER") is None
    assert tenant_of(settings, "teams", "0d9b") == "default"


def test_an_explicit_refuse_refuses_even_without_a_map():
    settings = Settings(teams=TeamsSettings(unmapped="refuse"))
    assert tenant_of(settings, "teams", "0d9b") is None
    assert tenant_of(settings, "slack", "T0OTHER") == "default"


def test_the_settings_load_from_toml_and_the_old_teams_spelling_still_works(tmp_path, monkeypatch):
    path = tmp_path / "askloop.toml"
    path.write_text(
        '[tenants]\n"slack:T0ACME" = "acme"\n'
        '[slack]\nunmapped = "default"\n'
        '[teams]\nunmapped_tenant = "refuse"\nallow_unauthenticated = true\n'
    )
    monkeypatch.setenv("ASKLOOP_CONFIG", str(path))
    settings = load_settings()
    assert settings.slack.unmapped == "default"
    assert settings.teams.unmapped == "refuse"
    assert settings.teams.allow_unauthenticated is True
    assert TeamsSettings().allow_unauthenticated is False


def test_unmapped_takes_only_refuse_or_default():
    from askloop.config.settings import SettingsError

    with pytest.raises(SettingsError, match="unmapped"):
        load_settings(slack={"unmapped": "open"})

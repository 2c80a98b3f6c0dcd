"""Tenancy and per-channel rules: from the TOML file to a decision per message."""

from __future__ import annotations

from functools import partial

import pytest

from askloop.config.settings import SettingsError, SlackChannelRule, SlackSettings, load_settings
from askloop.integrations.server.tenancy import tenant_of
from askloop.integrations.slack.rules import Decision, Refusal, Rules, platform_tenant

TOML = """
[tenants]
"slack:T0ACME" = "acme"
"slack:E0ORG" = "org"

[slack.channels."*"]
enabled = false

[slack.channels.C0HELP]
mention_only = true

[slack.channels.C0HR]
users = ["U0ALICE"]
tenant = "hr"
routes = ["retrieve", "rewrite"]

[slack.channels.dm]
routes = ["retrieve", "rewrite"]
"""


@pytest.fixture
def settings(tmp_path, monkeypatch):
    path = tmp_path / "askloop.toml"
    path.write_text(TOML)
    monkeypatch.setenv("ASKLOOP_CONFIG", str(path))
    return load_settings()


@pytest.fixture
def rules(settings):
    return Rules(settings.slack, tenant_for=partial(tenant_of, settings))


def decide(rules, channel, *, user="U0BOB", mentioned=True, direct=False, team="T0ACME"):
    return rules.decide(
        channel=channel, direct=direct, user=user, mentioned=mentioned, platform_tenant=team
    )


def test_rules_load_from_toml(settings):
    assert settings.slack.channels["C0HR"] == SlackChannelRule(
        users=("U0ALICE",), tenant="hr", routes=("retrieve", "rewrite")
    )
    assert settings.slack.rule_for("C0NEW", direct=False).enabled is False
    assert settings.slack.rule_for("D0ALICE", direct=True).routes == ("retrieve", "rewrite")


def test_a_star_rule_that_is_off_makes_the_listed_channels_an_allowlist(rules):
    assert decide(rules, "C0RANDOM") == Refusal("channel_disabled")
    assert decide(rules, "C0HELP") == Decision(tenant="acme", allow_finetuned=True)


def test_mention_only_channels_ignore_follow_ups_without_a_mention(rules):
    assert decide(rules, "C0HELP", mentioned=False) == Refusal("mention_required")


def test_a_user_allowlist_a_tenant_and_routes_per_channel(rules):
    assert decide(rules, "C0HR") == Refusal("user_not_allowed")
    assert decide(rules, "C0HR", user="U0ALICE") == Decision(tenant="hr", allow_finetuned=False)


def test_direct_messages_follow_the_dm_rule(rules):
    got = decide(rules, "D0ALICE", direct=True, mentioned=False)
    assert got == Decision(tenant="acme", allow_finetuned=False)


def test_the_tenant_comes_from_the_team_or_the_org_of_an_org_install(rules):
    assert platform_tenant(team_id="T0ACME", enterprise_id="E0ORG", enterprise_install=False) == (
        "T0ACME"
    )
    assert platform_tenant(team_id="T0ACME", enterprise_id="E0ORG", enterprise_install=True) == (
        "E0ORG"
    )
    assert platform_tenant(team_id=None, enterprise_id="E0ORG", enterprise_install=None) == "E0ORG"
    assert rules.tenant("E0ORG", channel="C0HELP") == "org"
    # [tenants] lists workspaces: one it does not list is refused, whatever the channel.
    assert rules.tenant("T0UNKNOWN", channel="C0HR") is None
    assert rules.tenant(None) is None
    assert decide(rules, "C0HELP", team="T0UNKNOWN") == Refusal("tenant_unmapped")


def test_unmapped_default_answers_unknown_workspaces_from_the_default_tenant(settings):
    opened = settings.model_copy(
        update={"slack": settings.slack.model_copy(update={"unmapped": "default"})}
    )
    rules = Rules(opened.slack, tenant_for=partial(tenant_of, opened))
    assert rules.tenant("T0UNKNOWN") == "default"
    assert rules.tenant("T0UNKNOWN", channel="C0HR") == "hr"  # the channel rule still names it
    assert rules.tenant(None) == "default"


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"routes": ["finetuned"]}, "must keep"),
        ({"routes": ["retrieve", "sideways"]}, "routes"),
        ({"tenant": "no spaces allowed"}, "invalid tenant"),
        ({"mention": True}, "mention"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(rule, problem):
    with pytest.raises(SettingsError, match=problem):
        load_settings(slack={"channels": {"C1": rule}})


def test_suggested_prompts_are_limited_to_what_slack_shows():
    with pytest.raises(SettingsError, match="suggested_prompts"):
        load_settings(slack={"suggested_prompts": ["a", "b", "c", "d", "e"]})
    assert SlackSettings(suggested_prompts=()).suggested_prompts == ()


def test_slack_credentials_and_api_url_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")
    slack = load_settings().slack
    assert slack.bot_token is not None and slack.bot_token.get_secret_value() == "xoxb-1"
    assert slack.app_token is not None and slack.api_url == "http://127.0.0.1:9/api/"

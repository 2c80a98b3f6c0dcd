"""config/slack_manifest.yaml asks for exactly the events and scopes askloop uses."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from askloop.integrations.slack.app import EVENTS

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "config" / "slack_manifest.yaml").read_text())

#: What each subscribed event needs.
EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "assistant_thread_started": "assistant:write",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
    "app_uninstalled": None,
    "tokens_revoked": None,
}
#: What each Web API method askloop calls needs (from Slack's method reference).
METHOD_SCOPES = {
    "auth_test": None,
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_startStream": "chat:write",
    "chat_appendStream": "chat:write",
    "chat_stopStream": "chat:write",
    "views_open": None,
    "assistant_threads_setStatus": "assistant:write",
    "assistant_threads_setTitle": "assistant:write",
    "assistant_threads_setSuggestedPrompts": "assistant:write",
}


def test_it_subscribes_to_exactly_the_events_askloop_listens_to():
    subscribed = MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    assert len(subscribed) == len(set(subscribed))
    assert {e.split(".")[0] for e in subscribed} == set(EVENTS)
    assert set(subscribed) == set(EVENT_SCOPES)


def test_it_asks_for_exactly_the_scopes_its_events_and_calls_need():
    source = (ROOT / "integrations" / "slack" / "webapi.py").read_text()
    called = set(re.findall(r"self\.(?:client|_quick)\.(\w+)", source)) - {"session"}
    assert called == set(METHOD_SCOPES)
    needed = {s for s in (*EVENT_SCOPES.values(), *METHOD_SCOPES.values()) if s}
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == needed


def test_interactivity_and_the_ai_app_view_are_on():
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert "assistant_view" in MANIFEST["features"]
    assert MANIFEST["features"]["app_home"]["messages_tab_enabled"] is True
